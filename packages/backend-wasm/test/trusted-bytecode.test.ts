import { describe, expect, it } from 'vitest'
import { brief, COMBOS, vmFactory } from './helpers.js'

// The first engine of a thread compiles the host's own Lua (prelude,
// runtime, bootstrap) and dumps it; every later engine loads those bytes.
// These tests make sure that shortcut shares nothing between VMs, keeps the
// runtime's debug info, and never opens binary loading to user code.

const makeVM = vmFactory()

describe.each(COMBOS)('VMs from the cached runtime: $type / $isolation', (combo) => {
  it('share no state', async () => {
    // Three VMs: whichever was first on this thread, at least two come from the cache.
    const [a, b, c] = await Promise.all([makeVM(combo), makeVM(combo), makeVM(combo)])
    await a.mount('shared', 'return { n = 0 }')
    await b.mount('shared', 'return { n = 0 }')
    const setup = await a.execute(
      'x = 1; string.upper = nil; math.pi = 3; local m = require("shared"); m.n = m.n + 1; return m.n',
    )
    expect(setup.values, brief(setup)).toEqual([1])
    for (const vm of [b, c]) {
      const r = await vm.execute('return x, type(string.upper), math.pi > 3.14')
      expect(r.values, brief(r)).toEqual([null, 'function', true])
    }
    const m = await b.execute('return require("shared").n')
    expect(m.values, brief(m)).toEqual([0])
    const missing = await c.execute('return require("shared")')
    expect(missing.status, brief(missing)).toBe('error')
  })

  it('keep the runtime debug info its deadline hook relies on', async () => {
    await makeVM(combo)
    const vm = await makeVM(combo, { grants: ['debug'] })
    const r = await vm.execute('return debug.getinfo(print, "S").source, debug.getinfo(pcall, "S").source')
    expect(r.values, brief(r)).toEqual(['=luavm-runtime', '=luavm-runtime'])
    const looping = await vm.execute('while true do pcall(function() while true do end end) end', { timeoutMs: 100 })
    expect(looping.status, brief(looping)).toBe('timeout')
  })

  it('never let user code load a binary chunk, even a real one', async () => {
    const vm = await makeVM(combo, { grants: ['string.dump'] })
    const r = await vm.execute(`
      local s = string.dump(function() return 1 end)
      local f1, e1 = load(s)
      local f2, e2 = load(s, "x", "b")
      local f3, e3 = load(function() local p = s; s = nil; return p end)
      return f1 == nil and f2 == nil and f3 == nil, e1, e2, e3`)
    expect(r.values[0], brief(r)).toBe(true)
    for (const message of r.values.slice(1)) expect(message).toMatch(/binary chunk/)
    const asChunk = await vm.execute('\x1bLuaS\0')
    expect(asChunk.status, brief(asChunk)).toBe('error')
    expect(asChunk.error?.message).toMatch(/binary chunk/)
  })

  it('run a looping __tostring of an echoed value under the deadline', async () => {
    const vm = await makeVM(combo)
    const r = await vm.execute('return setmetatable({}, {__tostring = function() while true do end end})', {
      timeoutMs: 150,
    })
    expect(r.status, brief(r)).toBe('timeout')
    expect((await vm.execute('return 6 * 7')).values).toEqual([42])
  })
})
