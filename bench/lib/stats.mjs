// Small statistics helpers for the benchmarks: times are in milliseconds.

/** Sorted copy. */
export const sorted = (xs) => [...xs].sort((a, b) => a - b)

/** The q-quantile (0..1) of xs, nearest-rank. */
export function quantile(xs, q) {
  const s = sorted(xs)
  if (s.length === 0) return Number.NaN
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]
}

export const median = (xs) => quantile(xs, 0.5)

/** Runs fn n times, returning each duration in ms (hrtime). Awaits promises. */
export async function timeEach(n, fn) {
  const out = new Array(n)
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint()
    await fn(i)
    out[i] = Number(process.hrtime.bigint() - t0) / 1e6
  }
  return out
}

/** Formats ms for tables: µs below 1 ms. */
export function fmt(ms) {
  if (!Number.isFinite(ms)) return 'n/a'
  if (ms < 1) return `${(ms * 1000).toFixed(1)} µs`
  if (ms < 100) return `${ms.toFixed(2)} ms`
  return `${ms.toFixed(0)} ms`
}

/** Formats a ratio with two decimals and a ×. */
export const ratio = (a, b) => `${(a / b).toFixed(2)}×`

/** A markdown table. */
export function mdTable(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

/** Verdict cell: ✅ when ok, ❌ otherwise. */
export const verdict = (ok) => (ok ? '✅' : '❌')
