// Drives the real driver (driver.lua + runtime.lua) under every native
// interpreter installed here, through DriverConnection over real pipes.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LuaSyntaxError, ProtocolError } from '../src/errors/index.js'
import { BOOTSTRAP_LUA, RUNTIME_LUA } from '../src/lua/sources.generated.js'
import {
  DriverConnection,
  type DriverConnectionExecOptions,
  type DriverHello,
  encodeFrame,
} from '../src/protocol/index.js'

const CANDIDATES = ['lua5.4', 'lua5.3', 'lua5.1', 'luajit'] as const

function onPath(bin: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', bin]).status === 0
}

const FOUND = CANDIDATES.filter(onPath)
const HAS_PRLIMIT = onPath('prlimit')

interface Driver {
  conn: DriverConnection
  child: ChildProcess
  hello: DriverHello
  stderr: () => string
}

const children = new Set<ChildProcess>()

function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  children.clear()
}

async function startDriver(
  bin: string,
  opts: { sandbox?: boolean; grants?: string[]; prefix?: string[] } = {},
): Promise<Driver> {
  const argv = [...(opts.prefix ?? []), bin, '-e', BOOTSTRAP_LUA]
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
  children.add(child)
  let stderr = ''
  const conn = new DriverConnection({ write: (bytes) => child.stdin?.write(bytes) })
  child.stdin?.on('error', () => {}) // EPIPE after the driver exits is reported via 'close'
  child.stdout?.on('data', (chunk: Buffer) => conn.receive(chunk))
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  child.on('close', (code, signal) => conn.close(`driver exited (code ${code}, signal ${signal}); stderr: ${stderr}`))
  child.on('error', (error) => conn.close(error))
  const init: { sandbox?: boolean; grants?: string[] } = {}
  if (opts.sandbox !== undefined) init.sandbox = opts.sandbox
  if (opts.grants !== undefined) init.grants = opts.grants
  const hello = await conn.init(init)
  return { conn, child, hello, stderr: () => stderr }
}

const scratch = mkdtempSync(join(tmpdir(), 'luavm-runtime-test-'))

afterAll(() => {
  killAll()
  rmSync(scratch, { recursive: true, force: true })
})

let gates = 0

/**
 * A gate for "did the host get this output while the chunk was still
 * running?" without timing: `lua` spins until the file exists (or ~4 s
 * passed, so a broken stream fails an assertion instead of hanging) and
 * leaves the local `gated` true when it was let through; the host calls
 * `open()` once it saw what it waits for. Needs a non-sandbox driver.
 */
function gate() {
  const path = join(scratch, `gate-${++gates}`)
  return {
    lua: `local gated local t = os.time() + 4 repeat gated = io.open(${JSON.stringify(path)}) ~= nil until gated or os.time() >= t`,
    open: () => writeFileSync(path, ''),
  }
}

/** Resolves once `read()` includes `text` (the driver's raw stderr arrives on its own pipe). */
async function eventually(read: () => string, text: string): Promise<string> {
  for (let i = 0; i < 200 && !read().includes(text); i++) await new Promise((r) => setTimeout(r, 10))
  return read()
}

it('lua5.4 is installed (the runtime suite must not silently skip it)', () => {
  expect(FOUND).toContain('lua5.4')
})

describe.each(FOUND)('driver + runtime under %s', (bin) => {
  let d: Driver
  const run = (code: string, opts: DriverConnectionExecOptions = {}) => d.conn.exec(code, opts)

  beforeAll(async () => {
    d = await startDriver(bin)
  })

  afterAll(() => {
    d?.child.kill('SIGKILL')
  })

  it('says hello with the interpreter version', () => {
    expect(d.hello.protocol).toBe(1)
    expect(d.hello.sandbox).toBe(true)
    expect(d.hello.hooks).toBe(true)
    if (bin === 'luajit') {
      expect(d.hello.jit).toMatch(/^LuaJIT/)
      expect(d.hello.lua).toBe('Lua 5.1')
    } else {
      expect(d.hello.lua).toBe(`Lua ${bin.slice(3)}`)
      expect(d.hello.jit).toBeNull()
    }
  })

  describe('output', () => {
    it('print and io.write are exact, whitespace and CRLF included', async () => {
      const r = await run('io.write("  lead\\r\\n") print(" a ", "b\\t") io.write("trail  ", 1, " ", 2.5)')
      expect(r.status).toBe('ok')
      expect(r.stdout).toBe('  lead\r\n a \tb\t\ntrail  1 2.5')
      expect(r.stderr).toBe('')
    })

    it('stderr is routed separately', async () => {
      const r = await run('io.stderr:write("e1") io.stdout:write("o1") io.stderr:write("e2")')
      expect(r.stdout).toBe('o1')
      expect(r.stderr).toBe('e1e2')
    })

    it('UTF-8 multibyte text survives, also when split across frames', async () => {
      const chunks: string[] = []
      const r = await run(
        'print("héllo ☃ 𝄞") io.write(string.rep("a", 16382) .. "\\240\\157") io.write("\\132\\158!")',
        {
          onStdout: (c) => chunks.push(c),
        },
      )
      const expected = `héllo ☃ 𝄞\n${'a'.repeat(16382)}𝄞!`
      expect(r.stdout).toBe(expected)
      expect(chunks.join('')).toBe(expected)
      expect(chunks.length).toBeGreaterThan(1)
      expect(r.stdout).not.toContain('\uFFFD')
    })

    it('NUL bytes pass through output and code', async () => {
      const r = await run('local s = "x\0y" io.write("a\\0b", #s, s)')
      expect(r.status).toBe('ok')
      expect(r.stdout).toBe('a\0b3x\0y')
    })

    it('a print flood arrives complete in a few large frames', async () => {
      const chunks: string[] = []
      const r = await run('for i = 1, 20000 do print(i) end', { onStdout: (c) => chunks.push(c) })
      const expected = Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join('')
      expect(r.stdout).toBe(expected)
      expect(chunks.length).toBeLessThan(20)
    })
  })

  describe('values and echo', () => {
    it('return 2+2 gives values [4] and echoes 4', async () => {
      const r = await run('return 2+2')
      expect(r).toMatchObject({ status: 'ok', values: [4], stdout: '4\n', truncated: false, incomplete: false })
    })

    it('echo=false keeps stdout empty', async () => {
      const r = await run('return 2+2', { echo: false })
      expect(r.values).toEqual([4])
      expect(r.stdout).toBe('')
    })

    it('converts several values, nil and nested tables', async () => {
      const r = await run('return 1, "a", nil, true, {1,2,{x=1}}', { echo: false })
      expect(r.values).toEqual([1, 'a', null, true, [1, 2, { x: 1 }]])
    })

    it('echoes like the REPL: tostring of each, tab-separated', async () => {
      const r = await run('return 1, "a", nil, true')
      expect(r.stdout).toBe('1\ta\tnil\ttrue\n')
    })

    it('special numbers, strings with escapes, functions and cycles', async () => {
      const r = await run(
        'local t = {} t.self = t return 1/0, -1/0, 0/0, 0.5, "q\\"\\\\\\n\\1\\127", print, coroutine.create(print), t',
        { echo: false },
      )
      expect(r.values).toEqual([
        'inf',
        '-inf',
        'nan',
        0.5,
        'q"\\\n\u0001\u007f',
        '<function>',
        '<thread>',
        { self: '<cycle>' },
      ])
    })

    it('never calls metamethods while converting values', async () => {
      const r = await run(
        `local boom = function() error("metamethod called") end
         return setmetatable({a = 1}, {__index = boom, __pairs = boom, __tostring = boom, __len = boom})`,
        { echo: false },
      )
      expect(r.status).toBe('ok')
      expect(r.values).toEqual([{ a: 1 }])
    })

    it('deep and huge tables are truncated, not fatal', async () => {
      const r = await run(
        'local t = {} local c = t for i = 1, 100 do c.n = {} c = c.n end local big = {} for i = 1, 20000 do big[i] = i end return t, big',
        { echo: false },
      )
      expect(r.status).toBe('ok')
      expect(JSON.stringify(r.values[0])).toContain('<truncated>')
      const big = r.values[1] as unknown[]
      expect(big.length).toBeLessThanOrEqual(10001)
      expect(big[big.length - 1]).toBe('<truncated>')
    })

    it('big integers become decimal strings (64-bit integer Luas)', async () => {
      const r = await run('return math.maxinteger, math.mininteger, 2^53, 9007199254740993', { echo: false })
      if (d.hello.intBits === 64) {
        expect(r.values).toEqual(['9223372036854775807', '-9223372036854775808', 9007199254740992, '9007199254740993'])
      } else {
        expect(r.values[0]).toBeNull()
        expect(r.values[2]).toBe(9007199254740992)
      }
    })

    it('integral floats arrive as plain JSON numbers', async () => {
      const r = await run('return 1.0, 3', { echo: false })
      expect(r.values).toEqual([1, 3])
    })
  })

  describe('errors', () => {
    it('a syntax error has kind syntax and its line', async () => {
      const r = await run('local a = 1\n\nx = = 1', { chunkName: 'prog.lua' })
      expect(r.status).toBe('error')
      expect(r.error?.kind).toBe('syntax')
      expect(r.error?.line).toBe(3)
      expect(r.error?.message).toMatch(/^prog\.lua:3: /)
      expect(r.values).toEqual([])
    })

    it('a runtime error has kind runtime, line and a traceback without runtime frames', async () => {
      const r = await run('local function f()\n  error("boom")\nend\nf()')
      expect(r.status).toBe('error')
      expect(r.error?.kind).toBe('runtime')
      expect(r.error?.message).toBe('chunk:2: boom')
      expect(r.error?.line).toBe(2)
      expect(r.error?.traceback).toMatch(/^stack traceback:/)
      expect(r.error?.traceback).toContain('chunk:2:')
      expect(r.error?.traceback).toContain('chunk:4: in main chunk')
      expect(r.error?.traceback).not.toContain('luavm-driver')
      expect(r.error?.traceback).not.toContain('xpcall')
    })

    it('a chunk named like the interpreter’s own -e chunk keeps a clean traceback', async () => {
      // The driver starts from `lua -e`, whose frame is also "(command line)".
      const r = await run('local function f() error("boom") end\nf()', { chunkName: '(command line)' })
      expect(r.error?.traceback).toEqual(
        bin === 'luajit'
          ? "stack traceback:\n\t[C]: in function 'error'\n\t(command line):1: in function 'f'\n\t(command line):2: in main chunk"
          : expect.stringMatching(
              /^stack traceback:\n\t\[C\]: in function 'error'\n\t\(command line\):1: in .*'f'\n\t\(command line\):2: in main chunk$/,
            ),
      )
    })

    it('error(table) and a throwing __tostring give lua.c-style messages', async () => {
      const a = await run('error({code = 1})')
      expect(a.error?.message).toBe('(error object is a table value)')
      const b = await run('error(setmetatable({}, {__tostring = function() error("x") end}))')
      expect(b.status).toBe('error')
      expect(b.error?.message).toBe('(error object is a table value)')
      const c = await run('error(setmetatable({}, {__tostring = function() return "custom" end}))')
      expect(c.error?.message).toBe('custom')
      const e = await run('error()')
      expect(e.error?.message).toBe('(error object is a nil value)')
      const n = await run('error(42)')
      // 5.1 and LuaJIT add the position to numbers too (they are "strings" to luaL_where).
      expect(n.error?.message).toMatch(/^(chunk:1: )?42$/)
    })

    it('a chunk error keeps the output printed before it', async () => {
      const r = await run('print("before") error("after", 0)')
      expect(r.stdout).toBe('before\n')
      expect(r.error?.message).toBe('after')
      expect(r.error?.line).toBeUndefined()
    })

    it('stack overflow is an ordinary error and the driver survives', async () => {
      const r = await run('local function f() return 1 + f() end return f()')
      expect(r.status).toBe('error')
      expect(r.error?.message).toMatch(/stack overflow/)
      expect((await run('return 1', { echo: false })).values).toEqual([1])
    })
  })

  describe('state', () => {
    it('persists across execs', async () => {
      await run('counter = 41')
      expect((await run('return counter + 1', { echo: false })).values).toEqual([42])
    })

    it('reset clears user state', async () => {
      await run('gone = 1')
      await d.conn.reset()
      expect((await run('return gone', { echo: false })).values).toEqual([null])
      expect((await run('return type(print)', { echo: false })).values).toEqual(['function'])
    })
  })

  describe('repl mode', () => {
    it('expressions echo their value', async () => {
      const r = await run('1 + 1', { repl: true })
      expect(r.stdout).toBe('2\n')
      expect(r.values).toEqual([2])
    })

    it('= expr is return expr', async () => {
      await run('rx = "hi"', { repl: true })
      expect((await run('= rx', { repl: true })).stdout).toBe('hi\n')
    })

    it('statements run as statements', async () => {
      const r = await run('local a = 5 print(a * 2)', { repl: true })
      expect(r.stdout).toBe('10\n')
      expect(r.status).toBe('ok')
    })

    it('an unfinished chunk is incomplete, runs nothing, and the full buffer then runs', async () => {
      const a = await run('function f()', { repl: true })
      expect(a).toMatchObject({ status: 'ok', incomplete: true, stdout: '' })
      expect(a.error).toBeUndefined()
      const b = await run('function f()\n  return 7\nend', { repl: true })
      expect(b).toMatchObject({ status: 'ok', incomplete: false })
      expect((await run('f()', { repl: true })).stdout).toBe('7\n')
    })

    it('a real syntax error is still an error', async () => {
      const r = await run('x = = 1', { repl: true })
      expect(r.status).toBe('error')
      expect(r.incomplete).toBe(false)
    })

    it('an error raised by an expression keeps its position (no tail call, also on LuaJIT)', async () => {
      for (const code of ['error("boom")', '= error("boom")']) {
        const r = await run(code, { repl: true })
        expect(r.error).toMatchObject({ message: 'chunk:1: boom', line: 1, kind: 'runtime' })
        expect(r.error?.traceback).toContain('chunk:1: in main chunk')
      }
    })

    it('expressions keep every value, trailing comments, `...` and a trailing semicolon', async () => {
      expect((await run('1, nil, 3 -- three', { repl: true })).values).toEqual([1, null, 3])
      expect((await run('= select("#", ...)', { repl: true })).values).toEqual([0])
      expect((await run('"..."', { repl: true })).values).toEqual(['...'])
      expect((await run('1;', { repl: true })).values).toEqual([1])
      expect((await run('(function() return 1, 2 end)()', { repl: true })).values).toEqual([1, 2])
    })
  })

  describe('deadline', () => {
    const loops: Array<[string, string]> = [
      ['a plain loop', 'while true do end'],
      ['a pcall loop', 'while true do pcall(function() while true do end end) end'],
      ['a loop inside coroutine.wrap', 'coroutine.wrap(function() while true do end end)()'],
      [
        'a loop in a resumed coroutine',
        'local co = coroutine.create(function() while true do end end) while true do coroutine.resume(co) end',
      ],
      ['a loop in an xpcall message handler', 'xpcall(function() error("x") end, function() while true do end end)'],
      ['an xpcall loop', 'while true do xpcall(function() while true do end end, function(e) return e end) end'],
      [
        'a loop in a __tostring used by print',
        'print(setmetatable({}, {__tostring = function() while true do end end}))',
      ],
      ['a loop in __index', 'local t = setmetatable({}, {__index = function() while true do end end}) return t.x'],
      [
        'a loop in an error object __tostring',
        'error(setmetatable({}, {__tostring = function() while true do end end}))',
      ],
      ['a C reader function passed to load', 'load(os.date)'],
    ]

    it.each(loops)('stops %s with status timeout and the next exec works', async (_, code) => {
      await run('kept = "still here"')
      const r = await run(code, { timeoutMs: 100 })
      expect(r.status).toBe('timeout')
      expect(r.values).toEqual([])
      const next = await run('return kept', { echo: false })
      expect(next.status).toBe('ok')
      expect(next.values).toEqual(['still here'])
    })

    it('a single long C call that ends past the deadline is still a timeout', async () => {
      // No instruction runs inside string.find, so no hook can fire; the check
      // after the chunk returns must catch it. The pattern takes far longer
      // than 1 ms of CPU on every interpreter.
      const r = await run('return string.find(("a"):rep(160), ".-.-.-b")', { timeoutMs: 1 })
      expect(r.status).toBe('timeout')
      expect(r.values).toEqual([])
      expect((await run('return 1', { echo: false })).values).toEqual([1])
    })

    it('coroutines outlive the exec that created them, with or without deadlines', async () => {
      await run('gen = coroutine.wrap(function() local i = 0 while true do i = i + 1 coroutine.yield(i) end end)', {
        timeoutMs: 5000,
      })
      expect((await run('return gen(), gen()', { echo: false })).values).toEqual([1, 2])
      await run('spin = coroutine.create(function() coroutine.yield() while true do end end) coroutine.resume(spin)')
      expect((await run('coroutine.resume(spin)', { timeoutMs: 100 })).status).toBe('timeout')
      expect((await run('return gen()', { echo: false, timeoutMs: 5000 })).values).toEqual([3])
    })

    it('a chunk that finishes in time is unaffected by the deadline', async () => {
      const r = await run('local s = 0 for i = 1, 1000 do s = s + i end return s', { timeoutMs: 10_000 })
      expect(r).toMatchObject({ status: 'ok', values: [500500] })
    })

    it('echoing a returned value runs its __tostring under the deadline', async () => {
      // The hook comes off before the result is encoded, but only after the echo.
      const r = await run('return setmetatable({}, {__tostring = function() while true do end end})', {
        timeoutMs: 100,
      })
      expect(r.status).toBe('timeout')
      expect((await run('return 1', { echo: false })).values).toEqual([1])
    })

    it('a hook the chunk sets (debug grant) ends with the chunk, with or without a deadline', async () => {
      const g = await startDriver(bin, { grants: ['debug'] })
      try {
        for (const timeoutMs of [5000, 0]) {
          const set = await g.conn.exec('hits = 0 debug.sethook(function() hits = hits + 1 end, "l")', { timeoutMs })
          expect(set.status).toBe('ok')
          // Hook-free (no deadline hook to replace it): a surviving hook would count these lines.
          const r = await g.conn.exec('local before = hits\nlocal x = 1\nlocal y = 2\nreturn hits - before', {
            timeoutMs: 0,
            echo: false,
          })
          expect(r.values, `after a chunk run with timeoutMs ${timeoutMs}`).toEqual([0])
        }
      } finally {
        g.child.kill('SIGKILL')
      }
    })
  })

  describe('output cap', () => {
    it('cuts output to the byte and reports output-limit', async () => {
      const r = await run('print("abc") io.write("defgh") print("never")', { maxOutputBytes: 6 })
      expect(r.status).toBe('output-limit')
      expect(r.truncated).toBe(true)
      expect(r.stdout).toBe('abc\nde')
    })

    it('counts stdout and stderr together', async () => {
      const r = await run('io.stderr:write("12345") io.write("67890")', { maxOutputBytes: 7 })
      expect(r.stderr).toBe('12345')
      expect(r.stdout).toBe('67')
      expect(r.truncated).toBe(true)
    })

    it('cannot be swallowed by a pcall-wrapped print loop', async () => {
      const r = await run('while true do pcall(print, "spam") end', { maxOutputBytes: 1000 })
      expect(r.status).toBe('output-limit')
      expect(new TextEncoder().encode(r.stdout).length).toBe(1000)
      expect((await run('return 1', { echo: false })).status).toBe('ok')
    })

    it('output exactly at the cap is not truncated', async () => {
      const r = await run('io.write("12345")', { maxOutputBytes: 5 })
      expect(r).toMatchObject({ status: 'ok', truncated: false, stdout: '12345' })
    })
  })

  describe('sandbox', () => {
    it('removed functions are absent', async () => {
      const names = [
        'os.execute',
        'os.exit',
        'os.getenv',
        'os.remove',
        'os.rename',
        'os.tmpname',
        'io.open',
        'io.popen',
        'io.read',
        'io.lines',
        'io.input',
        'debug',
        'package',
        'dofile',
        'loadfile',
        'string.dump',
        'newproxy',
        'jit',
        'module',
      ]
      const r = await run(`return ${names.map((n) => `type(${n})`).join(', ')}`, { echo: false })
      expect(r.values).toEqual(names.map(() => 'nil'))
    })

    it('what stays is usable', async () => {
      const r = await run(
        'return type(os.time()), type(os.clock()), os.date("%Y") ~= nil, math.floor(2.5), table.concat({1,2}, ","), ("x"):rep(2)',
        { echo: false },
      )
      expect(r.values).toEqual(['number', 'number', true, 2, '1,2', 'xx'])
    })

    it('load is text-only', async () => {
      const r = await run('local f, err = load("\\27Lua\\84\\0") return f == nil, err', { echo: false })
      expect(r.values[0]).toBe(true)
      expect(String(r.values[1])).toMatch(/binary/)
      const ok = await run('return load("return 1 + ...")(41)', { echo: false })
      expect(ok.values).toEqual([42])
      const reader = await run(
        'local parts = {"\\27", "Lua"} local i = 0 return load(function() i = i + 1 return parts[i] end)',
        { echo: false },
      )
      expect(reader.values[0]).toBeNull()
    })

    it('load sees the sandbox env', async () => {
      const r = await run('sandboxed_global = 3 return load("return sandboxed_global, os.execute")()', { echo: false })
      expect(r.values).toEqual([3, null])
    })

    it('string.dump is nil, also through string values', async () => {
      const r = await run('return string.dump, ("").dump', { echo: false })
      expect(r.values).toEqual([null, null])
    })

    it('the string metatable is locked', async () => {
      const r = await run('getmetatable("").__index = {upper = function() return "pwned" end}')
      expect(r.status).toBe('error')
      const next = await run('return ("x"):upper(), getmetatable("").__index', { echo: false })
      expect(next.values).toEqual(['X', null])
    })

    it('tampering with the string table does not break string methods', async () => {
      const r = await run(
        'string.upper = nil string.rep = function() return "evil" end return ("x"):upper(), ("y"):rep(2)',
        { echo: false },
      )
      expect(r.values).toEqual(['X', 'yy'])
    })

    it('collectgarbage accepts only "count"', async () => {
      const stop = await run('collectgarbage("stop")')
      expect(stop.status).toBe('error')
      expect(stop.error?.message).toMatch(/only "count"/)
      const count = await run('return type(collectgarbage("count"))', { echo: false })
      expect(count.values).toEqual(['number'])
    })

    it('require only sees mounted modules (and the sandbox env’s own libraries)', async () => {
      const libs = await run('return require("os") == os, require("os").execute, require("string") == string', {
        echo: false,
      })
      expect(libs.values).toEqual([true, null, true])
      const r = await run('require("lfs")')
      expect(r.status).toBe('error')
      expect(r.error?.message).toContain("module 'lfs' not found (only modules mounted by the host can be required)")
    })

    it('__gc finalizers are refused', async () => {
      const r = await run('setmetatable({}, {__gc = function() end})')
      expect(r.status).toBe('error')
      expect(r.error?.message).toMatch(/__gc/)
    })

    it('user code cannot read the frame channel or write raw frames', async () => {
      const r = await run('io.write("D 2\\n{}") print("1 5") return io.read, io.stdin', { echo: false })
      expect(r.status).toBe('ok')
      expect(r.stdout).toBe('D 2\n{}1 5\n')
      expect(r.values).toEqual([null, null])
    })

    it('mounted modules can be required and survive reset', async () => {
      await d.conn.mount('greet.util', 'local M = {} function M.hi(n) return "hi " .. n end return M')
      expect((await run('return require("greet.util").hi("you")', { echo: false })).values).toEqual(['hi you'])
      expect((await run('return require("greet.util") == require("greet.util")', { echo: false })).values).toEqual([
        true,
      ])
      await d.conn.reset()
      expect((await run('return require("greet.util").hi("again")', { echo: false })).values).toEqual(['hi again'])
    })

    it('mounting a module that does not compile rejects with LuaSyntaxError', async () => {
      await expect(d.conn.mount('broken', 'return = 1')).rejects.toBeInstanceOf(LuaSyntaxError)
      expect((await run('return 1', { echo: false })).status).toBe('ok')
    })
  })

  describe('grants', () => {
    let g: Driver
    beforeAll(async () => {
      g = await startDriver(bin, { grants: ['os', 'io', 'string.dump', 'load.binary', 'collectgarbage', 'require'] })
    })
    afterAll(() => {
      g?.child.kill('SIGKILL')
    })

    it('re-enable exactly what was granted', async () => {
      const r = await g.conn.exec(
        'return type(os.getenv), type(io.open), type(string.dump), type(debug), type(package), type(dofile)',
        { echo: false },
      )
      expect(r.values).toEqual(['function', 'function', 'function', 'nil', 'nil', 'nil'])
    })

    it('load.binary lets a dumped function round-trip', async () => {
      const r = await g.conn.exec('return load(string.dump(function() return 6 * 7 end))()', { echo: false })
      expect(r.values).toEqual([42])
    })

    it('a granted io still routes output and keeps stdin out of reach', async () => {
      const r = await g.conn.exec('io.write("w") io.stdout:write("s") print("p") return io.read()', { echo: false })
      expect(r.stdout).toBe('wsp\n')
      expect(r.values).toEqual([null])
    })

    it('a granted require falls back to the real one', async () => {
      const r = await g.conn.exec('return type(require("string").format)', { echo: false })
      expect(r.values).toEqual(['function'])
    })
  })

  describe('non-sandbox mode', () => {
    let full: Driver
    beforeAll(async () => {
      full = await startDriver(bin, { sandbox: false })
    })
    afterAll(() => {
      full?.child.kill('SIGKILL')
    })

    it('has the full stdlib', async () => {
      const r = await full.conn.exec('return type(os.getenv), type(io.open), type(debug.traceback)', { echo: false })
      expect(r.values).toEqual(['function', 'function', 'function'])
    })

    it('io.read returns nil: the frame channel is out of reach', async () => {
      const r = await full.conn.exec('return io.read(), io.read("a"), io.stdin:read("l"), io.input():read()', {
        echo: false,
      })
      expect(r.values).toEqual([null, '', null, null])
      expect((await full.conn.exec('return 1', { echo: false })).values).toEqual([1])
    })

    it('print, io.write, io.stdout, io.output() and io.stderr are captured', async () => {
      const r = await full.conn.exec(
        'print("p") io.write("w") io.stdout:write("x") io.output():write("o") io.stderr:write("e") io.stdout:flush()',
      )
      expect(r.status).toBe('ok')
      expect(r.stdout).toBe('p\nwxo')
      expect(r.stderr).toBe('e')
    })

    it('mounts go through package.preload and reset restores the globals', async () => {
      await full.conn.mount('m1', 'return {v = 1}')
      expect((await full.conn.exec('return require("m1").v', { echo: false })).values).toEqual([1])
      await full.conn.exec('extra_global = 1 print = nil')
      await full.conn.reset()
      const r = await full.conn.exec('print("back") return extra_global, require("m1").v', { echo: false })
      expect(r.stdout).toBe('back\n')
      expect(r.values).toEqual([null, 1])
    })

    it('the deadline still applies', async () => {
      const r = await full.conn.exec('while true do pcall(function() while true do end end) end', { timeoutMs: 100 })
      expect(r.status).toBe('timeout')
      expect((await full.conn.exec('return 2', { echo: false })).values).toEqual([2])
    })
  })

  describe('streaming and flush', () => {
    const frames = async (code: string, opts: DriverConnectionExecOptions = {}) => {
      const out: string[] = []
      const err: string[] = []
      const r = await run(code, { ...opts, onStdout: (c) => out.push(c), onStderr: (c) => err.push(c) })
      return { r, out, err }
    }

    it('the first output of an exec goes out at once, the rest in one batch', async () => {
      const { r, out } = await frames('io.write("a") io.write("b") io.write("c")')
      expect(r.stdout).toBe('abc')
      expect(out).toEqual(['a', 'bc'])
    })

    it('io.stdout:flush(), io.flush() and io.stderr:flush() push the buffer', async () => {
      const a = await frames(
        'io.write("a") io.write("b") io.stdout:flush() io.write("c") io.write("d") io.flush() io.write("e")',
      )
      expect(a.out).toEqual(['a', 'b', 'cd', 'e'])
      const b = await frames('io.write("a") io.stderr:write("x") io.stderr:flush() io.stderr:write("y")')
      expect(b.out).toEqual(['a'])
      expect(b.err).toEqual(['x', 'y'])
      expect((await run('return io.flush(), io.stdout:flush() == io.stdout', { echo: false })).values).toEqual([
        true,
        true,
      ])
    })

    it('setvbuf("no") pushes every write, setvbuf("line") every line', async () => {
      const no = await frames(
        'io.stdout:setvbuf("no") io.write("a") io.write("b") print("c") io.stdout:setvbuf("full")',
      )
      expect(no.out).toEqual(['a', 'b', 'c\n'])
      const line = await frames(
        'io.stdout:setvbuf("line") io.write("a") io.write("b\\n") io.write("c") io.write("d") io.stdout:setvbuf("full")',
      )
      expect(line.out).toEqual(['a', 'b\n', 'cd'])
      const bad = await run('io.stdout:setvbuf("sometimes")')
      expect(bad.error?.message).toMatch(/invalid option 'sometimes'/)
    })

    it('a print flood still costs one frame per 16 KiB, with or without a deadline', async () => {
      for (const timeoutMs of [undefined, 60_000]) {
        const { r, out } = await frames('for i = 1, 100000 do print("123456789") end', timeoutMs ? { timeoutMs } : {})
        expect(r.stdout.length).toBe(1_000_000)
        expect(out.length).toBeLessThan(70)
      }
    })

    describe('non-sandbox', () => {
      let full: Driver
      beforeAll(async () => {
        full = await startDriver(bin, { sandbox: false })
      })
      afterAll(() => {
        full?.child.kill('SIGKILL')
      })

      // Runs `code` (which ends with the gate and `return gated`) and opens
      // the gate once the host has seen `seen` on stdout.
      const gated = async (code: (gateLua: string) => string, seen: string, opts: DriverConnectionExecOptions = {}) => {
        const g = gate()
        let text = ''
        const r = await full.conn.exec(`${code(g.lua)} return gated`, {
          ...opts,
          echo: false,
          onStdout: (c) => {
            text += c
            if (text === seen) g.open()
          },
        })
        expect(r.status).toBe('ok')
        return r
      }

      it('io.stdout:flush() makes the bytes leave the process while the chunk runs', async () => {
        const r = await gated((g) => `io.write("a") io.write("b") io.stdout:flush() ${g} io.write("c")`, 'ab')
        expect(r.values).toEqual([true])
        expect(r.stdout).toBe('abc')
      })

      it('the count hook pushes the output of a chunk that goes on computing', async () => {
        const r = await gated((g) => `io.write("a") io.write("b") ${g}`, 'ab', { timeoutMs: 60_000 })
        expect(r.values).toEqual([true])
      })

      it('io.read from a handle (a pipe may block) and os.execute push the output first', async () => {
        const fromPipe = (g: string) => `io.input(io.popen("echo hi")) io.write("a") io.write("b") io.read() ${g}`
        expect((await gated(fromPipe, 'ab')).values).toEqual([true])
        expect((await gated((g) => `io.write("a") io.write("b") os.execute("true") ${g}`, 'ab')).values).toEqual([true])
      })

      it('io.read from the stdin stand-in or a file opened by name does not push (it cannot block)', async () => {
        const file = join(scratch, 'input.txt')
        writeFileSync(file, 'line\n')
        // The driver's clock is wall time: on a busy machine 25 ms may pass
        // between two writes and push "b" on time alone. A push by io.read
        // would happen every time, so one clean run of three proves there is none.
        const runs: string[][] = []
        for (let i = 0; i < 3 && !runs.some((o) => o.join('|') === 'a|bc'); i++) {
          const out: string[] = []
          const r = await full.conn.exec(
            `io.input(io.stdin) io.write("a") io.write("b") io.read() io.input(${JSON.stringify(file)}) io.read() io.write("c")`,
            { onStdout: (c) => out.push(c) },
          )
          expect(r.status).toBe('ok')
          expect(out.join('')).toBe('abc')
          runs.push(out)
        }
        expect(runs.map((o) => o.join('|'))).toContain('a|bc')
      })

      it('os.exit sends what was buffered before the process ends', async () => {
        const x = await startDriver(bin, { sandbox: false })
        const exited = new Promise<number | null>((resolve) => x.child.on('exit', (code) => resolve(code)))
        const out: string[] = []
        const err: string[] = []
        const pending = x.conn.exec('print("bye") io.write("z") io.stderr:write("e") os.exit(0)', {
          onStdout: (c) => out.push(c),
          onStderr: (c) => err.push(c),
        })
        await expect(pending).rejects.toBeInstanceOf(ProtocolError)
        expect(await exited).toBe(0)
        expect(out.join('')).toBe('bye\nz')
        expect(err.join('')).toBe('e')
      })
    })

    describe.each([
      ['non-sandbox', { sandbox: false }],
      ['a sandbox granted os and io', { grants: ['os', 'io'] }],
    ])('child processes in %s', (_, opts) => {
      it('write their stdout to stderr, before and after a reset; the protocol survives', async () => {
        const x = await startDriver(bin, opts)
        const a = await x.conn.exec('os.execute("echo x")')
        expect(a).toMatchObject({ status: 'ok', stdout: '', stderr: '' })
        await x.conn.reset()
        const b = await x.conn.exec(
          'os.execute("echo y") local p = io.popen("cat", "w") p:write("z\\n") p:close() return io.popen("echo r"):read("*a")',
          { echo: false },
        )
        // A read-mode popen keeps its pipe.
        expect(b).toMatchObject({ status: 'ok', stdout: '', values: ['r\n'] })
        expect((await x.conn.exec('return 1', { echo: false })).values).toEqual([1])
        expect(await eventually(x.stderr, 'x\ny\nz\n')).toBe('x\ny\nz\n')
        x.child.kill('SIGKILL')
      })
    })
  })

  describe('protocol failures', () => {
    afterEach(killAll)

    it('an unknown grant fails init', async () => {
      await expect(startDriver(bin, { grants: ['nope'] })).rejects.toThrow(/unknown grant 'nope'/)
    })

    it('a protocol violation makes the driver report E and every request reject', async () => {
      const x = await startDriver(bin)
      x.child.stdin?.write(encodeFrame('Z', ''))
      const pending = x.conn.exec('return 1')
      const queued = x.conn.exec('return 2')
      await expect(pending).rejects.toBeInstanceOf(ProtocolError)
      await expect(queued).rejects.toThrow(/unknown frame type 'Z'/)
      expect(x.conn.dead).toBe(true)
      await expect(x.conn.exec('return 3')).rejects.toBeInstanceOf(ProtocolError)
    })

    it('a driver killed mid-exec rejects the exec with ProtocolError', async () => {
      const x = await startDriver(bin)
      const pending = x.conn.exec('while true do end')
      setTimeout(() => x.child.kill('SIGKILL'), 50)
      await expect(pending).rejects.toBeInstanceOf(ProtocolError)
      await expect(x.conn.reset()).rejects.toBeInstanceOf(ProtocolError)
    })

    it('quit ends the driver cleanly', async () => {
      const x = await startDriver(bin)
      const exited = new Promise<number | null>((resolve) => x.child.on('exit', (code) => resolve(code)))
      await x.conn.quit()
      expect(await exited).toBe(0)
      expect(x.conn.dead).toBe(true)
    })

    it('serializes concurrent requests in order', async () => {
      const x = await startDriver(bin)
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => x.conn.exec(`io.write(${i}) return ${i}`, { echo: false })),
      )
      expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)))
      expect(results.map((r) => r.values[0])).toEqual(Array.from({ length: 20 }, (_, i) => i))
    })
  })
})

// The module itself, the way in-process hosts (wasmoon, fengari) use it:
// emit and flush are host callbacks, here Lua functions that record calls.
describe.each(FOUND)('runtime module options (%s)', (bin) => {
  const script = (body: string) => {
    const file = join(scratch, `runtime-${bin}.lua`)
    writeFileSync(file, RUNTIME_LUA)
    const lua = `
      local M = assert(loadfile(${JSON.stringify(file)}))()
      local RO, calls = io.stdout, {}
      -- Unbuffered, so lines keep their order with a child's output.
      local function P(s) RO:write(tostring(s), "\\n") RO:flush() end
      local function opts(extra)
        local o = { emit = function(s, b) calls[#calls + 1] = s .. ":" .. b end,
                    flush = function() calls[#calls + 1] = "F" end }
        for k, v in pairs(extra or {}) do o[k] = v end
        return o
      end
      local function log() local s = table.concat(calls, "|") calls = {} return s end
      ${body}`
    const r = spawnSync(bin, ['-'], { input: lua, encoding: 'utf8' })
    expect(r.stderr).toBe('')
    return r.stdout.split('\n').slice(0, -1)
  }

  it('calls flush() after each push, not after the end-of-exec batch, and only when something was emitted', () => {
    const lines = script(`
      local vm = M.new(opts())
      vm:exec('io.write("a") io.write("b") io.stdout:flush() io.stdout:flush() io.write("c")')
      P(log())
      vm:exec('io.flush()')
      P(log())
      vm:exec('io.flush()')
      P(log())`)
    // The second exec's flush() carries the first exec's final batch out.
    expect(lines).toEqual(['1:a|F|1:b|F|1:c', 'F', ''])
  })

  it('works without flush(), rejects an unknown child_stdout, and leaves commands alone by default', () => {
    const lines = script(`
      local vm = M.new({ emit = function(s, b) calls[#calls + 1] = b end })
      vm:exec('io.write("a") io.stdout:flush() io.write("b")')
      P(log())
      P(select(2, pcall(M.new, opts({ child_stdout = "stdout" }))))
      local full = M.new(opts({ sandbox = false }))
      full:exec('os.execute("echo inherited")')`)
    expect(lines).toEqual(['a|b', expect.stringMatching(/child_stdout must be "inherit" or "stderr"/), 'inherited'])
  })
})

describe.each(FOUND)('memory limit (%s under prlimit)', (bin) => {
  afterAll(killAll)

  it('prlimit is installed', () => {
    expect(HAS_PRLIMIT).toBe(true)
  })

  it('an allocation past the address-space limit gives status memory and the driver keeps answering', async () => {
    const x = await startDriver(bin, { prefix: ['prlimit', `--as=${64 * 1024 * 1024}`] })
    const r = await x.conn.exec('local s = string.rep("x", 2^28) return #s')
    expect(r.status).toBe('memory')
    // 5.3's buffer code reports "...: not enough memory for buffer allocation".
    expect(r.error?.message).toMatch(/not enough memory/)
    const t = await x.conn.exec('local t = {} for i = 1, 1e8 do t[i] = i end')
    expect(t.status).toBe('memory')
    const next = await x.conn.exec('return 1 + 1', { echo: false })
    expect(next).toMatchObject({ status: 'ok', values: [2] })
  })
})
