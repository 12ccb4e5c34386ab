import type { ExecResult, VMManager } from '@bioxen-luavm/core'
import type { Rng } from './random.js'
import { latencySummary, mapLimit } from './stats.js'

/** One VM of the load mix and how often it is picked. */
export interface LoadTarget {
  id: string
  /** Backend type the results must carry (catches a result delivered to the wrong caller). */
  type: string
  weight: number
}

/** What {@link runLoad} measured and found. */
export interface LoadReport {
  executions: number
  concurrency: number
  wallMs: number
  /** Submission → settlement of each execution, in ms (queueing included). */
  latencies: number[]
  byType: Record<string, number[]>
  /** Every execution whose result was not exactly what its own chunk produces. */
  problems: string[]
  /** Tokens seen in more than one result, or in none. */
  duplicated: string[]
  lost: string[]
}

/**
 * Runs `executions` chunks through `manager` with at most `concurrency` in
 * flight, spread over `targets` by weight. Each chunk prints a token unique
 * to it and returns its index and token, so a result that is lost,
 * duplicated or handed to the wrong caller (another chunk's output, another
 * backend's result) is detected exactly.
 */
export async function runLoad(
  manager: VMManager,
  targets: readonly LoadTarget[],
  executions: number,
  concurrency: number,
  rng: Rng,
): Promise<LoadReport> {
  const weights = Object.fromEntries(targets.map((t, i) => [String(i), t.weight])) as Record<string, number>
  const plan = Array.from({ length: executions }, (_, i) => {
    const target = targets[Number(rng.weighted(weights))] as LoadTarget
    const token = `tok-${i}-${rng.int(0, 0xffffff).toString(16)}`
    const echo = rng.chance(0.5)
    // Some chunks do a little work, so executions overlap inside the pool and workers.
    const work = rng.chance(0.2) ? `local s = 0 for k = 1, ${rng.int(100, 5000)} do s = s + k end ` : ''
    return { i, target, token, echo, code: `${work}print("${token}") return ${i}, "${token}"` }
  })
  const latencies: number[] = new Array(executions)
  const byType: Record<string, number[]> = {}
  const problems: string[] = []
  const seen = new Map<string, number>()
  const started = performance.now()
  const settled = await mapLimit(plan, concurrency, async (p) => {
    const t0 = performance.now()
    try {
      return await manager.execute(p.target.id, p.code, { echoReturnValues: p.echo, timeoutMs: 30_000 })
    } finally {
      latencies[p.i] = performance.now() - t0
    }
  })
  const wallMs = performance.now() - started
  settled.forEach((s, i) => {
    const p = plan[i] as (typeof plan)[number]
    const list = byType[p.target.type] ?? []
    byType[p.target.type] = list
    list.push(latencies[i] as number)
    if (s.status === 'rejected') {
      problems.push(`#${i} on ${p.target.id} rejected: ${String(s.reason)}`)
      return
    }
    const r: ExecResult = s.value
    // A result names each token once, however often its stdout repeats it (the echo does).
    for (const t of new Set(Array.from(r.stdout.matchAll(/tok-\d+-[0-9a-f]+/g), (m) => m[0]))) {
      seen.set(t, (seen.get(t) ?? 0) + 1)
    }
    const stdout = p.echo ? `${p.token}\n${p.i}\t${p.token}\n` : `${p.token}\n`
    if (
      r.status !== 'ok' ||
      r.backend !== p.target.type ||
      r.stdout !== stdout ||
      r.stderr !== '' ||
      r.values.length !== 2 ||
      r.values[0] !== p.i ||
      r.values[1] !== p.token
    ) {
      problems.push(
        `#${i} on ${p.target.id}: expected ${JSON.stringify(stdout)} from ${p.target.type}, got ${JSON.stringify({ status: r.status, backend: r.backend, stdout: r.stdout, values: r.values, error: r.error?.message })}`,
      )
    }
  })
  const duplicated = [...seen].filter(([, n]) => n > 1).map(([t]) => t)
  const lost = plan.filter((p) => !seen.has(p.token)).map((p) => p.token)
  return { executions, concurrency, wallMs, latencies, byType, problems, duplicated, lost }
}

/** Human-readable figures of a load run. */
export function describeLoad(r: LoadReport): string {
  const all = latencySummary(r.latencies)
  const lines = [
    `${r.executions} executions at concurrency ${r.concurrency} in ${(r.wallMs / 1000).toFixed(2)} s (${(r.executions / (r.wallMs / 1000)).toFixed(0)}/s)`,
    `  all      p50 ${all.p50.toFixed(2)} ms  p90 ${all.p90.toFixed(2)} ms  p99 ${all.p99.toFixed(2)} ms  max ${all.max.toFixed(2)} ms`,
  ]
  for (const [type, xs] of Object.entries(r.byType)) {
    const s = latencySummary(xs)
    lines.push(`  ${type.padEnd(8)} p50 ${s.p50.toFixed(2)} ms  p99 ${s.p99.toFixed(2)} ms  (${xs.length} executions)`)
  }
  lines.push(`  lost ${r.lost.length}, duplicated ${r.duplicated.length}, wrong ${r.problems.length}`)
  return lines.join('\n')
}
