/**
 * Managed VMs — the original library's `VMManager`: many VMs by id, sync
 * and async execution (any number of jobs per VM, each with its own handle;
 * the original kept one future per VM and overwrote it), clusters with
 * broadcast, stats, and a shutdown that leaves nothing running.
 *
 * Run (from the repository root, no build needed):
 *
 *   node scripts/run-ts.mjs examples/usage/managed-vms.ts
 *
 * Uses the `wasm` backend, plus one native `process` VM when `lua5.4` is
 * installed.
 */
import { processBackend } from '@bioxen-luavm/backend-process'
import { wasmBackend } from '@bioxen-luavm/backend-wasm'
import { BackendRegistry, type ExecResult, isLuaVMError, VMManager } from '@bioxen-luavm/core'

const registry = new BackendRegistry().register(wasmBackend).register(processBackend)
const manager = new VMManager({ registry, defaultBackend: 'wasm', maxConcurrentJobs: 8 })

// ---- VMs by id --------------------------------------------------------------
await manager.createVM('calc') // the manager's default backend: wasm
const native = await processBackend.detect()
if (native.available) {
  await manager.createVM('native', { type: 'basic', config: { luaExecutable: 'lua5.4' } })
}
// A duplicate id is a typed error, never a race.
try {
  await manager.createVM('calc')
} catch (error) {
  if (!isLuaVMError(error)) throw error
  console.log(`duplicate id -> ${error._tag}`)
}
console.log(`VMs: ${manager.listVMs().join(', ')}`)

// ---- synchronous execution (the original's execute_vm_sync) ----------------
const answer = await manager.execute('calc', 'return 6 * 7')
console.log(`execute calc -> values ${JSON.stringify(answer.values)}, stdout ${JSON.stringify(answer.stdout)}`)
if (manager.getVM('native')) {
  const version = await manager.execute('native', 'return _VERSION')
  console.log(`execute native -> ${version.values[0]}`)
}

// ---- asynchronous jobs: several per VM, each tracked on its own -------------
await manager.execute('calc', 'function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end')
const jobs = [20, 21, 22].map((n) => manager.executeAsync('calc', `return fib(${n})`, { echoReturnValues: false }))
console.log(`submitted ${jobs.length} jobs on calc: ${jobs.map((j) => j.status).join(', ')}`)
const fibs = await Promise.all(jobs.map((job) => manager.waitForJob(job.id)))
console.log(`jobs done -> ${fibs.map((r) => r.values[0]).join(', ')} (${jobs.map((j) => j.status).join(', ')})`)

// A job can be cancelled; its promise still resolves, with status 'killed'.
const endless = manager.executeAsync('calc', 'while true do end', { timeoutMs: 60_000 })
setTimeout(() => endless.cancel(), 100)
const cancelled = await endless.promise
console.log(`cancelled job -> job ${endless.status}, result ${cancelled.status}`)
console.log(`calc still works -> ${(await manager.execute('calc', 'return fib(10)')).values[0]}`)

// ---- clusters ---------------------------------------------------------------
const cluster = await manager.createCluster('workers', 3, { type: 'wasm' })
console.log(`cluster ${cluster.id}: ${cluster.vmIds.join(', ')}`)

// One job per member; each member computes its share of a sum.
await Promise.all(cluster.vmIds.map((id, i) => manager.execute(id, `part = ${i}`)))
const shares = manager.broadcast(
  'workers',
  'local s = 0 for i = part * 100 + 1, (part + 1) * 100 do s = s + i end return s',
  {
    echoReturnValues: false,
  },
)
const results = await manager.waitForCluster(shares)
let total = 0
for (const id of cluster.vmIds) {
  const r = results[id]
  if (!r) continue
  const value = r.success ? (r as ExecResult).values[0] : undefined
  console.log(`  ${id} -> ${JSON.stringify(value)}`)
  total += typeof value === 'number' ? value : 0
}
console.log(`cluster sum 1..300 = ${total}`)

// Broadcast also takes a glob over VM ids; one member's failure does not
// reject the whole wait.
const mixed = await manager.waitForCluster(
  manager.broadcast('workers_00?', 'if part == 1 then error("member 1 fails") end return part', {
    echoReturnValues: false,
  }),
)
console.log(`glob broadcast -> ${Object.values(mixed).filter((r) => r.success).length} ok, 1 failed`)
console.log(`cluster status: ${JSON.stringify(manager.clusterStatus('workers'))}`)

// ---- stats and shutdown -----------------------------------------------------
const stats = manager.getStats()
console.log(
  `stats: ${stats.totalVMs} VMs ${JSON.stringify(stats.byType)}, jobs completed=${stats.completedJobs} failed=${stats.failedJobs} cancelled=${stats.cancelledJobs}`,
)
console.log(`cleanupCluster removed ${await manager.cleanupCluster('workers')} VMs`)

// Stops every VM (and cancels jobs, closes sessions) in parallel.
await manager.shutdownAll()
try {
  manager.listVMs()
} catch (error) {
  if (!isLuaVMError(error)) throw error
  console.log(`after shutdownAll -> ${error._tag}`)
}
console.log('done')
