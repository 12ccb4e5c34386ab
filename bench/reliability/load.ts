/**
 * The full load run of the reliability suite: 10,000 executions at
 * concurrency 64 through one VMManager, mixed over wasm (2 VMs), fengari
 * and a process pool, each chunk printing a token of its own. Prints the
 * figures (stdout, for bench/RESULTS.md); progress goes to stderr. Exits 1
 * when a result was lost, duplicated or misattributed.
 *
 *   node --expose-gc scripts/run-ts.mjs bench/reliability/load.ts [--executions 10000] [--concurrency 64] [--seed N]
 */
import { localManager, stopWorkers, VM_KINDS } from '../../test/reliability/support/backends.js'
import { describeLoad, type LoadTarget, runLoad } from '../../test/reliability/support/load.js'
import { Rng, randomSeed } from '../../test/reliability/support/random.js'
import { numberArg } from './args.js'

const executions = numberArg('executions', 10_000)
const concurrency = numberArg('concurrency', 64)
const seed = numberArg('seed', randomSeed())

const manager = localManager()
const targets: LoadTarget[] = [
  { id: 'wasm-a', type: 'wasm', weight: 3 },
  { id: 'wasm-b', type: 'wasm', weight: 3 },
  { id: 'fengari-a', type: 'fengari', weight: 2 },
  { id: 'pool-a', type: 'process', weight: 4 },
]
await Promise.all([
  manager.createVM('wasm-a', VM_KINDS.wasm),
  manager.createVM('wasm-b', VM_KINDS.wasm),
  manager.createVM('fengari-a', VM_KINDS.fengari),
  manager.createVM('pool-a', VM_KINDS.processPool),
])
console.error(`load: ${executions} executions, concurrency ${concurrency}, seed ${seed}`)
const report = await runLoad(manager, targets, executions, concurrency, new Rng(seed))
await manager.shutdownAll()
await stopWorkers()
console.log(`seed ${seed}; VMs: 2 × wasm (worker), 1 × fengari (worker), 1 × process pool (lua5.4, 2 workers)`)
console.log(describeLoad(report))
for (const p of report.problems.slice(0, 10)) console.log(`  ! ${p}`)
process.exitCode = report.problems.length || report.lost.length || report.duplicated.length ? 1 : 0
