import {
  type ExecutionJob,
  ExecutionKilledError,
  LuaMemoryError,
  type VMManager,
  VMTimeoutError,
} from '@bioxen-luavm/core'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { brief, localManager, stopWorkers, VM_KINDS } from './support/backends.js'
import { leakScope, luaChildren } from './support/leaks.js'
import { within } from './support/watchdog.js'
import { installWorkerSpy, workerRunning } from './support/worker-spy.js'

// Crash recovery: the engine under a running chunk dies — a native lua
// process killed by a signal, a worker thread terminated or out of heap,
// a hard deadline on a C call the hook cannot interrupt. That execution
// gets a result (killed / timeout / memory) or, with throwOnError, the typed
// error; the VM recovers by itself, says so in `restarts`, and the next
// execution works on a fresh engine.
//
// backend-wasm has no crash hook; worker threads are found and terminated
// through support/worker-spy.ts (see there).

installWorkerSpy()
const scope = leakScope()
let manager: VMManager

beforeEach(async () => {
  await manager?.shutdownAll()
  manager = localManager()
})

afterAll(async () => {
  await manager?.shutdownAll()
  await stopWorkers()
  scope.dispose()
})

interface WorkerInfo {
  pid: number
  busy: boolean
  generation: number
}

async function workers(id: string): Promise<WorkerInfo[]> {
  return ((await manager.requireVM(id).getStatus()).details?.workers ?? []) as WorkerInfo[]
}

/** The pid of the worker process running a chunk on VM `id`, once the chunk has started. */
async function busyPid(id: string, job: ExecutionJob): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const busy = (await workers(id)).find((w) => w.busy)
    if (busy && job.status === 'running') {
      // Let the chunk get past the driver into Lua (it prints, then loops).
      await new Promise((r) => setTimeout(r, 30))
      return busy.pid
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`no busy worker on ${id}`)
}

async function restarts(id: string): Promise<number> {
  return (await manager.requireVM(id).getStatus()).restarts
}

const SPIN = 'print("started") io.stdout:flush() local n = 0 while true do n = n + 1 end'

describe('process backend: the lua interpreter dies under a chunk', () => {
  it.each(['SIGKILL', 'SIGSEGV', 'SIGTERM'] as const)(
    'persistent mode, %s: the execution ends killed, the VM restarts its worker, state is fresh',
    async (signal) => {
      await manager.createVM('p', VM_KINDS.processPersistent)
      await manager.execute('p', 'counter = 41')
      const [before] = await workers('p')
      const job = manager.executeAsync('p', SPIN, { timeoutMs: 30_000 })
      const pid = await busyPid('p', job)
      expect(pid).toBe(before?.pid)
      process.kill(pid, signal)
      const r = await within(job.promise, 15, 'the execution whose process was killed')
      expect(r.status, brief(r)).toBe('killed')
      expect(r.error?.message).toContain(signal)
      expect(r.stdout).toBe('started\n') // what was pushed before the crash survives
      expect(job.status).toBe('failed') // nobody cancelled it: the engine failed under it
      // Recovered: a new process, counted, with fresh state.
      const next = await manager.execute('p', 'return counter, 1 + 1')
      expect(next.status).toBe('ok')
      expect(next.values).toEqual([null, 2])
      expect(await restarts('p')).toBe(1)
      const [after] = await workers('p')
      expect(after?.pid).not.toBe(pid)
      expect(after?.generation).toBe(2)
    },
    30_000,
  )

  it('persistent mode with throwOnError: the crash rejects with ExecutionKilledError', async () => {
    await manager.createVM('p', VM_KINDS.processPersistent)
    const job = manager.executeAsync('p', SPIN, { timeoutMs: 30_000, throwOnError: true })
    process.kill(await busyPid('p', job), 'SIGKILL')
    const error = await within(
      job.promise.then(
        () => undefined,
        (e: unknown) => e,
      ),
      15,
      'the crashed execution',
    )
    expect(error).toBeInstanceOf(ExecutionKilledError)
    expect((error as ExecutionKilledError)._tag).toBe('ExecutionKilledError')
    expect((await manager.execute('p', 'return 7')).values).toEqual([7])
  })

  it('pool mode: killing one busy worker fails only its execution; the other worker finishes; the slot is replaced', async () => {
    await manager.createVM('pool', VM_KINDS.processPool)
    const victim = manager.executeAsync('pool', SPIN, { timeoutMs: 30_000 })
    const pid = await busyPid('pool', victim)
    const bystander = manager.executeAsync(
      'pool',
      'local t = os.clock() while os.clock() - t < 0.3 do end return "bystander"',
      { timeoutMs: 30_000 },
    )
    await new Promise((r) => setTimeout(r, 50))
    process.kill(pid, 'SIGKILL')
    const [r, other] = await within(Promise.all([victim.promise, bystander.promise]), 15, 'pool executions')
    expect(r.status, brief(r)).toBe('killed')
    expect(other.status, brief(other)).toBe('ok')
    expect(other.values).toEqual(['bystander'])
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => manager.execute('pool', `return ${i}`)))
    expect(results.map((x) => x.values[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    expect(await restarts('pool')).toBe(1)
    const now = await workers('pool')
    expect(now).toHaveLength(2)
    expect(now.map((w) => w.pid)).not.toContain(pid)
  })

  it('an idle worker killed between executions is replaced before the next one', async () => {
    await manager.createVM('p', VM_KINDS.processPersistent)
    const [w] = await workers('p')
    process.kill(w?.pid as number, 'SIGKILL')
    for (let i = 0; i < 100 && (await restarts('p')) === 0; i++) await new Promise((r) => setTimeout(r, 20))
    const r = await manager.execute('p', 'return "fresh"')
    expect(r.status, brief(r)).toBe('ok')
    expect(r.values).toEqual(['fresh'])
    expect(await restarts('p')).toBe(1)
  })
})

describe('wasm and fengari: the worker thread dies under a chunk', () => {
  // One worker for these VMs (a pool of their own: `workers: 1`), so the
  // neighbour shares the crashed thread.
  const oneWorker = { workers: 1 }

  it.each(['wasm', 'fengari'] as const)(
    '%s: a worker thread terminated mid-execution — killed result, every VM on it restarts, the next execution works',
    async (type) => {
      await manager.createVM('victim', { type, config: oneWorker })
      await manager.createVM('neighbour', { type, config: oneWorker })
      await manager.execute('neighbour', 'x = 5')
      const marker = `crash-me-${type}`
      const job = manager.executeAsync('victim', `local n = 0 while true do n = n + 1 end -- ${marker}`, {
        timeoutMs: 30_000,
      })
      await new Promise((r) => setTimeout(r, 100))
      const thread = workerRunning(marker)
      expect(thread, 'the worker thread running the chunk').toBeDefined()
      await thread?.terminate()
      const r = await within(job.promise, 15, 'the execution whose worker died')
      expect(r.status, brief(r)).toBe('killed')
      expect(r.error?.message).toMatch(/worker/)
      expect(job.status).toBe('failed')
      const next = await manager.execute('victim', 'return 6 * 7')
      expect(next.status, brief(next)).toBe('ok')
      expect(next.values).toEqual([42])
      expect(await restarts('victim')).toBe(1)
      // The neighbour lost its state with the thread, and was told.
      expect(await restarts('neighbour')).toBe(1)
      expect((await manager.execute('neighbour', 'return x')).values).toEqual([null])
      const details = (await manager.requireVM('neighbour').getStatus()).details
      expect(details?.stateLost).toMatchObject({ count: 1, vmIds: expect.arrayContaining(['victim', 'neighbour']) })
    },
    30_000,
  )

  it.each(['wasm', 'fengari'] as const)(
    '%s: a C call the hook cannot stop hits the hard deadline — timeout, worker restarted, typed VMTimeoutError with throwOnError',
    async (type) => {
      await manager.createVM('c', { type, config: oneWorker })
      await manager.execute('c', 'y = 1')
      const r = await within(
        manager.execute('c', 'return string.find(("a"):rep(30000), ".-.-.-.-b$")', { timeoutMs: 150 }),
        15,
        'the hard deadline',
      )
      expect(r.status, brief(r)).toBe('timeout')
      expect(await restarts('c')).toBe(1)
      expect((await manager.execute('c', 'return y')).values).toEqual([null])
      const typed = await manager
        .execute('c', 'return string.find(("a"):rep(30000), ".-.-.-.-b$")', { timeoutMs: 150, throwOnError: true })
        .then(
          () => undefined,
          (e: unknown) => e,
        )
      expect(typed).toBeInstanceOf(VMTimeoutError)
      expect(await restarts('c')).toBe(2)
      expect((await manager.execute('c', 'return "alive"')).values).toEqual(['alive'])
    },
    30_000,
  )

  it('fengari: a worker that runs out of V8 heap ends the execution with memory and restarts', async () => {
    await manager.createVM('heap', { type: 'fengari', config: { workers: 1, workerMaxHeapMb: 48 } })
    const r = await within(
      manager
        .execute('heap', 'local t = {} for i = 1, 1e8 do t[i] = {i, tostring(i)} end', {
          timeoutMs: 60_000,
          throwOnError: true,
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        ),
      60,
      'the out-of-heap execution',
    )
    expect(r).toBeInstanceOf(LuaMemoryError)
    expect(await restarts('heap')).toBe(1)
    expect((await manager.execute('heap', 'return #("ok")')).values).toEqual([2])
  }, 70_000)
})

describe('after the crashes', () => {
  it('no Lua process, worker thread or temp entry is left', async () => {
    await manager.shutdownAll()
    await stopWorkers()
    expect(luaChildren()).toEqual([])
    expect(await scope.check()).toEqual([])
  })
})
