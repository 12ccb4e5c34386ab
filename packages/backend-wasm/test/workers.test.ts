import { BackendRegistry } from '@bioxen-luavm/core'
import { describe, expect, it } from 'vitest'
import { fengariBackend, wasmBackend } from '../src/index.js'
import { sharedWorkerCount } from '../src/isolation/worker-pool.js'
import { brief, vmFactory } from './helpers.js'

const makeVM = vmFactory()
const PATHOLOGICAL = 'return string.find(("a"):rep(3e4), ".-.-.-.-b$")'

describe('worker sharing', () => {
  it('VMs share a worker; a hard kill restarts it and only its VMs lose state', async () => {
    const pool = { workers: 1, vmsPerWorker: 4, hardKillGraceMs: 30 }
    const a = await makeVM({ type: 'wasm', isolation: 'worker' }, { ...pool, modules: { m: 'return 7' } })
    const b = await makeVM({ type: 'wasm', isolation: 'worker' }, pool)
    const c = await makeVM({ type: 'wasm', isolation: 'worker' }, pool)
    const elsewhere = await makeVM({ type: 'wasm', isolation: 'worker' }, { ...pool, vmsPerWorker: 5 })
    // One engine per worker: fengari VMs never share a worker (or glue.wasm) with wasm ones.
    const fengari = await makeVM({ type: 'fengari', isolation: 'worker' }, pool)
    const ids = await Promise.all(
      [a, b, c, elsewhere, fengari].map(async (vm) => (await vm.getStatus()).details?.workerId),
    )
    expect(ids[0]).toBe(ids[1])
    expect(ids[1]).toBe(ids[2])
    expect(ids[3], 'other pool settings, other worker').not.toBe(ids[0])
    expect(ids[4], 'another engine, another worker').not.toBe(ids[0])

    for (const vm of [a, b, c, elsewhere, fengari]) await vm.execute('mine = "kept"')
    await b.mount('late', 'return "mounted later"')
    const r = await a.execute(PATHOLOGICAL, { timeoutMs: 150 })
    expect(r.status, brief(r)).toBe('timeout')

    for (const vm of [a, b, c]) {
      const status = await vm.getStatus()
      expect(status.restarts, `${vm.id} reports the restart`).toBe(1)
      const lost = status.details?.stateLost as { vmIds: string[] }
      expect(lost.vmIds.sort()).toEqual([a.id, b.id, c.id].sort())
      expect((await vm.execute('return mine')).values, `${vm.id} lost its globals`).toEqual([null])
    }
    expect((await a.execute('return require("m")')).values, 'config modules come back').toEqual([7])
    expect((await b.execute('return require("late")')).values, 'mounted modules come back').toEqual(['mounted later'])
    expect((await elsewhere.getStatus()).restarts).toBe(0)
    expect((await elsewhere.execute('return mine')).values, 'the other worker kept its state').toEqual(['kept'])
    expect((await fengari.execute('return mine')).values, 'the fengari worker kept its state').toEqual(['kept'])
  })

  it('a soft timeout keeps the worker and the state', async () => {
    const vm = await makeVM({ type: 'wasm', isolation: 'worker' }, { hardKillGraceMs: 2000 })
    await vm.execute('x = 1')
    const r = await vm.execute('while true do end', { timeoutMs: 100 })
    expect(r.status).toBe('timeout')
    // The budget asked for, not what was left of it when the worker started.
    expect(r.error?.message).toBe('execution timed out after 100 ms')
    expect((await vm.getStatus()).restarts).toBe(0)
    expect((await vm.execute('return x')).values).toEqual([1])
  })

  it('an abort cancels softly first, then hard', async () => {
    const vm = await makeVM({ type: 'fengari', isolation: 'worker' }, { hardKillGraceMs: 5000 })
    await vm.execute('x = 1')
    const soft = new AbortController()
    setTimeout(() => soft.abort(), 100)
    const r = await vm.execute('while true do end', { signal: soft.signal, timeoutMs: 60_000 })
    expect(r.status, brief(r)).toBe('killed')
    expect((await vm.execute('return x')).values, 'a soft cancel keeps the state').toEqual([1])

    const fast = await makeVM({ type: 'wasm', isolation: 'worker' }, { hardKillGraceMs: 20 })
    const hard = new AbortController()
    setTimeout(() => hard.abort(), 100)
    const h = await fast.execute(PATHOLOGICAL, { signal: hard.signal, timeoutMs: 60_000 })
    expect(h.status, brief(h)).toBe('killed')
    expect((await fast.getStatus()).restarts).toBe(1)
  })

  it('status does not wait for a busy engine: a neighbour running Lua leaves the last figures', async () => {
    const pool = { workers: 1, vmsPerWorker: 2 }
    const busy = await makeVM({ type: 'wasm', isolation: 'worker' }, pool)
    const idle = await makeVM({ type: 'wasm', isolation: 'worker' }, pool)
    const fresh = (await idle.getStatus()).details
    expect(fresh?.statsStale).toBeUndefined()
    expect(fresh?.workerId).toBe((await busy.getStatus()).details?.workerId)
    const abort = new AbortController()
    let finished = false
    let started: () => void = () => {}
    const inLoop = new Promise<void>((resolve) => {
      started = resolve
    })
    const running = busy
      .execute(
        'print("looping") local t = os.clock() while os.clock() - t < 0.1 do end print("still") while true do end',
        { signal: abort.signal, onStdout: () => started() },
      )
      .finally(() => {
        finished = true
      })
    await inLoop
    const [mine, neighbour] = await Promise.all([busy.getStatus(), idle.getStatus()])
    expect(finished, 'status answered while the chunk still ran').toBe(false)
    expect(mine.details).toMatchObject({ statsStale: true, workerId: fresh?.workerId })
    expect(neighbour.details).toMatchObject({ statsStale: true, workerId: fresh?.workerId })
    abort.abort()
    expect((await running).status).toBe('killed')
  })

  it('stopping a VM kills its running execution, not its neighbours on the worker', async () => {
    const pool = { workers: 1, vmsPerWorker: 8, hardKillGraceMs: 5000 }
    const busy = await makeVM({ type: 'wasm', isolation: 'worker' }, pool)
    const neighbour = await makeVM({ type: 'wasm', isolation: 'worker' }, pool)
    await neighbour.execute('mine = 1')
    expect((await busy.getStatus()).details?.workerId).toBe((await neighbour.getStatus()).details?.workerId)
    const running = busy.execute('print("spinning") while true do end', { timeoutMs: 60_000 })
    await new Promise((resolve) => setTimeout(resolve, 100))
    await busy.stop()
    const r = await running
    expect(r.status, brief(r)).toBe('killed')
    expect((await neighbour.execute('return mine')).values).toEqual([1])
    expect((await neighbour.getStatus()).restarts).toBe(0)
  })

  it.each([0, 10, 25, 50])('VMs can stop while their worker restarts after a hard kill (+%i ms)', async (delay) => {
    const pool = { workers: 1, vmsPerWorker: 8, hardKillGraceMs: 11 }
    const a = await makeVM({ type: 'wasm', isolation: 'worker' }, pool)
    const b = await makeVM({ type: 'wasm', isolation: 'worker' }, pool)
    expect((await a.execute(PATHOLOGICAL, { timeoutMs: 50 })).status).toBe('timeout')
    // The restart is under way (at some stage): stopping both must neither hang nor fail.
    await new Promise((resolve) => setTimeout(resolve, delay))
    await Promise.all([a.stop(), b.stop()])
    const c = await makeVM({ type: 'wasm', isolation: 'worker' }, pool)
    expect((await c.execute('return 1')).values).toEqual([1])
  })

  it('stopping the last VM of a worker terminates it', async () => {
    const before = sharedWorkerCount()
    const vm = await makeVM({ type: 'wasm', isolation: 'worker' }, { workers: 1, vmsPerWorker: 1, hardKillGraceMs: 99 })
    expect(sharedWorkerCount()).toBe(before + 1)
    await vm.stop()
    expect(sharedWorkerCount()).toBe(before)
  })
})

describe('registry integration', () => {
  it('descriptors register, detect and create VMs through a registry', async () => {
    const registry = new BackendRegistry().register(wasmBackend).register(fengariBackend)
    const detected = await registry.detect()
    expect(detected.map((d) => [d.type, d.available])).toEqual([
      ['wasm', true],
      ['fengari', true],
    ])
    const vm = await registry.create('wasm', 'reg-1', { isolation: 'inline', memoryLimitBytes: '64MiB' })
    try {
      expect((await vm.execute('return _VERSION')).values).toEqual(['Lua 5.4'])
    } finally {
      await vm.stop()
    }
    await expect(registry.create('wasm', 'reg-2', { isolation: 'sideways' })).rejects.toMatchObject({
      _tag: 'ConfigError',
    })
  })
})
