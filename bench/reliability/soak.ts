/**
 * The long soak: a mixed workload (quick, CPU-bound and endless chunks
 * ended by deadlines and cancels; wasm, fengari and a process pool; one VM
 * removed and re-created every ~2 s) for `--seconds`, sampling RSS, heap
 * (after a GC) and window latency every `--every` seconds, then printing the
 * drift from the first window to the last. Exits 1 when a result was wrong
 * or something was left running.
 *
 *   node --expose-gc scripts/run-ts.mjs bench/reliability/soak.ts [--seconds 300] [--every 5] [--concurrency 12] [--seed N]
 */
import { localManager, stopWorkers } from '../../test/reliability/support/backends.js'
import { luaChildren } from '../../test/reliability/support/leaks.js'
import { Rng, randomSeed } from '../../test/reliability/support/random.js'
import { describeSoak, runSoak } from '../../test/reliability/support/soak.js'
import { numberArg } from './args.js'

const seconds = numberArg('seconds', 60)
const every = numberArg('every', 5)
const concurrency = numberArg('concurrency', 12)
const seed = numberArg('seed', randomSeed())
console.error(`soak: ${seconds} s, sample every ${every} s, concurrency ${concurrency}, seed ${seed}`)

const manager = localManager()
const report = await runSoak(manager, new Rng(seed), {
  seconds,
  sampleEveryS: every,
  concurrency,
  onSample: (s) =>
    console.error(
      `  ${s.atS.toFixed(0)} s: ${s.executions} executions, heap ${(s.heapUsed / 1048576).toFixed(1)} MiB, rss ${(s.rss / 1048576).toFixed(1)} MiB`,
    ),
})
await manager.shutdownAll()
await stopWorkers()
await new Promise((r) => setTimeout(r, 500))
const left = luaChildren()
console.log(`seed ${seed}, concurrency ${concurrency}`)
console.log(describeSoak(report))
console.log(`after shutdown: ${left.length} Lua processes left${left.length ? ` (${left.join(', ')})` : ''}`)
for (const p of report.problems.slice(0, 10)) console.log(`  ! ${p}`)
process.exitCode = report.problems.length || left.length ? 1 : 0
