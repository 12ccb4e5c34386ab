import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BaseLuaVM, ExecResult } from '@bioxen-luavm/core'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { guardHost, HOSTILE_KINDS, type HostileKind, startVM } from './support/host-guard.js'

// Grants give exactly what they say (issue 13, point 5): every grant the
// runtime accepts, on every kind that runs the sandbox (wasm and fengari in
// both isolations, process with `sandbox: true`).
const KINDS = HOSTILE_KINDS.filter((k) => k.type !== 'process' || 'sandbox' in k.config)

/** Every grant runtime.lua's KNOWN_GRANTS accepts, with the probe keys it (and only it) may change. */
const GRANTS: Record<string, string[]> = {
  io: ['io_open', 'io_popen', 'io_lines', 'io_output', 'io_input'],
  os: ['os_execute', 'os_getenv', 'os_remove', 'os_exit', 'require_os_execute'],
  debug: ['debug', 'require_debug'],
  package: ['package', 'require_package', 'loadlib'],
  require: ['require_path'],
  'string.dump': ['dump'],
  collectgarbage: ['gc_stop'],
  dofile: ['dofile'],
  loadfile: ['loadfile'],
  'load.binary': ['binary'],
}

// What the code can reach, as booleans (and one message class). Nothing in
// it depends on addresses or timing, so two VMs with the same grants agree.
const PROBE = `
local function fn(v) return type(v) == "function" end
local ok_dbg = pcall(require, "debug")
local ok_pkg = pcall(require, "package")
local _, req_err = pcall(require, "luavm_no_such_module")
local gc_ok = pcall(collectgarbage, "stop")
if gc_ok then collectgarbage("restart") end
local _, bin_err = load("\\27Lua\\84\\0")
return {
  io_open = fn(io.open), io_popen = fn(io.popen), io_lines = fn(io.lines),
  io_output = fn(io.output), io_input = fn(io.input),
  os_execute = fn(os.execute), os_getenv = fn(os.getenv), os_remove = fn(os.remove), os_exit = fn(os.exit),
  require_os_execute = fn(require("os").execute),
  debug = type(debug) == "table", require_debug = ok_dbg,
  package = type(package) == "table", require_package = ok_pkg,
  loadlib = type(package) == "table" and fn(package.loadlib),
  require_path = tostring(req_err):find("package.path", 1, true) ~= nil,
  dump = fn(string.dump) or fn(("").dump),
  gc_stop = gc_ok,
  dofile = fn(dofile), loadfile = fn(loadfile),
  binary = not tostring(bin_err):find("binary chunk", 1, true),
  -- Never, whatever is granted: the string library seen through strings has no dump.
  string_mt_dump = fn(("").dump),
}
`

type Probe = Record<string, boolean>

function brief(r: ExecResult): string {
  return JSON.stringify({ status: r.status, stdout: r.stdout.slice(0, 200), values: r.values, error: r.error })
}

describe.each(KINDS)('grants ($name)', (kind: HostileKind) => {
  const vms: BaseLuaVM[] = []
  const start = async (extra: Record<string, unknown>): Promise<BaseLuaVM> => {
    const vm = await startVM(kind, { sandbox: true, ...extra })
    vms.push(vm)
    return vm
  }
  afterEach(async () => {
    await Promise.all(vms.splice(0).map((vm) => vm.stop()))
  })

  const probe = async (grants: string[]): Promise<Probe> => {
    const vm = await start({ grants })
    const r = await vm.execute(PROBE, { echoReturnValues: false })
    expect(r.status, brief(r)).toBe('ok')
    return r.values[0] as Probe
  }

  it('with no grant, nothing of any grant is reachable', async () => {
    const none = await probe([])
    for (const [key, value] of Object.entries(none)) expect(value, key).toBe(false)
  })

  it.each(Object.keys(GRANTS))('grant %s changes only what it owns', async (grant) => {
    const none = await probe([])
    const granted = await probe([grant])
    const owned = new Set(GRANTS[grant])
    for (const key of Object.keys(none)) {
      if (!owned.has(key)) expect(granted[key], `${grant} must not give ${key}`).toBe(none[key])
    }
    // Where the engine has the capability at all, the grant gives it.
    const main: Record<string, string> = {
      debug: 'debug',
      package: 'package',
      'string.dump': 'dump',
      collectgarbage: 'gc_stop',
      'load.binary': 'binary',
      require: 'require_path',
    }
    const key = main[grant]
    // fengari: no package.path to search, and collectgarbage("stop") is not implemented.
    const missing = kind.type === 'fengari' && (grant === 'require' || grant === 'collectgarbage')
    if (key && !missing) expect(granted[key], key).toBe(true)
  })

  it("require never hands out the interpreter's os, io, debug, package or string.dump", async () => {
    const vm = await start({ grants: ['require'] })
    const r = await vm.execute(
      `return require("os") == os, require("os").execute, require("io") == io, require("io").open,
        pcall(require, "debug"), pcall(require, "package"), require("string").dump, package,
        require("_G") == _G`,
      { echoReturnValues: false },
    )
    expect(r.status, brief(r)).toBe('ok')
    expect(r.values).toEqual([true, null, true, null, false, false, null, null, true])
  })

  it("the package grant's package.loaded is the VM's own: no real os through it", async () => {
    const vm = await start({ grants: ['package'] })
    const r = await vm.execute(
      'return package.loaded.os == os, package.loaded.os.execute, package.searchers, package.loaded._G == _G',
      { echoReturnValues: false },
    )
    expect(r.status, brief(r)).toBe('ok')
    expect(r.values).toEqual([true, null, null, true])
  })

  it('output through every granted io path goes through the capture and its cap', async () => {
    // fengari has no io library to grant (its io is the host's file system): the stand-ins only.
    if (kind.type === 'fengari') return
    const vm = await start({ grants: ['io'] })
    const r = await vm.execute(
      'io.write("a") io.stdout:write("b") io.output():write("c") io.stderr:write("d") print("e") io.write(string.rep("x", 100))',
      { maxOutputBytes: 20 },
    )
    expect(r.status, brief(r)).toBe('output-limit')
    expect(r.stdout + r.stderr).toHaveLength(20)
    expect(r.stdout.startsWith('abce\n')).toBe(true)
    expect(r.stderr).toBe('d')
  })

  it("the io grant cannot open the process's standard streams by any name", async () => {
    const vm = await start({ grants: ['io'] })
    const names = [
      '/dev/stdout',
      '/dev/stderr',
      '/dev/stdin',
      '/dev/fd/1',
      '/dev//./stdout',
      '/dev/../dev/stdout',
      '/proc/self/fd/1',
      '/proc/thread-self/fd/0',
      '/dev/tty',
    ]
    const r = await vm.execute(
      `local out = {}
       for _, n in ipairs(${JSON.stringify(names).replace('[', '{').replace(/]$/, '}')}) do
         out[#out + 1] = io.open(n, "w") == nil and io.open(n, "r") == nil
         out[#out + 1] = not pcall(io.output, n)
         out[#out + 1] = not pcall(io.lines, n)
       end
       io.output(io.stdout)
       return out`,
      { echoReturnValues: false },
    )
    if (kind.type === 'fengari') {
      // fengari has no io library to grant: the stand-ins only.
      expect(r.status).toBe('error')
      return
    }
    expect(r.status, brief(r)).toBe('ok')
    expect(r.values[0]).toEqual(names.flatMap(() => [true, true, true]))
    expect(r.stdout).toBe('')
  })

  if (kind.type === 'wasm') {
    it("the memory cap covers the io grant's in-memory files: a 1 GB file under 32 MB ends in memory", async () => {
      const vm = await start({ grants: ['io'], memoryLimitBytes: 32 * 1024 * 1024 })
      const guard = guardHost()
      const r = await vm.execute(
        'local s = string.rep("x", 1 << 20) local f = io.open("/tmp/big", "w") for i = 1, 1024 do f:write(s) end f:close()',
        { timeoutMs: 20_000 },
      )
      const host = guard.stop()
      expect(r.status, brief(r)).toBe('memory')
      expect(host.rssGrowthBytes).toBeLessThan(256 * 1024 * 1024)
      // Several files, unflushed writes, rewrites: the total still counts.
      const many = await vm.execute(
        'local s = string.rep("y", 1 << 20) for i = 1, 64 do local f = io.open("/tmp/f" .. i, "w") f:write(s) f:close() end',
        { timeoutMs: 20_000 },
      )
      expect(many.status, brief(many)).toBe('memory')
      // A file rewritten in place does not add up.
      const rewrite = await (await start({ grants: ['io'], memoryLimitBytes: 32 * 1024 * 1024 })).execute(
        'local s = string.rep("z", 1 << 20) for i = 1, 64 do local f = io.open("/tmp/same", "w") f:write(s) f:close() end return #io.open("/tmp/same"):read("a")',
        { timeoutMs: 20_000, echoReturnValues: false },
      )
      expect(rewrite.status, brief(rewrite)).toBe('ok')
      expect(rewrite.values).toEqual([1 << 20])
      const after = await vm.execute('return 1 + 1', { echoReturnValues: false })
      expect(after.values).toEqual([2])
    })
  }

  if (kind.type === 'wasm') {
    it('require loads a Lua file from package.path as text, into the sandbox env', async () => {
      const vm = await start({ grants: ['io', 'require'] })
      const r = await vm.execute(
        `io.open("./m.lua", "w"):write("return { env = _ENV, ex = os.execute }"):close()
         io.open("./bin.lua", "w"):write("\\27Lua\\84\\0"):close()
         local m = require("m")
         return m.env == _ENV, m.ex, (pcall(require, "bin"))`,
        { echoReturnValues: false },
      )
      expect(r.status, brief(r)).toBe('ok')
      expect(r.values).toEqual([true, null, false])
    })
  }

  if (kind.type === 'process') {
    const dir = mkdtempSync(join(tmpdir(), 'luavm-grants-'))
    writeFileSync(
      join(dir, 'probe_mod.lua'),
      'return { exec = os.execute, real = _G.os and _G.os.execute, io = io.open }',
    )
    afterAll(() => rmSync(dir, { recursive: true, force: true }))

    it('require loads Lua files on package.path into the sandbox env, never C modules', async () => {
      const vm = await start({ grants: ['require'], luaPath: `${join(dir, '?.lua')};;` })
      const r = await vm.execute(
        'local m = require("probe_mod") return m.exec, m.real, m.io, pcall(require, "socket.core"), pcall(require, "socket")',
        { echoReturnValues: false },
      )
      expect(r.status, brief(r)).toBe('ok')
      expect(r.values.slice(0, 5)).toEqual([null, null, null, false, false])
      // socket.lua is found on the path, but its C core is not loaded.
      expect(String(r.values[5])).toMatch(/socket\.core/)
    })

    it('C modules need the package grant (native code)', async () => {
      const vm = await start({ grants: ['require', 'package'] })
      const r = await vm.execute('return type(require("socket").tcp), require("os").execute', {
        echoReturnValues: false,
      })
      expect(r.status, brief(r)).toBe('ok')
      expect(r.values).toEqual(['function', null])
    })

    it('os.execute through require does not reach the host', async () => {
      const vm = await start({ grants: ['require'] })
      const marker = join(dir, 'pwned')
      const r = await vm.execute(
        `local ok = pcall(function() require("os").execute("touch ${marker}") end) return ok`,
        { echoReturnValues: false },
      )
      expect(r.values).toEqual([false])
      expect(() => rmSync(marker)).toThrow()
    })
  }
})
