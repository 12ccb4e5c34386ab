const units: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
}

/**
 * Parses a byte size: a number of bytes, or text like `"2GB"`, `"512 MiB"`,
 * `"64k"` (binary units, as XCP-ng operators write them). Returns undefined
 * when the text is not a size.
 */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined
  if (typeof value !== 'string') return undefined
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value)
  if (!m) return undefined
  const factor = units[(m[2] ?? '').toLowerCase()]
  return factor === undefined ? undefined : Math.floor(Number(m[1]) * factor)
}
