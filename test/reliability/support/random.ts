/**
 * Seeded randomness for the reliability suite. Every storm, load mix and
 * fuzz run draws from a {@link Rng} made from a printed seed, so a failure
 * reproduces with `LUAVM_SEED=<seed>`.
 */

/** A small, fast, seedable PRNG (sfc32): the same seed gives the same sequence on every platform. */
export class Rng {
  #a: number
  #b: number
  #c: number
  #d: number

  constructor(readonly seed: number) {
    this.#a = 0x9e3779b9
    this.#b = 0x243f6a88
    this.#c = 0xb7e15162
    this.#d = seed >>> 0
    for (let i = 0; i < 15; i++) this.next()
  }

  /** A float in [0, 1). */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0
    this.#d = (this.#d + 1) | 0
    this.#a = this.#b ^ (this.#b >>> 9)
    this.#b = (this.#c + (this.#c << 3)) | 0
    this.#c = (this.#c << 21) | (this.#c >>> 11)
    this.#c = (this.#c + t) | 0
    return (t >>> 0) / 4294967296
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T
  }

  /** One key of a weight table, chosen in proportion to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as Array<[K, number]>
    const total = entries.reduce((s, [, w]) => s + w, 0)
    let x = this.next() * total
    for (const [k, w] of entries) {
      x -= w
      if (x < 0) return k
    }
    return (entries.at(-1) as [K, number])[0]
  }
}

/**
 * The seed of a run: `LUAVM_SEED` when set (to replay a failure), else
 * `fallback` (fixed seeds keep CI deterministic), else a fresh random one.
 */
export function seedFrom(fallback?: number): number {
  const env = process.env.LUAVM_SEED
  if (env !== undefined && env !== '') {
    const n = Number(env)
    if (!Number.isSafeInteger(n)) throw new Error(`LUAVM_SEED must be an integer, got ${env}`)
    return n >>> 0
  }
  return fallback ?? randomSeed()
}

/** A fresh seed, for the random part of a run (always printed by the caller). */
export function randomSeed(): number {
  return (Math.random() * 2 ** 32) >>> 0
}
