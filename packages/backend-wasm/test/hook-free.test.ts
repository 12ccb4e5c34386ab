import { readdirSync } from 'node:fs'
import { BackendRegistry, ConfigManager } from '@bioxen-luavm/core'
import { describe, expect, it } from 'vitest'
import { createFengariVM, createWasmVM, fengariBackend, wasmBackend } from '../src/index.js'
import { sharedWorkerCount } from '../src/isolation/worker-pool.js'
import { brief, RUNAWAY_LOOPS, vmFactory } from './helpers.js'

// softDeadline: false — no deadline hook in the runtime; the worker kill at
// the deadline is the only stop. Every case must end with the right status,
// leave the VM usable, and leave no worker behind (each kill replaces the
// thread, never adds one).

const makeVM = vmFactory()
const DEADLINE = 200
const HOOK_FREE = { softDeadline: false, isolation: 'worker' } as const
const TYPES = [{ type: 'wasm' }, { type: 'fengari' }] as const

type VM = Awaited<ReturnType<typeof makeVM>>

async function usable(vm: VM): Promise<void> {
  const r = await vm.execute('return 6 * 7')
  expect(r.values, `the VM still works afterwards: ${brief(r)}`).toEqual([42])
}

/** OS threads of this process (Linux): a worker that was not terminated would stay among them. */
function osThreads(): number | undefined {
  try {
    return readdirSync('/proc/self/task').length
  } catch {
    return undefined
  }
}

describe('softDeadline: config', () => {
  it('defaults to true, and says so in the status', async () => {
    const vm = await makeVM({ type: 'wasm', isolation: 'worker' })
    expect(vm.softDeadline).toBe(true)
    expect((await vm.getStatus()).details?.softDeadline).toBe(true)
    const free = await makeVM({ type: 'fengari', isolation: 'worker' }, { softDeadline: false })
    expect(free.softDeadline).toBe(false)
    expect((await free.getStatus()).details).toMatchObject({ softDeadline: false, isolation: 'worker' })
    expect(free.capabilities, 'the worker kill is still a hard deadline').toMatchObject({
      hardTimeout: true,
      persistentState: true,
    })
  })

  it('inline isolation without the soft deadline is a ConfigError naming both keys', async () => {
    for (const create of [createWasmVM, createFengariVM]) {
      const error = await create({ isolation: 'inline', softDeadline: false }).catch((e: unknown) => e)
      expect(error).toMatchObject({ _tag: 'ConfigError' })
      expect((error as Error).message).toMatch(/softDeadline/)
      expect((error as Error).message).toMatch(/isolation/)
    }
  })

  it('comes from environment variables and config like every other key', async () => {
    const registry = new BackendRegistry().register(wasmBackend).register(fengariBackend)
    const config = new ConfigManager({ env: { LUAVM_FENGARI_SOFTDEADLINE: 'false', LUAVM_WASM_ISOLATION: 'inline' } })
    const section = config.backend('fengari', fengariBackend.configSchema ?? {})
    expect(section.softDeadline).toBe(false)
    const vm = await registry.create('fengari', 'env-hook-free', section)
    try {
      expect((vm as VM).softDeadline).toBe(false)
      const r = await vm.execute('while true do end', { timeoutMs: DEADLINE })
      expect(r.status, brief(r)).toBe('timeout')
    } finally {
      await vm.stop()
    }
    const both = new ConfigManager({
      file: { backends: { wasm: { softDeadline: false } } },
      env: { LUAVM_WASM_ISOLATION: 'inline' },
    })
    await expect(
      registry.create('wasm', 'bad-combination', both.backend('wasm', wasmBackend.configSchema ?? {})),
    ).rejects.toMatchObject({ _tag: 'ConfigError', message: expect.stringMatching(/softDeadline.*isolation/) })
  })
})

describe.each(TYPES)('hook-free: $type', ({ type }) => {
  const combo = { type, isolation: 'worker' } as const

  it('runs with no hook at all, where the default mode has the deadline hook', async () => {
    const probe = [
      'local main = debug.gethook() ~= nil',
      'local co = coroutine.wrap(function() return debug.gethook() ~= nil end)()',
      'return main, co',
    ].join('\n')
    const soft = await makeVM(combo, { grants: ['debug'] })
    const free = await makeVM(combo, { ...HOOK_FREE, grants: ['debug'] })
    const withHook = await soft.execute(probe, { timeoutMs: 10_000 })
    expect(withHook.values, `the default mode arms the hook: ${brief(withHook)}`).toEqual([true, true])
    const without = await free.execute(probe, { timeoutMs: 10_000 })
    expect(without.values, `hook-free: ${brief(without)}`).toEqual([false, false])
  })

  const loops: Array<[string, string]> = [
    ...RUNAWAY_LOOPS,
    ['pathological string.find', 'return string.find(("a"):rep(3e4), ".-.-.-.-b$")'],
    ['pathological string.gsub', 'return (string.gsub(("a"):rep(3e4), ".-.-.-.-b", ""))'],
  ]
  it.each(loops)('%s ends with timeout by the worker kill; the state is lost', async (_name, code) => {
    const vm = await makeVM(combo, { ...HOOK_FREE, memoryLimitBytes: 1024 * 1024 * 1024 })
    const workers = sharedWorkerCount()
    await vm.execute('kept = true')
    const r = await vm.execute(code, { timeoutMs: DEADLINE })
    expect(r.status, brief(r)).toBe('timeout')
    expect(r.exitCode).toBe(3)
    expect(r.error?.message).toBe(`execution timed out after ${DEADLINE} ms and was stopped by terminating its worker`)
    const status = await vm.getStatus()
    expect(status.restarts).toBe(1)
    expect(status.details?.stateLost).toMatchObject({ count: 1, vmIds: [vm.id] })
    expect((await vm.execute('return kept')).values, 'its Lua state is gone').toEqual([null])
    await usable(vm)
    expect(sharedWorkerCount(), 'the worker was replaced, not added to').toBe(workers)
  })

  it('kills at the deadline itself, not deadline + grace', async () => {
    const vm = await makeVM(combo, { ...HOOK_FREE, hardKillGraceMs: 10_000 })
    const r = await vm.execute('while true do end', { timeoutMs: 300 })
    expect(r.status, brief(r)).toBe('timeout')
    expect(r.durationMs).toBeGreaterThanOrEqual(299)
    // Generous for a loaded machine; with the grace it would be ≥ 10.3 s.
    expect(r.durationMs).toBeLessThan(3000)
  })

  it('output printed before the kill reaches the result and the stream', async () => {
    const vm = await makeVM(combo, HOOK_FREE)
    const streamed: string[] = []
    const r = await vm.execute(
      'print("started") local t = os.clock() while os.clock() - t < 0.1 do end print("later") while true do end',
      // Room for a loaded machine: os.clock is CPU time, the deadline wall time.
      { timeoutMs: 2000, onStdout: (c) => streamed.push(c) },
    )
    expect(r.status, brief(r)).toBe('timeout')
    expect(r.stdout).toBe('started\nlater\n')
    expect(streamed.join('')).toBe(r.stdout)
  })

  it('debug.sethook games (debug granted) end at the deadline; a user hook does not outlive its chunk', async () => {
    const vm = await makeVM(combo, { ...HOOK_FREE, grants: ['debug'] })
    const games: Array<[string, string]> = [
      ['debug.sethook(function() end, "", 1) while true do end', 'timeout'],
      // Hooks do not fire inside a hook: only the kill can end this one.
      ['debug.sethook(function() while true do end end, "", 1) local x = 1', 'timeout'],
      [
        'coroutine.resume(coroutine.create(function() debug.sethook(function() end, "c") while true do end end))',
        'timeout',
      ],
      // A hook that prints floods the output: the cap's abort still holds.
      ['debug.sethook(print, "l") while true do end', 'output-limit'],
    ]
    for (const [code, status] of games) {
      const r = await vm.execute(code, { timeoutMs: DEADLINE, maxOutputBytes: 1024 })
      expect(r.status, `${code}: ${brief(r)}`).toBe(status)
      await usable(vm)
    }
    await vm.execute('debug.sethook(function() end, "l")')
    const after = await vm.execute('return debug.gethook() ~= nil')
    expect(after.values, 'the next chunk runs hook-free again').toEqual([false])
  })

  it('an output flood stops at the cap without a kill, state kept', async () => {
    const vm = await makeVM(combo, HOOK_FREE)
    await vm.execute('kept = 1')
    const chunks: string[] = []
    const r = await vm.execute('while true do print(("x"):rep(99)) end', {
      maxOutputBytes: 1024 * 1024,
      timeoutMs: 20_000,
      onStdout: (c) => chunks.push(c),
    })
    expect(r.status, brief(r)).toBe('output-limit')
    expect(r.truncated).toBe(true)
    expect(r.stdout.length).toBe(1024 * 1024)
    expect(chunks.join('')).toBe(r.stdout)
    const caught = await vm.execute('while true do pcall(function() while true do io.write("abc") end end) end', {
      maxOutputBytes: 1000,
      timeoutMs: 20_000,
    })
    expect(caught.status, `the cap's abort cannot be caught: ${brief(caught)}`).toBe('output-limit')
    expect(caught.stdout.length).toBe(1000)
    const unbuffered = await vm.execute('io.stdout:setvbuf("no") while true do io.write("x") end', {
      maxOutputBytes: 64 * 1024,
      timeoutMs: 20_000,
    })
    expect(unbuffered.status, brief(unbuffered)).toBe('output-limit')
    expect(unbuffered.stdout.length).toBe(64 * 1024)
    expect((await vm.getStatus()).restarts, 'no kill was needed').toBe(0)
    expect((await vm.execute('return kept')).values).toEqual([1])
  })

  it('an AbortSignal kills the worker at once; stop() while running too', async () => {
    const vm = await makeVM(combo, { ...HOOK_FREE, hardKillGraceMs: 10_000 })
    const abort = new AbortController()
    setTimeout(() => abort.abort(), 100)
    const r = await vm.execute('while true do end', { signal: abort.signal, timeoutMs: 60_000 })
    expect(r.status, brief(r)).toBe('killed')
    expect(r.durationMs, 'no soft cancel to wait for').toBeLessThan(5000)
    expect((await vm.getStatus()).restarts).toBe(1)
    await usable(vm)
    const running = vm.execute('print("spinning") while true do end', { timeoutMs: 60_000 })
    await new Promise((resolve) => setTimeout(resolve, 100))
    await vm.stop()
    expect((await running).status).toBe('killed')
  })

  if (type === 'wasm') {
    const bombs: Array<[string, string]> = [
      ['string.rep', 'local s = string.rep("x", 2^30)'],
      ['table growth', 'local t = {} for i = 1, 1e9 do t[i] = i end'],
      ['a concatenation loop', 'local s = "x" while true do s = s .. s end'],
      ['many strings', 'local t = {} for i = 1, 1e8 do t[i] = ("x"):rep(64) .. i end'],
      ['coroutines', 'local t = {} for i = 1, 1e8 do t[i] = coroutine.create(print) end'],
    ]
    it.each(bombs)('memory bomb: %s ends with memory (the allocator needs no hook)', async (_name, code) => {
      const vm = await makeVM(combo, { ...HOOK_FREE, memoryLimitBytes: 32 * 1024 * 1024 })
      const r = await vm.execute(code, { timeoutMs: 20_000 })
      expect(r.status, brief(r)).toBe('memory')
      expect((await vm.getStatus()).restarts, 'no kill was needed').toBe(0)
      await usable(vm)
      const details = (await vm.getStatus()).details
      expect(details?.memoryUsedBytes as number).toBeLessThanOrEqual(32 * 1024 * 1024)
    })
  } else {
    it('memory: string.rep past the cap is refused; table growth hits the worker heap limit', async () => {
      const vm = await makeVM(combo, { ...HOOK_FREE, memoryLimitBytes: 32 * 1024 * 1024 })
      const rep = await vm.execute('local s = string.rep("x", 2^30)')
      expect(rep.status, brief(rep)).toBe('memory')
      const heap = await makeVM(combo, { ...HOOK_FREE, workerMaxHeapMb: 48, vmsPerWorker: 1 })
      const r = await heap.execute('local t = {} for i = 1, 1e9 do t[i] = {i} end', { timeoutMs: 30_000 })
      expect(r.status, brief(r)).toBe('memory')
      await usable(heap)
    })
  }
})

describe('hook-free workers', () => {
  it('hook-free VMs share workers only with each other: a kill costs neighbours their state, never soft VMs', async () => {
    const pool = { workers: 1, vmsPerWorker: 4, hardKillGraceMs: 30 }
    const a = await makeVM({ type: 'wasm', isolation: 'worker' }, { ...pool, softDeadline: false })
    const b = await makeVM({ type: 'wasm', isolation: 'worker' }, { ...pool, softDeadline: false })
    const soft = await makeVM({ type: 'wasm', isolation: 'worker' }, pool)
    const [wa, wb, ws] = await Promise.all([a, b, soft].map(async (vm) => (await vm.getStatus()).details?.workerId))
    expect(wa).toBe(wb)
    expect(ws, 'the soft-deadline VM is on a worker of its own pool').not.toBe(wa)
    for (const vm of [a, b, soft]) await vm.execute('mine = "kept"')

    const r = await a.execute('while true do end', { timeoutMs: DEADLINE })
    expect(r.status, brief(r)).toBe('timeout')
    for (const vm of [a, b]) {
      const status = await vm.getStatus()
      expect(status.restarts, `${vm.id} reports the restart`).toBe(1)
      const lost = status.details?.stateLost as { vmIds: string[] } | undefined
      expect(lost?.vmIds.sort()).toEqual([a.id, b.id].sort())
      expect((await vm.execute('return mine')).values, `${vm.id} lost its globals`).toEqual([null])
    }
    expect((await soft.getStatus()).restarts).toBe(0)
    expect((await soft.execute('return mine')).values).toEqual(['kept'])
  })

  it('the longest deadline (2^31 - 1 ms, plus the grace) arms a kill that does not fire at once', async () => {
    for (const softDeadline of [true, false]) {
      const vm = await makeVM({ type: 'wasm', isolation: 'worker' }, { softDeadline })
      const r = await vm.execute('local t = os.clock() while os.clock() - t < 0.05 do end return 1', {
        timeoutMs: 2 ** 31 - 1,
      })
      expect(r.status, `softDeadline ${softDeadline}: ${brief(r)}`).toBe('ok')
      // Longer deadlines are refused by core before anything runs.
      await expect(vm.execute('return 1', { timeoutMs: 2 ** 31 })).rejects.toThrow(/^timeoutMs must be/)
      expect((await vm.getStatus()).restarts).toBe(0)
    }
  })

  it('many kills leave no thread behind', async () => {
    const vm = await makeVM({ type: 'wasm', isolation: 'worker' }, { ...HOOK_FREE, vmsPerWorker: 1 })
    // One kill first, so lazily started helper threads exist before counting.
    expect((await vm.execute('while true do end', { timeoutMs: 50 })).status).toBe('timeout')
    await usable(vm)
    const workers = sharedWorkerCount()
    const threads = osThreads()
    for (let i = 0; i < 8; i++) {
      const r = await vm.execute('while true do end', { timeoutMs: 50 })
      expect(r.status, brief(r)).toBe('timeout')
    }
    await usable(vm)
    expect(sharedWorkerCount()).toBe(workers)
    expect((await vm.getStatus()).restarts).toBe(9)
    const now = osThreads()
    if (threads !== undefined && now !== undefined) {
      // Each kill would leave a thread if terminate() failed; a little slack for pool threads.
      expect(now, `OS threads ${threads} → ${now}`).toBeLessThanOrEqual(threads + 2)
    }
    await vm.stop()
    expect(sharedWorkerCount(), 'the last VM out terminated its worker').toBe(workers - 1)
  })
})
