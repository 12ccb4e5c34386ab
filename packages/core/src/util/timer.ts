/** Longest delay `setTimeout` holds (2^31 - 1 ms, about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2_147_483_647

/** A timer from {@link startTimer}. */
export interface Timer {
  /** Stops the timer; the callback will not run. Idempotent. */
  cancel(): void
}

/**
 * `setTimeout` for a delay of any length. JavaScript timers fire a delay
 * above 2^31 - 1 ms (or `Infinity`) at once, which would turn a long
 * deadline into an immediate one; this chains timers until the delay has
 * passed. `Infinity` never fires; a negative delay or NaN fires on the
 * next turn. Every timer the SDK arms from a deadline goes through here.
 *
 * @param delayMs - milliseconds to wait
 * @param callback - what to run once the delay has passed
 * @param options - `unref: true` lets the process exit while the timer is pending (Node)
 * @returns a handle whose `cancel()` stops the timer
 */
export function startTimer(delayMs: number, callback: () => void, options: { unref?: boolean } = {}): Timer {
  let handle: ReturnType<typeof setTimeout> | undefined
  let cancelled = false
  const arm = (ms: number, end: number) => {
    handle = setTimeout(
      () => {
        const left = end - performance.now()
        if (cancelled) return
        if (left > 0) arm(left, end)
        else callback()
      },
      Math.min(Math.max(ms, 0), MAX_TIMER_MS),
    )
    if (options.unref) (handle as { unref?: () => void }).unref?.()
  }
  const delay = Number.isNaN(delayMs) ? 0 : delayMs
  if (delay !== Number.POSITIVE_INFINITY) {
    // A timer may fire a little early; only the chained part re-checks the clock.
    if (delay <= MAX_TIMER_MS) {
      handle = setTimeout(callback, Math.max(delay, 0))
      if (options.unref) (handle as { unref?: () => void }).unref?.()
    } else arm(MAX_TIMER_MS, performance.now() + delay)
  }
  return {
    cancel() {
      cancelled = true
      if (handle !== undefined) clearTimeout(handle)
    },
  }
}
