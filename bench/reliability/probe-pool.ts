import { readFileSync } from 'node:fs'
import { localManager, stopWorkers, VM_KINDS } from '../../test/reliability/support/backends.js'
import { Rng } from '../../test/reliability/support/random.js'
import { type ChunkKind, chunk, ENDLESS } from '../../test/reliability/support/workload.js'
import { numberArg } from './args.js'

const seconds = numberArg('seconds', 60)
const churnOn = numberArg('churn', 1) === 1
const lanes = numberArg('lanes', 12)
const manager = localManager()
const rng = new Rng(numberArg('seed', 1))
const ids = ['p1', 'p2']
for (const id of ids) await manager.createVM(id, VM_KINDS.processPool)
const deadline = performance.now() + seconds * 1000
const available = new Set(ids)
let n = 0
let stuck = 0
const stats: Record<string, number> = {}
const state = (pid: number) => {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const wchan = readFileSync(`/proc/${pid}/wchan`, 'utf8')
    return `${s.slice(s.lastIndexOf(')') + 2).split(' ')[0]} wchan=${wchan}`
  } catch {
    return 'gone'
  }
}
const lane = async () => {
  while (performance.now() < deadline) {
    const id = rng.pick([...available])
    if (!id) { await new Promise((r) => setTimeout(r, 5)); continue }
    const kind = rng.weighted<ChunkKind>({ quick: 60, spin: 20, forever: 8, pcallForever: 4, coroutineForever: 4, longCCall: 0 })
    const token = `q-${n++}`
    const controller = new AbortController()
    const cancel = ENDLESS.has(kind) && rng.chance(0.5)
    const timer = cancel ? setTimeout(() => controller.abort(), rng.int(1, 30)) : undefined
    const watch = !ENDLESS.has(kind)
      ? setTimeout(async () => {
          stuck++
          const vm = manager.getVM(id)
          const st = vm ? await vm.getStatus() : undefined
          const workers = (st?.details?.workers ?? []) as Array<{ pid: number; busy: boolean; generation: number; queued: number; dead: boolean; executions: number }>
          console.log(`STUCK ${token} (${kind}) on ${id}: ${JSON.stringify(workers.map((w) => ({ ...w, state: state(w.pid) })))}`)
        }, 4000)
      : undefined
    try {
      const r = await manager.execute(id, chunk(kind, token, rng), { timeoutMs: ENDLESS.has(kind) ? rng.int(5, 40) : 6000, signal: controller.signal })
      const key = `${kind === 'quick' || kind === 'spin' ? 'finite' : 'endless'}:${r.status}`
      stats[key] = (stats[key] ?? 0) + 1
      if (!ENDLESS.has(kind) && r.status !== 'ok') console.log(`BAD ${token} (${kind}) on ${id}: ${r.status} ${r.error?.message} ${Math.round(r.durationMs)} ms`)
    } catch (e) {
      const key = `rejected:${(e as { _tag?: string })._tag}`
      stats[key] = (stats[key] ?? 0) + 1
    } finally {
      clearTimeout(timer)
      clearTimeout(watch)
    }
  }
}
const churn = async () => {
  while (churnOn && performance.now() < deadline - 500) {
    await new Promise((r) => setTimeout(r, rng.int(1500, 2500)))
    const id = rng.pick(ids)
    available.delete(id)
    await manager.removeVM(id)
    await manager.createVM(id, VM_KINDS.processPool)
    available.add(id)
  }
}
await Promise.all([...Array.from({ length: lanes }, lane), churn()])
console.log(`${n} executions, ${stuck} stuck`, stats)
await manager.shutdownAll()
await stopWorkers()
