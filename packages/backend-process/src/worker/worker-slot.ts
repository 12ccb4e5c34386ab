import { type DriverHello, InteractiveSessionError, TaskQueue, VMStateError } from '@bioxen-luavm/core'
import type { DriverWorker, WorkerExecOptions, WorkerOutcome } from './driver-worker.js'
import type { SpawnedWorker } from './spawn-worker.js'

/** What a slot reports to its owner. */
export interface SlotHooks {
  /** A dead worker was replaced by a fresh one (state is gone). */
  onReplaced?(slot: WorkerSlot): void
  /** Replacing a dead worker failed. */
  onReplaceFailed?(slot: WorkerSlot, error: unknown): void
}

/** An outcome plus the worker generation that produced it. */
export interface SlotOutcome {
  outcome: WorkerOutcome
  generation: number
}

/**
 * A place for one worker process: runs executions on it one at a time, in
 * arrival order, and replaces the process when it dies (killed on a
 * deadline, cancelled, crashed, `os.exit`). Each replacement starts a new
 * *generation*: Lua state lives exactly as long as one generation, which is
 * how sessions pinned to a slot learn that their state is gone.
 */
export class WorkerSlot {
  readonly #spawn: () => Promise<SpawnedWorker>
  readonly #hooks: SlotHooks
  readonly #queue = new TaskQueue(1)
  readonly #generationEnded = new Set<(generation: number) => void>()
  #worker: DriverWorker | undefined
  #hello: DriverHello | undefined
  #generation = 0
  #starting: Promise<DriverWorker> | undefined
  #stopped = false

  /**
   * @param index - position in its pool, for status details
   * @param spawn - starts a ready worker
   * @param hooks - replacement notifications
   */
  constructor(
    readonly index: number,
    spawn: () => Promise<SpawnedWorker>,
    hooks: SlotHooks = {},
  ) {
    this.#spawn = spawn
    this.#hooks = hooks
  }

  /** Number of the current worker process (1 for the first, +1 per replacement). */
  get generation(): number {
    return this.#generation
  }

  /** Hello of the latest worker. */
  get hello(): DriverHello | undefined {
    return this.#hello
  }

  /** Executions running or waiting on this slot. */
  get load(): number {
    return this.#queue.active + this.#queue.pending
  }

  /** True when a live worker sits idle here. */
  get idle(): boolean {
    return this.load === 0 && this.#worker !== undefined && !this.#worker.dead
  }

  /** The current worker, if any. */
  get worker(): DriverWorker | undefined {
    return this.#worker
  }

  /** Calls `listener(generation)` when a generation's process ends; returns an unsubscribe function. */
  onGenerationEnded(listener: (generation: number) => void): () => void {
    this.#generationEnded.add(listener)
    return () => this.#generationEnded.delete(listener)
  }

  /** Makes sure a live worker is here, starting one if needed. */
  ensure(): Promise<DriverWorker> {
    if (this.#stopped) return Promise.reject(new VMStateError('the worker slot was stopped'))
    const w = this.#worker
    // A worker being killed is as good as gone: wait for its end (its death
    // starts the replacement), then hand out the replacement.
    if (w?.dying) return w.exited.then(() => this.ensure())
    if (w && !w.dead) return Promise.resolve(w)
    this.#starting ??= this.#startNext().finally(() => {
      this.#starting = undefined
    })
    return this.#starting
  }

  /**
   * Runs a chunk on this slot's worker after the executions queued before
   * it. With `generation`, refuses to run on any other generation (a
   * session whose Lua state died must not silently continue on a fresh one).
   */
  run(code: string | Uint8Array, opts: WorkerExecOptions, generation?: number): Promise<SlotOutcome> {
    return this.#queue.run(async () => {
      if (generation !== undefined && (this.#generation !== generation || this.#worker?.dead !== false)) {
        throw new InteractiveSessionError(
          'the Lua process of this session ended (its state is gone); open a new session',
          { details: { generation, current: this.#generation } },
        )
      }
      const worker = await this.ensure()
      const gen = this.#generation
      // ensure() may have waited for a dying worker's replacement: a session's state did not survive it.
      if (generation !== undefined && gen !== generation) {
        throw new InteractiveSessionError(
          'the Lua process of this session ended (its state is gone); open a new session',
          { details: { generation, current: gen } },
        )
      }
      const outcome = await worker.exec(code, opts)
      return { outcome, generation: gen }
    }, opts.signal)
  }

  /** Stops the slot's worker (gracefully unless `force`) and replaces it no more. */
  async stop(options: { force?: boolean } = {}): Promise<void> {
    this.#stopped = true
    await this.#starting?.catch(() => {})
    await this.#worker?.stop(options)
  }

  async #startNext(): Promise<DriverWorker> {
    const { worker, hello } = await this.#spawn()
    if (this.#stopped) {
      await worker.stop({ force: true })
      throw new VMStateError('the worker slot was stopped while its worker started')
    }
    const replacing = this.#generation > 0
    this.#worker = worker
    this.#hello = hello
    this.#generation++
    worker.onDeath(() => this.#onDeath(worker))
    if (replacing) this.#hooks.onReplaced?.(this)
    return worker
  }

  #onDeath(worker: DriverWorker): void {
    if (this.#worker !== worker) return
    const ended = this.#generation
    for (const listener of [...this.#generationEnded]) {
      try {
        listener(ended)
      } catch {
        // One listener's bug must not stop the others.
      }
    }
    if (this.#stopped) return
    // Replace right away, so the next execution (or an idle pool member)
    // does not pay for the spawn.
    this.ensure().catch((error: unknown) => {
      if (!this.#stopped) this.#hooks.onReplaceFailed?.(this, error)
    })
  }
}
