/**
 * The watchdog of the storm and soak tests: every promise the SDK hands out
 * must settle. A hang is the failure mode that a plain `await` turns into a
 * vitest timeout with no information, so this reports *which* promises are
 * still pending after the deadline instead.
 */

/** A promise with a label for the report. */
export interface Watched<T> {
  label: string
  promise: Promise<T>
}

/** What {@link settleWithin} found. */
export interface WatchReport<T> {
  settled: Array<{ label: string; result: PromiseSettledResult<T> }>
  /** Labels of promises still pending at the deadline (empty when all settled). */
  pending: string[]
}

/**
 * Waits until every promise settled or `seconds` passed, whichever comes
 * first. Never rejects: the caller asserts on `pending` (and on what
 * settled), so the failure message lists the stuck work.
 */
export async function settleWithin<T>(watched: readonly Watched<T>[], seconds: number): Promise<WatchReport<T>> {
  const results: Array<PromiseSettledResult<T> | undefined> = new Array(watched.length)
  const all = Promise.all(
    watched.map((w, i) =>
      w.promise.then(
        (value) => {
          results[i] = { status: 'fulfilled', value }
        },
        (reason: unknown) => {
          results[i] = { status: 'rejected', reason }
        },
      ),
    ),
  )
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, seconds * 1000)
  })
  await Promise.race([all, deadline])
  clearTimeout(timer)
  const settled: WatchReport<T>['settled'] = []
  const pending: string[] = []
  watched.forEach((w, i) => {
    const r = results[i]
    if (r) settled.push({ label: w.label, result: r })
    else pending.push(w.label)
  })
  return { settled, pending }
}

/** Races `promise` against a deadline; rejects with a message naming `what` when it does not settle in time. */
export async function within<T>(promise: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`watchdog: ${what} still pending after ${seconds} s`)), seconds * 1000)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}
