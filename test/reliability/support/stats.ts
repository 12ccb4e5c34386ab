/** Latency and memory figures the suite prints (never asserts: shared cores make timings noise). */

/** The q-quantile (0..1) of xs, nearest-rank; NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number
}

/** `p50 … p99 … max` of a list of milliseconds, for logs. */
export function latencySummary(ms: readonly number[]): { p50: number; p90: number; p99: number; max: number } {
  return {
    p50: quantile(ms, 0.5),
    p90: quantile(ms, 0.9),
    p99: quantile(ms, 0.99),
    max: ms.length ? Math.max(...ms) : Number.NaN,
  }
}

/** Milliseconds with two decimals. */
export const ms = (x: number): string => `${x.toFixed(2)} ms`

/** Bytes as MiB with one decimal. */
export const mib = (x: number): string => `${(x / 1048576).toFixed(1)} MiB`

/**
 * Runs `fn` over `items` with at most `limit` calls in flight, in order of
 * submission; resolves with the results in input order. A rejection of `fn`
 * is kept as a rejected slot (allSettled semantics), so one failure does not
 * hide what the others did.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array(items.length)
  let next = 0
  const lane = async () => {
    while (next < items.length) {
      const i = next++
      try {
        out[i] = { status: 'fulfilled', value: await fn(items[i] as T, i) }
      } catch (reason) {
        out[i] = { status: 'rejected', reason }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
  return out
}
