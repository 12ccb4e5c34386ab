import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { type ExecResult, isLuaVMError, type VMManager } from '@bioxen-luavm/core'
import { VM_KINDS } from './backends.js'
import { luaChildren } from './leaks.js'
import type { Rng } from './random.js'
import { latencySummary, mib } from './stats.js'
import { type ChunkKind, chunk, ENDLESS } from './workload.js'

/** One sample of the soak: memory of this process and the latency of the window since the last sample. */
export interface SoakSample {
  atS: number
  rss: number
  heapUsed: number
  external: number
  executions: number
  p50: number
  p99: number
  luaProcesses: number
}

/** What a soak run saw. */
export interface SoakReport {
  seconds: number
  samples: SoakSample[]
  executions: number
  outcomes: Record<string, number>
  /** VMs removed and created again while the workload ran. */
  churned: number
  /** Results that were not what their chunk produces (wrong output, untyped rejection…). */
  problems: string[]
}

/**
 * A garbage collector to call before sampling memory, so samples compare
 * live data rather than GC timing: `global.gc` under --expose-gc, else one
 * obtained by turning the flag on at run time.
 */
export function collector(): () => void {
  const g = globalThis as { gc?: () => void }
  if (typeof g.gc === 'function') return g.gc
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

const TARGETS = ['soak-wasm', 'soak-fengari', 'soak-pool'] as const
const KIND_OF = { 'soak-wasm': VM_KINDS.wasm, 'soak-fengari': VM_KINDS.fengari, 'soak-pool': VM_KINDS.processPool }

/**
 * Runs a mixed workload through `manager` for `seconds`: quick and CPU-bound
 * chunks, endless ones ended by deadlines and cancels, on wasm, fengari
 * and a process pool, while one VM at a time is removed and created again.
 * Samples memory (after a GC) and window latency every `sampleEveryS`.
 */
export async function runSoak(
  manager: VMManager,
  rng: Rng,
  opts: { seconds: number; sampleEveryS: number; concurrency: number; onSample?: (s: SoakSample) => void },
): Promise<SoakReport> {
  await Promise.all(TARGETS.map((id) => manager.createVM(id, KIND_OF[id])))
  const gc = collector()
  const started = performance.now()
  const deadline = started + opts.seconds * 1000
  const outcomes: Record<string, number> = {}
  const problems: string[] = []
  const samples: SoakSample[] = []
  let window: number[] = []
  let executions = 0
  let churned = 0
  let n = 0
  const available = new Set<string>(TARGETS)

  const sample = () => {
    gc()
    const m = process.memoryUsage()
    const lat = latencySummary(window)
    const s: SoakSample = {
      atS: (performance.now() - started) / 1000,
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      executions,
      p50: lat.p50,
      p99: lat.p99,
      luaProcesses: luaChildren().length,
    }
    window = []
    samples.push(s)
    opts.onSample?.(s)
  }

  const lane = async () => {
    while (performance.now() < deadline) {
      const ids = [...available]
      if (ids.length === 0) {
        await new Promise((r) => setTimeout(r, 5))
        continue
      }
      const id = rng.pick(ids)
      const kind = rng.weighted<ChunkKind>({
        quick: 60,
        spin: 20,
        forever: 8,
        pcallForever: 4,
        coroutineForever: 4,
        longCCall: 0,
      })
      const token = `soak-${n++}`
      const controller = new AbortController()
      const cancel = ENDLESS.has(kind) && rng.chance(0.5)
      const timer = cancel ? setTimeout(() => controller.abort(), rng.int(1, 30)) : undefined
      const t0 = performance.now()
      let key: string
      try {
        const r: ExecResult = await manager.execute(id, chunk(kind, token, rng), {
          timeoutMs: ENDLESS.has(kind) ? rng.int(5, 40) : 30_000,
          signal: controller.signal,
        })
        key = r.status
        if (r.status === 'ok' && r.stdout !== `${token}\n${token}\n`) {
          problems.push(`${token} (${kind}) on ${id}: ${JSON.stringify(r.stdout.slice(0, 80))}`)
        }
        if (!ENDLESS.has(kind) && r.status !== 'ok' && r.status !== 'killed') {
          problems.push(`${token} (${kind}) on ${id}: ${r.status} ${r.error?.message ?? ''}`)
        }
      } catch (error) {
        // The VM was removed by the churn while this was queued: a typed rejection is fine.
        key = `rejected:${(error as { _tag?: string })._tag ?? 'untyped'}`
        if (!isLuaVMError(error)) problems.push(`${token} on ${id}: untyped rejection ${String(error)}`)
      } finally {
        clearTimeout(timer)
      }
      window.push(performance.now() - t0)
      executions++
      outcomes[key] = (outcomes[key] ?? 0) + 1
    }
  }

  // Churn: every ~2 s one VM is removed (cancelling its work) and created again.
  const churn = async () => {
    while (performance.now() < deadline - 500) {
      await new Promise((r) => setTimeout(r, rng.int(1500, 2500)))
      if (performance.now() >= deadline - 500) break
      const id = rng.pick(TARGETS)
      available.delete(id)
      await manager.removeVM(id)
      await manager.createVM(id, KIND_OF[id])
      available.add(id)
      churned++
    }
  }

  sample()
  const sampler = setInterval(sample, opts.sampleEveryS * 1000)
  try {
    await Promise.all([...Array.from({ length: opts.concurrency }, lane), churn()])
  } finally {
    clearInterval(sampler)
  }
  sample()
  return { seconds: opts.seconds, samples, executions, outcomes, churned, problems }
}

/**
 * The drift the soak reports: memory from the first sample after warm-up to
 * the last; latency from the first to the last window that saw at least 20
 * executions (the final window can be a sliver).
 */
export function drift(r: SoakReport): { rss: number; heapUsed: number; p50: number; p99: number } {
  const first = r.samples[1] ?? r.samples[0]
  const last = r.samples.at(-1)
  const windows = r.samples.filter((s, i) => i > 0 && s.executions - (r.samples[i - 1]?.executions ?? 0) >= 20)
  const w0 = windows[0]
  const w1 = windows.at(-1)
  return {
    rss: first && last ? last.rss - first.rss : 0,
    heapUsed: first && last ? last.heapUsed - first.heapUsed : 0,
    p50: w0 && w1 ? w1.p50 - w0.p50 : 0,
    p99: w0 && w1 ? w1.p99 - w0.p99 : 0,
  }
}

/** The soak's figures as a text table. */
export function describeSoak(r: SoakReport): string {
  const rows = r.samples.map(
    (s) =>
      `${s.atS.toFixed(0).padStart(5)} s  rss ${mib(s.rss).padStart(10)}  heap ${mib(s.heapUsed).padStart(9)}  ` +
      `external ${mib(s.external).padStart(9)}  exec ${String(s.executions).padStart(7)}  ` +
      `p50 ${Number.isNaN(s.p50) ? '   -' : s.p50.toFixed(2).padStart(7)} ms  p99 ${Number.isNaN(s.p99) ? '   -' : s.p99.toFixed(2).padStart(7)} ms  lua ${s.luaProcesses}`,
  )
  const d = drift(r)
  return [
    `${r.executions} executions in ${r.seconds} s, ${r.churned} VM removals/re-creations; outcomes ${JSON.stringify(r.outcomes)}`,
    ...rows,
    `drift (first window → last): rss ${d.rss >= 0 ? '+' : ''}${mib(d.rss)}, heap ${d.heapUsed >= 0 ? '+' : ''}${mib(d.heapUsed)}, ` +
      `p50 ${d.p50 >= 0 ? '+' : ''}${d.p50.toFixed(2)} ms, p99 ${d.p99 >= 0 ? '+' : ''}${d.p99.toFixed(2)} ms`,
  ].join('\n')
}
