import { afterAll, describe, expect, it } from 'vitest'
import { localManager, stopWorkers } from './support/backends.js'
import { leakScope } from './support/leaks.js'
import { Rng, seedFrom } from './support/random.js'
import { describeSoak, runSoak } from './support/soak.js'
import { within } from './support/watchdog.js'
import { installWorkerSpy } from './support/worker-spy.js'

// The CI-sized soak: ~10 s of mixed work (quick, CPU-bound, endless chunks
// ended by deadlines and cancels; wasm, fengari and a process pool; one VM
// removed and re-created every ~2 s). It asserts that everything settled,
// that every result was its own chunk's, that nothing leaked, and — as a
// memory-leak guard with a bound generous enough for busy shared cores —
// that the heap after a GC did not grow by more than 64 MiB. Latency and
// memory drift are printed; `bench/reliability/soak.ts --seconds N` is the
// long version.
const SECONDS = 10

installWorkerSpy()
const scope = leakScope()
afterAll(async () => {
  await stopWorkers()
  scope.dispose()
})

describe('soak', () => {
  it(`${SECONDS} s of mixed work: everything settles, nothing leaks, the heap stays flat`, async () => {
    const seed = seedFrom(4_242)
    console.log(`soak seed ${seed} (replay with LUAVM_SEED=${seed})`)
    const manager = localManager()
    let report: Awaited<ReturnType<typeof runSoak>>
    try {
      report = await within(
        runSoak(manager, new Rng(seed), { seconds: SECONDS, sampleEveryS: 2, concurrency: 12 }),
        SECONDS + 45,
        'the soak workload',
      )
    } finally {
      await within(manager.shutdownAll(), 30, 'shutdownAll after the soak')
    }
    console.log(describeSoak(report))
    expect(report.problems.slice(0, 5)).toEqual([])
    expect(report.executions).toBeGreaterThan(200)
    expect(report.churned).toBeGreaterThan(0)
    const first = report.samples[1] ?? report.samples[0]
    const last = report.samples.at(-1)
    expect(first && last).toBeTruthy()
    expect((last?.heapUsed ?? 0) - (first?.heapUsed ?? 0)).toBeLessThan(64 * 1024 * 1024)
    await stopWorkers()
    expect(await scope.check()).toEqual([])
  }, 90_000)
})
