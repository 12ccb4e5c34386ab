/**
 * Runs tasks one at a time (or `limit` at a time) in arrival order. A task
 * whose signal aborts while it waits never runs: its promise rejects with the
 * signal's reason, so callers can map it to a `killed` result.
 */
export class TaskQueue {
  #active = 0
  readonly #waiting: Array<() => void> = []
  constructor(readonly limit = 1) {}

  /** Tasks running now. */
  get active(): number {
    return this.#active
  }
  /** Tasks waiting for a slot. */
  get pending(): number {
    return this.#waiting.length
  }

  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#acquire(signal)
    try {
      return await task()
    } finally {
      this.#release()
    }
  }

  #acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    if (this.#active < this.limit) {
      this.#active++
      return Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort)
        this.#active++
        resolve()
      }
      const onAbort = () => {
        const i = this.#waiting.indexOf(grant)
        if (i >= 0) this.#waiting.splice(i, 1)
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiting.push(grant)
    })
  }

  #release(): void {
    this.#active--
    this.#waiting.shift()?.()
  }
}
