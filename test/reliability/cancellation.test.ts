import { type ExecResult, type ExecutionJob, isLuaVMError, type VMManager, VMManagerError } from '@bioxen-luavm/core'
import { afterAll, describe, expect, it } from 'vitest'
import { localManager, stopWorkers, VM_KINDS } from './support/backends.js'
import { leakScope } from './support/leaks.js'
import { Rng, seedFrom } from './support/random.js'
import { mapLimit } from './support/stats.js'
import { settleWithin, type Watched } from './support/watchdog.js'
import { installWorkerSpy } from './support/worker-spy.js'
import { type ChunkKind, chunk, ENDLESS } from './support/workload.js'

// Cancellation storms: thousands of executions ended at random moments —
// by an AbortSignal, a deadline, job.cancel(), removeVM and shutdownAll —
// across wasm, fengari and process VMs. What must hold whatever the timing:
// every promise settles (a watchdog lists any that do not), every outcome is
// a result or a typed error, an `ok` result belongs to its own chunk, every
// VM left is usable, and nothing is left running or on disk.
//
// The seed is printed; LUAVM_SEED=<seed> replays a failing storm.

installWorkerSpy()
const scope = leakScope()
const seed = seedFrom(7_357)
console.log(`cancellation storm seed ${seed} (replay with LUAVM_SEED=${seed})`)
const WATCHDOG_S = 60

const KINDS = { w1: VM_KINDS.wasm, w2: VM_KINDS.wasm, f1: VM_KINDS.fengari, p1: VM_KINDS.processPool }
type Kind = keyof typeof VM_KINDS

afterAll(async () => {
  await stopWorkers()
  scope.dispose()
})

type Cancel = 'none' | 'pre-aborted' | 'signal' | 'timeout' | 'job.cancel' | 'cancelJob'

interface Planned {
  i: number
  vmId: string
  kind: ChunkKind
  cancel: Cancel
  delayMs: number
  timeoutMs?: number
  token: string
  code: string
}

/** One storm job: submits, then cancels the way the plan says; resolves with the job and its outcome. */
async function submit(
  manager: VMManager,
  p: Planned,
): Promise<{ job?: ExecutionJob; outcome: PromiseSettledResult<ExecResult> }> {
  const controller = new AbortController()
  if (p.cancel === 'pre-aborted') controller.abort(new Error('aborted before submission'))
  let job: ExecutionJob
  try {
    job = manager.executeAsync(p.vmId, p.code, {
      signal: controller.signal,
      timeoutMs: p.timeoutMs ?? 30_000,
    })
  } catch (error) {
    return { outcome: { status: 'rejected', reason: error } }
  }
  if (p.cancel === 'signal' || p.cancel === 'job.cancel' || p.cancel === 'cancelJob') {
    setTimeout(() => {
      if (p.cancel === 'signal') controller.abort(new Error('storm abort'))
      else if (p.cancel === 'job.cancel') job.cancel()
      else if (!manager.isShutDown) manager.cancelJob(job.id)
    }, p.delayMs)
  }
  const outcome = await job.promise.then(
    (value): PromiseSettledResult<ExecResult> => ({ status: 'fulfilled', value }),
    (reason: unknown): PromiseSettledResult<ExecResult> => ({ status: 'rejected', reason }),
  )
  return { job, outcome }
}

function plan(rng: Rng, n: number, vmIds: readonly string[], kindsOf: (id: string) => Kind): Planned[] {
  return Array.from({ length: n }, (_, i) => {
    const vmId = rng.pick(vmIds)
    const native = kindsOf(vmId).startsWith('process')
    // Endless chunks always get a way to end. Process VMs pay a process
    // spawn per kill, so they draw fewer kills than the in-thread engines.
    const kind = rng.weighted<ChunkKind>({
      quick: 40,
      spin: 20,
      forever: 14,
      pcallForever: 8,
      coroutineForever: 6,
      longCCall: native ? 0.5 : 1.5,
    })
    let cancel = rng.weighted<Cancel>({
      none: ENDLESS.has(kind) ? 0 : 30,
      'pre-aborted': 8,
      signal: native ? 14 : 25,
      timeout: 20,
      'job.cancel': native ? 6 : 12,
      cancelJob: native ? 4 : 8,
    })
    // A hook-proof C call only ends by the hard layer: a deadline or a cancel.
    if (kind === 'longCCall' && cancel === 'none') cancel = 'timeout'
    const token = `st-${i}-${rng.int(0, 0xffffff).toString(16)}`
    return {
      i,
      vmId,
      kind,
      cancel,
      delayMs: rng.int(0, 40),
      ...(cancel === 'timeout' ? { timeoutMs: rng.int(5, 60) } : {}),
      token,
      code: chunk(kind, token, rng),
    }
  })
}

/** Problems with one settled storm job; empty when it is a legal outcome. */
function check(p: Planned, outcome: PromiseSettledResult<ExecResult>, job?: ExecutionJob): string[] {
  const where = `#${p.i} ${p.kind}/${p.cancel} on ${p.vmId}`
  if (outcome.status === 'rejected') {
    // Rejections are for SDK/backend failures and must be typed.
    return isLuaVMError(outcome.reason) ? [] : [`${where}: untyped rejection ${String(outcome.reason)}`]
  }
  const r = outcome.value
  const problems: string[] = []
  if (!['ok', 'killed', 'timeout'].includes(r.status)) {
    problems.push(`${where}: status ${r.status} (${r.error?.message})`)
  }
  if (r.status === 'ok') {
    if (ENDLESS.has(p.kind)) problems.push(`${where}: an endless chunk ended ok`)
    if (r.stdout !== `${p.token}\n${p.token}\n`)
      problems.push(`${where}: ok with foreign output ${JSON.stringify(r.stdout)}`)
  } else if (r.stdout.includes('st-') && !r.stdout.includes(p.token)) {
    problems.push(`${where}: output of another chunk ${JSON.stringify(r.stdout.slice(0, 80))}`)
  }
  if (p.cancel === 'pre-aborted' && (r.status !== 'killed' || r.stdout !== '')) {
    problems.push(`${where}: a pre-aborted job ran (${r.status})`)
  }
  if (p.cancel === 'none' && r.status !== 'ok') problems.push(`${where}: uncancelled job ended ${r.status}`)
  if (job && r.status === 'killed' && job.status !== 'cancelled') {
    problems.push(`${where}: killed result but job status ${job.status}`)
  }
  return problems
}

async function createAll(manager: VMManager, kinds: Record<string, (typeof VM_KINDS)[Kind]>): Promise<void> {
  await Promise.all(Object.entries(kinds).map(([id, k]) => manager.createVM(id, k)))
}

function kindOf(kinds: Record<string, (typeof VM_KINDS)[Kind]>) {
  return (id: string): Kind => {
    const k = kinds[id]
    return (Object.keys(VM_KINDS) as Kind[]).find((name) => VM_KINDS[name] === k) as Kind
  }
}

describe('cancellation storms', () => {
  it('2,000 executions cancelled at random moments (signal, deadline, job.cancel, cancelJob): all settle, VMs stay usable', async () => {
    const rng = new Rng(seed)
    const manager = localManager()
    try {
      await createAll(manager, KINDS)
      const planned = plan(rng, 2_000, Object.keys(KINDS), kindOf(KINDS))
      const runs: Array<Watched<{ job?: ExecutionJob; outcome: PromiseSettledResult<ExecResult> }>> = []
      // 48 in flight: queues on every VM, so cancels hit queued and running work alike.
      const all = mapLimit(planned, 48, (p) => {
        const promise = submit(manager, p)
        runs.push({ label: `#${p.i} ${p.kind}/${p.cancel} on ${p.vmId}`, promise })
        return promise
      })
      const report = await settleWithin([{ label: 'storm', promise: all }], WATCHDOG_S)
      const pending = (await settleWithin(runs, 0.1)).pending
      expect(pending.slice(0, 20), 'jobs still pending after the watchdog').toEqual([])
      expect(report.pending).toEqual([])

      const problems: string[] = []
      const tally: Record<string, number> = {}
      // mapLimit submits in plan order, so runs[i] is planned[i].
      for (const [i, w] of runs.entries()) {
        const settled = await w.promise
        const p = planned[i] as Planned
        problems.push(...check(p, settled.outcome, settled.job))
        const key =
          settled.outcome.status === 'fulfilled'
            ? settled.outcome.value.status
            : `rejected:${(settled.outcome.reason as { _tag?: string })._tag ?? 'untyped'}`
        tally[key] = (tally[key] ?? 0) + 1
      }
      console.log('storm outcomes', tally)
      expect(problems.slice(0, 10)).toEqual([])
      // The storm really cancelled things (not a storm of no-ops).
      expect((tally.killed ?? 0) + (tally.timeout ?? 0)).toBeGreaterThan(500)

      const stats = manager.getStats()
      expect(stats.runningJobs).toBe(0)
      expect(stats.completedJobs + stats.failedJobs + stats.cancelledJobs).toBe(planned.length)
      // Every VM is still usable; hard kills were followed by a restart.
      for (const id of Object.keys(KINDS)) {
        const r = await manager.execute(id, 'return 1 + 1', { timeoutMs: 10_000 })
        expect(r.status, `${id} after the storm`).toBe('ok')
        expect(r.values).toEqual([2])
        const status = await manager.requireVM(id).getStatus()
        expect(status.state).toBe('running')
        console.log(`${id}: ${status.executions} executions, ${status.restarts} restarts`)
      }
    } finally {
      await manager.shutdownAll()
    }
  }, 120_000)

  it('removeVM mid-run: jobs settle as killed (or ok with their own output), the id is reused at once', async () => {
    const rng = new Rng(seed ^ 0x5a5a)
    const manager = localManager()
    const kinds = ['wasm', 'fengari', 'processPool', 'processPersistent'] as const
    const problems: string[] = []
    let removedWhileBusy = 0
    try {
      for (let round = 0; round < 24; round++) {
        const kind = rng.pick(kinds)
        const id = `victim-${round % 4}`
        await manager.createVM(id, VM_KINDS[kind])
        const planned = plan(rng, rng.int(5, 25), [id], () => kind).map((p) => ({
          ...p,
          // removeVM is the cancel here; an endless chunk still gets a (long) deadline.
          cancel: 'none' as Cancel,
          timeoutMs: ENDLESS.has(p.kind) ? 20_000 : 30_000,
        }))
        const watched = planned.map((p) => ({ label: `round ${round} #${p.i} ${p.kind}`, promise: submit(manager, p) }))
        await new Promise((r) => setTimeout(r, rng.int(0, 40)))
        if ((manager.getVMInfo(id)?.activeJobs ?? 0) > 0) removedWhileBusy++
        expect(await manager.removeVM(id)).toBe(true)
        // The id is free as soon as removeVM was called; running it now is a typed error.
        expect(() => manager.executeAsync(id, 'return 1')).toThrow(VMManagerError)
        const report = await settleWithin(watched, WATCHDOG_S)
        expect(report.pending).toEqual([])
        for (const [i, s] of report.settled.entries()) {
          const p = planned[i] as Planned
          if (s.result.status === 'rejected') {
            problems.push(`${s.label}: rejected ${String(s.result.reason)}`)
            continue
          }
          const { outcome, job } = s.result.value
          if (outcome.status === 'fulfilled' && outcome.value.status !== 'ok' && outcome.value.status !== 'killed') {
            problems.push(`${s.label}: ${outcome.value.status}`)
          }
          problems.push(...check({ ...p, cancel: 'signal' }, outcome, job))
        }
      }
      expect(problems.slice(0, 10)).toEqual([])
      expect(removedWhileBusy).toBeGreaterThan(12)
      // A removed id can be created again and works.
      await manager.createVM('victim-0', VM_KINDS.processPool)
      expect((await manager.execute('victim-0', 'return 40 + 2')).values).toEqual([42])
    } finally {
      await manager.shutdownAll()
    }
  }, 120_000)

  it('shutdownAll mid-run (VMs still starting, jobs queued and running): everything settles, nothing survives', async () => {
    const rng = new Rng(seed ^ 0xa5a5)
    for (let round = 0; round < 6; round++) {
      const manager = localManager()
      const kinds = { a: VM_KINDS.wasm, b: VM_KINDS.fengari, c: VM_KINDS.processPool, d: VM_KINDS.processPersistent }
      await createAll(manager, { a: kinds.a, c: kinds.c })
      // Two VMs are still being created when the shutdown comes.
      const creating = [manager.createVM('b', kinds.b), manager.createVM('d', kinds.d)]
      const planned = plan(rng, 60, ['a', 'c'], kindOf(kinds)).map((p) => ({
        ...p,
        cancel: 'none' as Cancel,
        timeoutMs: 20_000,
      }))
      const watched: Watched<unknown>[] = planned.map((p) => ({
        label: `#${p.i} ${p.kind} on ${p.vmId}`,
        promise: submit(manager, p).then(({ outcome, job }) => {
          const problems = check({ ...p, cancel: 'signal' }, outcome, job)
          if (problems.length) throw new Error(problems.join('; '))
        }),
      }))
      await new Promise((r) => setTimeout(r, rng.int(0, 30)))
      const shutdown = manager.shutdownAll()
      watched.push({ label: 'shutdownAll', promise: shutdown })
      creating.forEach((promise, i) => {
        // A create racing the shutdown either finished first or fails with a typed error.
        watched.push({
          label: `createVM ${i}`,
          promise: promise.then(
            () => undefined,
            (error: unknown) => {
              if (!(error instanceof VMManagerError)) throw error
            },
          ),
        })
      })
      const report = await settleWithin(watched, WATCHDOG_S)
      expect(report.pending).toEqual([])
      const failures = report.settled.filter((s) => s.result.status === 'rejected')
      expect(failures.map((f) => `${f.label}: ${String((f.result as PromiseRejectedResult).reason)}`)).toEqual([])
      expect(manager.isShutDown).toBe(true)
      expect(() => manager.listVMs()).toThrow(VMManagerError)
    }
  }, 120_000)

  it('leaves no Lua process, worker thread or temp entry behind', async () => {
    await stopWorkers()
    expect(await scope.check()).toEqual([])
  })
})
