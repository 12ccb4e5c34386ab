import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { compileLua54 } from '../src/engine/lua54-loader.js'
import { Lua54State, LuaStatus } from '../src/engine/lua54-state.js'
import { addTableFunction } from '../src/engine/wasm-table.js'

// The committed lua54.wasm (engine/build.sh), loaded through our own
// loader: no Emscripten, no glue. The interrupt must stop every kind of
// runaway Lua — whatever catches its error — and leave the state usable.

const engineDir = join(import.meta.dirname, '..', 'engine')
const bytes = readFileSync(join(engineDir, 'lua54.wasm'))
let module: WebAssembly.Module

beforeAll(async () => {
  module = await compileLua54(bytes)
})

/** A state whose host refuses to refill after `refills` interrupts (each after `budget` ticks). */
function newState(refills = 5, budget = 10_000) {
  const host = { interrupts: 0, refills, output: '' }
  const state = new Lua54State(module, {
    budget,
    interrupt: () => ++host.interrupts <= host.refills,
    write: (_fd, b) => {
      host.output += new TextDecoder().decode(b)
    },
  })
  return { state, host }
}

describe('lua54.wasm artifact', () => {
  it('is the file SHA256SUMS names', () => {
    const sums = readFileSync(join(engineDir, 'SHA256SUMS'), 'utf8')
    const digest = createHash('sha256').update(bytes).digest('hex')
    expect(sums).toContain(`${digest}  lua54.wasm`)
  })

  it('runs Lua 5.4 and prints through the host', () => {
    const { state, host } = newState()
    const r = state.run('print("hello", 1 + 1) io.write("x\\n") return _VERSION, 2^10, 7 // 2')
    expect(r).toEqual({ status: LuaStatus.OK, values: ['Lua 5.4', '1024.0', '3'], interrupted: false })
    expect(host.output).toBe('hello\t2\nx\n')
  })

  it('keeps refilling a long loop that the host lets run', () => {
    const { state, host } = newState(Number.POSITIVE_INFINITY, 1_000)
    const r = state.run('local n = 0 for i = 1, 1000000 do n = n + i end return n')
    expect(r.values).toEqual(['500000500000'])
    expect(host.interrupts).toBeGreaterThanOrEqual(1000)
  })

  it('reports Lua errors with the official messages and positions', () => {
    const { state } = newState()
    const cases: Array<[string, number, string]> = [
      ['local x = nil; return x.y', LuaStatus.ERRRUN, "input:1: attempt to index a nil value (local 'x')"],
      ['return 1 + {}', LuaStatus.ERRRUN, 'input:1: attempt to perform arithmetic on a table value'],
      ['\n\nerror("boom")', LuaStatus.ERRRUN, 'input:3: boom'],
      ['x = = 1', LuaStatus.ERRSYNTAX, "input:1: unexpected symbol near '='"],
      ['return #nil', LuaStatus.ERRRUN, 'input:1: attempt to get length of a nil value'],
      ['return ("x"):bad()', LuaStatus.ERRRUN, "input:1: attempt to call a nil value (method 'bad')"],
      ['return math.floor("a")', LuaStatus.ERRRUN, "input:1: bad argument #1 to 'floor' (number expected, got string)"],
      ['for i = 1, 10, 0 do end', LuaStatus.ERRRUN, "input:1: 'for' step is zero"],
      ['return pcall(error, "e")', LuaStatus.OK, 'false'],
    ]
    for (const [code, status, first] of cases) {
      const r = state.run(code)
      expect({ code, status: r.status, first: r.values[0] }).toEqual({ code, status, first })
    }
    expect(state.run('return 1e15, 2^53, 7 % -3, "10" + 1, math.maxinteger + 1 == math.mininteger').values).toEqual([
      '1e+15',
      '9.007199254741e+15',
      '-2',
      '11',
      'true',
    ])
  })
})

/** Data the sort runaways use, built with an unlimited budget before the run. */
const SORT_DATA = `
NUMBERS, OBJECTS = {}, {}
local mt = {__lt = function(a, b) return a.v < b.v end}
for i = 1, 50000 do
  NUMBERS[i] = (i * 7919) % 50021
  OBJECTS[i] = setmetatable({v = NUMBERS[i]}, mt)
end`

const RUNAWAYS: Array<[string, string, string?]> = [
  ['while true do end', 'while true do end'],
  ['repeat until false', 'repeat until false'],
  ['goto loop', '::top:: goto top'],
  ['numeric for (float)', 'for i = 1, math.huge do end'],
  ['generic for', 'local function it() return 1 end for _ in it do end'],
  ['pcall loop', 'while true do pcall(function() while true do end end) end'],
  [
    'xpcall whose handler loops',
    'while true do xpcall(function() while true do end end, function() while true do end end) end',
  ],
  ['error caught and retried', 'local function f() local ok = pcall(f) return f() end f()'],
  [
    'coroutine loop',
    'local co = coroutine.wrap(function() while true do coroutine.yield() end end) while true do co() end',
  ],
  [
    'coroutine.resume catching',
    'while true do coroutine.resume(coroutine.create(function() while true do end end)) end',
  ],
  ['tail-call recursion', 'local function f(n) return f(n + 1) end return f(1)'],
  ['mutual recursion through pcall', 'local function f() pcall(f) pcall(f) end while true do f() end'],
  // Only the comparator's calls tick here: the data is built before the run.
  ['table.sort comparator', 'table.sort(NUMBERS, function(a, b) return a < b end)', SORT_DATA],
  ['gsub callback', 'local s = ("x"):rep(2000000) s:gsub(".", function(c) return c end)'],
  [
    'gsub callback swallowing the abort',
    'local s = ("x"):rep(2000000) s:gsub(".", function() pcall(string.rep, "y", 1) end)',
  ],
  ['__lt metamethod under table.sort', 'table.sort(OBJECTS)', SORT_DATA],
  [
    '__close handler that loops',
    'do local x <close> = setmetatable({}, {__close = function() while true do end end}) error("e") end',
  ],
  ['pattern backtracking', 'return ("a"):rep(100000):find(".-.-.-.-y")'],
  ['plain find, worst case', 'return ("a"):rep(1 << 22):find(("a"):rep(1 << 20) .. "b", 1, true)'],
  ['table.move over 2^63 absent elements', 'table.move({}, 1, math.maxinteger - 1, 2)'],
]

describe('the interrupt stops runaway Lua and keeps the state', () => {
  it.each(RUNAWAYS)('%s', (_name, code, setup = '') => {
    const { state, host } = newState(Number.POSITIVE_INFINITY, 10_000)
    expect(state.run(`survivor = 41 ${setup}`).status).toBe(LuaStatus.OK)
    host.interrupts = 0
    host.refills = 3
    const r = state.run(code)
    expect(r.status).toBe(LuaStatus.ERRRUN)
    expect(r.interrupted).toBe(true)
    // The error value is "interrupted"; coroutine.wrap prefixes its position, as it does to any string error.
    expect(r.values).toEqual([expect.stringMatching(/^(input:1: )?interrupted$/)])
    // The host was asked once per budget until it refused, then never again.
    expect(host.interrupts).toBe(4)
    expect(state.run('survivor = survivor + 1 return survivor, collectgarbage("count") > 0').values).toEqual([
      '42',
      'true',
    ])
  })

  it('stops a loop at a host deadline', () => {
    const deadline = { at: 0 }
    const state = new Lua54State(module, { budget: 10_000, interrupt: () => performance.now() < deadline.at })
    deadline.at = performance.now() + 100
    const started = performance.now()
    const r = state.run('local n = 0 while true do n = n + 1 end')
    const took = performance.now() - started
    expect(r.interrupted).toBe(true)
    expect(took).toBeGreaterThanOrEqual(99)
    expect(took).toBeLessThan(5_000)
    expect(state.run('return 6 * 7').values).toEqual(['42'])
  })
})

describe('the debug library', () => {
  it('keeps its hooks: count, line and call hooks run as in Lua', () => {
    const { state } = newState()
    const r = state.run(`
      local counts, lines, calls = 0, 0, 0
      debug.sethook(function() counts = counts + 1 end, "", 100)
      for i = 1, 10000 do end
      debug.sethook(function(e) if e == "line" then lines = lines + 1 else calls = calls + 1 end end, "lc")
      local function f() return 1 end
      f()
      debug.sethook()
      return counts >= 100, lines > 0, calls > 0, debug.gethook()`)
    expect(r.values).toEqual(['true', 'true', 'true', 'nil'])
  })

  it('cannot hide a runaway loop from the interrupt by hooking it', () => {
    const { state, host } = newState(2)
    const r = state.run('debug.sethook(function() end, "l") while true do end')
    expect(r.interrupted).toBe(true)
    expect(host.interrupts).toBe(3)
  })
})

describe('C functions the patch touches', () => {
  it('give the official results', () => {
    const { state } = newState()
    const r = state.run(
      'return #string.rep("", math.maxinteger), #("ab"):rep(3, ","), ("x.y"):find(".", 1, true), ("hello"):find("ll", 1, true), #table.move({1, 2, 3}, 1, 3, 2), ("abc"):gsub("%w", "%0%0")',
    )
    expect(r.values).toEqual(['0', '8', '2', '3', '4', 'aabbcc', '3'])
  })
})

describe('host functions', () => {
  it('raise Lua errors through their JS frame (wasm exceptions), which pcall catches', () => {
    const { state } = newState()
    const x = state.wasm.exports
    const fail = addTableFunction(
      x.__indirect_function_table,
      (L: number) => {
        x.lua_pushinteger(L, 7n)
        return x.lua_error(L)
      },
      'ii',
    )
    x.lua_pushcclosure(state.L, fail, 0)
    const name = x.malloc(8)
    state.wasm.HEAPU8.set(new TextEncoder().encode('fail\0'), name)
    x.lua_setglobal(state.L, name)
    x.free(name)
    expect(state.run('return pcall(fail)').values).toEqual(['false', '7'])
    expect(state.run('fail()').values).toEqual(['7'])
    expect(state.run('return 1').values).toEqual(['1'])
  })
})

describe('a failing host', () => {
  it('aborts the run when its interrupt throws, and the state survives', () => {
    let fail = false
    const state = new Lua54State(module, {
      budget: 1_000,
      interrupt: () => {
        if (fail) throw new Error('host bug')
        return true
      },
    })
    expect(state.run('x = 1').status).toBe(LuaStatus.OK)
    fail = true
    expect(state.run('while true do pcall(function() while true do end end) end').interrupted).toBe(true)
    fail = false
    expect(state.run('x = x + 1 return x').values).toEqual(['2'])
    state.close()
  })

  it('turns a throwing output sink into a failed write', () => {
    const state = new Lua54State(module, {
      budget: 1_000,
      interrupt: () => true,
      write: () => {
        throw new Error('sink gone')
      },
    })
    const r = state.run(
      'local ok, err = io.write("x") io.stdout:flush() print("y") return ok == nil or ok == io.stdout, 42',
    )
    expect(r.status).toBe(LuaStatus.OK)
    expect(r.values[1]).toBe('42')
  })
})

describe('the memory cap', () => {
  it.each([
    ['table growth', 'local t = {} for i = 1, 1e9 do t[i] = i end'],
    ['string building', 'local t = {} for i = 1, 1e9 do t[i] = ("x"):rep(100) .. i end'],
    ['one huge string', 'return ("x"):rep(1 << 30)'],
    ['table.concat', 'local t = {} for i = 1, 64 do t[i] = ("y"):rep(1 << 20) end return table.concat(t)'],
  ])('%s ends with LUA_ERRMEM and the state survives', (_name, code) => {
    const { state } = newState(Number.POSITIVE_INFINITY)
    const cap = 16 * 1024 * 1024
    state.setMemoryLimit(cap)
    expect(state.run('survivor = "still here"').status).toBe(LuaStatus.OK)
    const r = state.run(code)
    expect(r.status).toBe(LuaStatus.ERRMEM)
    expect(r.values).toEqual(['not enough memory'])
    expect(state.memoryUsed).toBeLessThanOrEqual(cap)
    expect(state.run('collectgarbage() return survivor').values).toEqual(['still here'])
    expect(state.memoryUsed).toBeLessThan(1024 * 1024)
  })

  it('lets pcall catch a memory error, as Lua does', () => {
    const { state } = newState(Number.POSITIVE_INFINITY)
    state.setMemoryLimit(8 * 1024 * 1024)
    const r = state.run('local ok, e = pcall(string.rep, "x", 1 << 28) return ok, e')
    expect(r.values).toEqual(['false', 'not enough memory'])
  })
})
