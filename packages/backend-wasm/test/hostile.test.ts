import { describe, expect, it } from 'vitest'
import { brief, COMBOS, RUNAWAY_LOOPS, vmFactory } from './helpers.js'

// Hostile Lua against both engines in both isolation modes: every case must
// end with a status (never a hang, a crash or a rejected promise) and leave
// the VM usable. No timing assertions: statuses only.

const makeVM = vmFactory()
const DEADLINE = 200

async function usable(vm: Awaited<ReturnType<typeof makeVM>>): Promise<void> {
  const r = await vm.execute('return 6 * 7')
  expect(r.values, `the VM still works afterwards: ${brief(r)}`).toEqual([42])
}

describe.each(COMBOS)('deadlines: $type / $isolation', (combo) => {
  it.each(RUNAWAY_LOOPS)('%s ends with timeout', async (_name, code) => {
    const vm = await makeVM(combo)
    const r = await vm.execute(code, { timeoutMs: DEADLINE })
    expect(r.status, brief(r)).toBe('timeout')
    expect(r.exitCode).toBe(3)
    await usable(vm)
  })

  it('__gc finalizers are refused in the sandbox (they would run with hooks off)', async () => {
    const vm = await makeVM(combo)
    const r = await vm.execute('setmetatable({}, {__gc = function() while true do end end})')
    expect(r.status, brief(r)).toBe('error')
    expect(r.error?.message).toMatch(/__gc metamethods are not allowed/)
    await usable(vm)
  })
})

describe.each(COMBOS.filter((c) => c.isolation === 'worker'))('hard deadline: $type / worker', (combo) => {
  const calls: Array<[string, string]> = [
    ['pathological string.find', 'return string.find(("a"):rep(3e4), ".-.-.-.-b$")'],
    ['pathological string.gsub', 'return (string.gsub(("a"):rep(3e4), ".-.-.-.-b", ""))'],
    ['a huge string.rep', 'return #string.rep("ab", 6e7, ",")'],
  ]
  it.each(calls)('%s (one long C call) is ended by terminating the worker', async (_name, code) => {
    const vm = await makeVM(combo, { memoryLimitBytes: 1024 * 1024 * 1024 })
    await vm.execute('kept = true')
    const r = await vm.execute(code, { timeoutMs: DEADLINE })
    expect(r.status, brief(r)).toBe('timeout')
    expect(r.error?.message).toMatch(/terminating its worker/)
    const status = await vm.getStatus()
    expect(status.restarts, 'the VM reports the restart').toBe(1)
    expect(status.details?.stateLost).toMatchObject({ count: 1, vmIds: [vm.id] })
    expect((await vm.execute('return kept')).values, 'its Lua state is gone').toEqual([null])
    await usable(vm)
  })

  if (combo.type === 'wasm') {
    it('a __gc loop outside the sandbox is ended by terminating the worker', async () => {
      const vm = await makeVM(combo, { sandbox: false })
      const r = await vm.execute(
        'setmetatable({}, {__gc = function() while true do end end}) collectgarbage() collectgarbage()',
        { timeoutMs: DEADLINE },
      )
      expect(r.status, brief(r)).toBe('timeout')
      await usable(vm)
    })
  } else {
    // fengari's objects are collected by the JS garbage collector: no
    // finalizer ever runs, so a __gc loop cannot start.
    it('a __gc loop outside the sandbox never runs (fengari has no finalizers)', async () => {
      const vm = await makeVM(combo, { sandbox: false })
      const r = await vm.execute(
        'local t = setmetatable({}, {__gc = function() while true do end end}) t = nil ' +
          'for i = 1, 2e5 do local _ = { i } end return "done"',
        // Completing is the assertion: a generous deadline (the loop takes
        // ~150 ms on a quiet machine, a cold worker's first run longer).
        { timeoutMs: 5000 },
      )
      expect(r.status, brief(r)).toBe('ok')
      expect(r.values).toEqual(['done'])
    })
  }

  it('removing the hook (debug granted) is still stopped by the worker kill', async () => {
    const vm = await makeVM(combo, { grants: ['debug'] })
    const r = await vm.execute('debug.sethook() while true do end', { timeoutMs: DEADLINE })
    expect(r.status, brief(r)).toBe('timeout')
    await usable(vm)
  })
})

describe.each(COMBOS.filter((c) => c.isolation === 'inline'))('soft deadline only: $type / inline', (combo) => {
  it('a long C call finishes before the deadline is checked (documented limit)', async () => {
    const vm = await makeVM(combo)
    // Bounded on purpose: inline isolation cannot interrupt a C call, so
    // the call runs to its end; the next hook check sees the deadline.
    const r = await vm.execute('string.find(("a"):rep(60), ".-.-.-.-b$") while true do end', { timeoutMs: 20 })
    expect(r.status, brief(r)).toBe('timeout')
    expect(vm.capabilities.hardTimeout).toBe(false)
    await usable(vm)
  })
})

describe.each(COMBOS.filter((c) => c.type === 'wasm'))('memory bombs: wasm / $isolation', (combo) => {
  const bombs: Array<[string, string]> = [
    ['string.rep', 'local s = string.rep("x", 2^30)'],
    ['table growth', 'local t = {} for i = 1, 1e9 do t[i] = i end'],
    ['a concatenation loop', 'local s = "x" while true do s = s .. s end'],
    ['many strings', 'local t = {} for i = 1, 1e8 do t[i] = ("x"):rep(64) .. i end'],
    ['coroutines', 'local t = {} for i = 1, 1e8 do t[i] = coroutine.create(print) end'],
  ]
  it.each(bombs)('%s ends with memory', async (_name, code) => {
    const vm = await makeVM(combo, { memoryLimitBytes: 32 * 1024 * 1024 })
    const r = await vm.execute(code, { timeoutMs: 20_000 })
    expect(r.status, brief(r)).toBe('memory')
    expect(r.exitCode).toBe(3)
    await usable(vm)
    const details = (await vm.getStatus()).details
    expect(details?.memoryUsedBytes as number, 'the heap stays under the cap').toBeLessThanOrEqual(32 * 1024 * 1024)
  })
})

describe.each(COMBOS.filter((c) => c.type === 'fengari'))('memory: fengari / $isolation', (combo) => {
  it('a giant string.rep is refused', async () => {
    const vm = await makeVM(combo, { memoryLimitBytes: 32 * 1024 * 1024 })
    const r = await vm.execute('local s = string.rep("x", 2^30)')
    expect(r.status, brief(r)).toBe('memory')
    await usable(vm)
  })

  it('the capped string.rep still behaves like string.rep, errors at the caller’s line', async () => {
    const vm = await makeVM(combo, { memoryLimitBytes: 32 * 1024 * 1024 })
    const r = await vm.execute('return string.rep("ab", 3, "-"), ("x"):rep(2), string.rep(5, 2)')
    expect(r.values, brief(r)).toEqual(['ab-ab-ab', 'xx', '55'])
    // Called from C (pcall), as with the real rep: no position, and none of the wrapper's.
    const viaPcall = await vm.execute('return pcall(string.rep)')
    expect(viaPcall.values).toEqual([false, expect.stringMatching(/^bad argument #1 to 'rep' \(string expected/)])
    const bad = await vm.execute('\nstring.rep()')
    expect(bad.error?.message).toMatch(/^chunk:2: bad argument #1 to 'rep' \(string expected/)
    const frac = await vm.execute('\n\nstring.rep("x", 1.5)')
    expect(frac.error?.message).toMatch(/^chunk:3: bad argument #2 to 'rep' \(number has no integer representation\)/)
  })
})

describe('memory: fengari / worker heap limit', () => {
  it('table growth past the worker heap limit ends with memory and a restart', async () => {
    const vm = await makeVM({ type: 'fengari', isolation: 'worker' }, { workerMaxHeapMb: 48, vmsPerWorker: 1 })
    const r = await vm.execute('local t = {} for i = 1, 1e9 do t[i] = {i} end', { timeoutMs: 30_000 })
    expect(r.status, brief(r)).toBe('memory')
    expect((await vm.getStatus()).restarts).toBe(1)
    await usable(vm)
  })
})

describe.each(COMBOS)('output: $type / $isolation', (combo) => {
  it('is capped to the byte', async () => {
    const vm = await makeVM(combo)
    const r = await vm.execute('print(("0123456789"):rep(100))', { maxOutputBytes: 25 })
    expect(r).toMatchObject({ status: 'output-limit', truncated: true, stdout: '0123456789012345678901234' })
    const mb = await vm.execute('io.write(("é"):rep(10))', { maxOutputBytes: 5 })
    expect(mb.truncated).toBe(true)
    expect(mb.stdout, 'a character cut by the cap is dropped, never mangled').toBe('éé')
    await usable(vm)
  })

  it('a flood stops at the cap with exactly the cap', async () => {
    const vm = await makeVM(combo)
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    const chunks: string[] = []
    const r = await vm.execute('while true do print(("x"):rep(99)) end', {
      maxOutputBytes: 1024 * 1024,
      timeoutMs: 20_000,
      onStdout: (c) => chunks.push(c),
    })
    clearInterval(timer)
    expect(r.status, brief(r)).toBe('output-limit')
    expect(r.stdout.length).toBe(1024 * 1024)
    expect(chunks.join('')).toBe(r.stdout)
    if (combo.isolation === 'worker') expect(ticks, 'the host thread kept running during the flood').toBeGreaterThan(0)
    await usable(vm)
  })
})

describe.each(COMBOS)('no host reach: $type / $isolation', (combo) => {
  const absent: Array<[string, string]> = [
    ['os.execute', 'return os.execute("echo pwned")'],
    ['io.popen', 'return io.popen("echo pwned")'],
    ['io.open', 'return io.open("/etc/passwd")'],
    ['os.exit', 'os.exit(1)'],
    ['os.getenv', 'return os.getenv("HOME")'],
    ['package.loadlib', 'return package.loadlib("/lib/x86_64-linux-gnu/libc.so.6", "system")'],
    ['debug.sethook', 'debug.sethook()'],
    ['debug.getregistry', 'return debug.getregistry()'],
    ['string.dump', 'return string.dump(print)'],
    ['dofile', 'return dofile("/etc/passwd")'],
    ['loadfile', 'return loadfile("/etc/passwd")'],
    ['os.remove', 'return os.remove("/tmp/x")'],
  ]
  it.each(absent)('%s is absent: a clear Lua error', async (_name, code) => {
    const vm = await makeVM(combo)
    const r = await vm.execute(code)
    expect(r.status, brief(r)).toBe('error')
    expect(r.error?.message).toMatch(/attempt to (call|index) a nil value/)
    await usable(vm)
  })

  it('require of C / JS / host modules fails', async () => {
    const vm = await makeVM(combo)
    // os and io are the sandbox env's own (restricted) libraries, as require returns them in `lua`.
    const libs = await vm.execute('return require("os") == os, require("os").execute, require("io") == io')
    expect(libs.values).toEqual([true, null, true])
    for (const name of ['fs', 'child_process', 'socket', 'js', 'debug', 'package']) {
      const r = await vm.execute(`return require(${JSON.stringify(name)})`)
      expect(r.status, brief(r)).toBe('error')
      expect(r.error?.message).toMatch(/not found/)
    }
    const granted = await makeVM(combo, { grants: ['require'] })
    for (const name of ['fs', 'child_process', 'js', 'fengari-interop']) {
      const r = await granted.execute(`return require(${JSON.stringify(name)})`)
      expect(r.status, `with the require grant: ${brief(r)}`).toBe('error')
    }
  })

  it('binary chunks are refused', async () => {
    const vm = await makeVM(combo)
    const r = await vm.execute('return load("\\27Lua\\84\\0")')
    expect(r.values[0]).toBeNull()
    expect(r.values[1]).toMatch(/binary chunk/)
  })

  it('collectgarbage allows only "count"', async () => {
    const vm = await makeVM(combo)
    expect((await vm.execute('return type(collectgarbage("count"))')).values).toEqual(['number'])
    for (const opt of ['stop', 'collect', 'step', 'setpause']) {
      const r = await vm.execute(`collectgarbage(${JSON.stringify(opt)})`)
      expect(r.status, brief(r)).toBe('error')
    }
  })

  it('string-metatable tampering does not leak into later executions or other VMs', async () => {
    const vm = await makeVM(combo)
    const other = await makeVM(combo)
    const meta = await vm.execute('getmetatable("").__index = {upper = function() return "pwned" end}')
    expect(meta.status, brief(meta)).toBe('error')
    await vm.execute('string.upper = function() return "pwned" end')
    expect((await vm.execute('return ("x"):upper()')).values, 'method calls use the pristine library').toEqual(['X'])
    expect((await other.execute('return string.upper("x"), ("y"):upper()')).values).toEqual(['X', 'Y'])
    await vm.reset()
    expect((await vm.execute('return string.upper("x")')).values).toEqual(['X'])
  })

  it('JS globals are unreachable', async () => {
    const vm = await makeVM(combo)
    const r = await vm.execute('return js, window, globalThis, process, fengari, Module, require == nil')
    expect(r.values).toEqual([null, null, null, null, null, null, false])
  })

  it('hostile error objects and return values do not crash the host', async () => {
    const vm = await makeVM(combo)
    const tostr = await vm.execute('error(setmetatable({}, {__tostring = function() error("boom") end}))')
    expect(tostr.status).toBe('error')
    const looping = await vm.execute('error(setmetatable({}, {__tostring = function() while true do end end}))', {
      timeoutMs: DEADLINE,
    })
    expect(['error', 'timeout']).toContain(looping.status)
    const ret = await vm.execute(
      'return setmetatable({a = 1}, {__index = function() error("x") end, __pairs = function() error("y") end})',
    )
    expect(ret, brief(ret)).toMatchObject({ status: 'ok', values: [{ a: 1 }] })
    const g = await vm.execute('local t = {} t.self = t return _G, t')
    expect(g.status, brief(g)).toBe('ok')
    expect(g.values[1]).toEqual({ self: '<cycle>' })
    await usable(vm)
  })

  it('deep recursion is a clean error', async () => {
    const vm = await makeVM(combo)
    const r = await vm.execute('local function f() return 1 + f() end return f()')
    expect(r.status, brief(r)).toBe('error')
    expect(r.error?.message).toMatch(/stack overflow/)
    await usable(vm)
  })

  if (combo.type === 'wasm') {
    it('the io grant only sees the VM’s own in-memory file system', async () => {
      const vm = await makeVM(combo, { grants: ['io'] })
      const r = await vm.execute(
        'local f = io.open("/etc/passwd") local w = io.open("/tmp/mine", "w") w:write("ok") w:close() return f, io.open("/tmp/mine"):read("a"), io.open("/dev/stdin")',
      )
      expect(r.status, brief(r)).toBe('ok')
      expect(r.values[0]).toBeNull()
      expect(r.values[1]).toBe('ok')
      expect(r.values[2]).toBeNull()
      const other = await makeVM(combo, { grants: ['io'] })
      expect((await other.execute('return io.open("/tmp/mine")')).values[0], 'files are per VM').toBeNull()
    })
  }
})
