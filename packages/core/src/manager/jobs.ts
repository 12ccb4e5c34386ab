import type { ExecResult } from '../contract/types.js'
import { ExecutionKilledError, isLuaVMError, type LuaVMError, VMManagerError } from '../errors/index.js'
import { newId } from '../util/ids.js'

/**
 * Where a job is:
 * - `pending`: waiting for a slot of the manager (see `maxConcurrentJobs`);
 * - `running`: handed to its VM (which may still queue it behind that VM's
 *   earlier work);
 * - `done`: the chunk ran and succeeded (`result.success`);
 * - `failed`: the chunk ran and did not succeed (Lua error, timeout, memory,
 *   output limit), or the SDK/backend failed and the promise rejected;
 * - `cancelled`: `cancel()` (or the caller's signal, `removeVM`, shutdown)
 *   stopped it; its result, if any, has status `killed`.
 */
export type JobStatus = 'pending' | 'running' | 'done' | 'failed' | 'cancelled'

/** Options of a job. */
export interface ExecutionJobInit {
  /** Job id; generated when absent. */
  id?: string
  vmId: string
  /** A caller's signal; aborting it cancels the job like `cancel()` does. */
  signal?: AbortSignal
}

/**
 * A handle on one execution submitted with `VMManager.executeAsync`. Every
 * job has its own id, promise and cancel switch, so any number of jobs can
 * be in flight on one VM (the original kept one future per VM and overwrote
 * it).
 *
 * `promise` settles exactly like `BaseLuaVM.execute`: it resolves with the
 * result for everything the Lua program did (including `killed` after a
 * cancel) and rejects only when the SDK or backend failed (or with
 * `throwOnError`).
 */
export class ExecutionJob {
  /** Unique job id. */
  readonly id: string
  /** The VM the job runs on. */
  readonly vmId: string
  /** When the job was submitted (ms since the epoch). */
  readonly createdAt: number
  /** Settles with the execution's result; see the class docs. */
  readonly promise: Promise<ExecResult>

  readonly #controller = new AbortController()
  #status: JobStatus = 'pending'
  #cancelRequested = false
  #result: ExecResult | undefined
  #error: unknown
  #finishedAt: number | undefined
  readonly #detachCallerSignal: () => void

  /**
   * @param init - ids and the caller's signal.
   * @param run - starts the work with the job's combined signal; called synchronously.
   */
  constructor(init: ExecutionJobInit, run: (job: ExecutionJob, signal: AbortSignal) => Promise<ExecResult>) {
    this.id = init.id ?? newId('job')
    this.vmId = init.vmId
    this.createdAt = Date.now()
    if (init.signal?.aborted) {
      // Aborted before submission: the job must never start.
      this.#cancelRequested = true
      this.#controller.abort(init.signal.reason)
      this.#detachCallerSignal = () => {}
    } else {
      this.#detachCallerSignal = linkSignal(init.signal, (reason) => this.cancel(reason))
    }
    let started: Promise<ExecResult>
    try {
      started = run(this, this.#controller.signal)
    } catch (error) {
      started = Promise.reject(error)
    }
    this.promise = started.then(
      (result) => {
        this.#settle(
          result.status === 'killed' && this.#cancelRequested ? 'cancelled' : result.success ? 'done' : 'failed',
        )
        this.#result = result
        return result
      },
      (error: unknown) => {
        this.#error = error
        this.#settle(this.#cancelRequested ? 'cancelled' : 'failed')
        throw error
      },
    )
    // The job keeps its own outcome; a caller that never awaits the promise
    // must not get an unhandled rejection for it.
    this.promise.catch(() => {})
  }

  /** Current status; see {@link JobStatus}. */
  get status(): JobStatus {
    return this.#status
  }

  /** The result, once the job resolved. */
  get result(): ExecResult | undefined {
    return this.#result
  }

  /** Why the promise rejected, once it did. */
  get error(): unknown {
    return this.#error
  }

  /** True once the promise settled. */
  get settled(): boolean {
    return this.#finishedAt !== undefined
  }

  /** When the job settled (ms since the epoch). */
  get finishedAt(): number | undefined {
    return this.#finishedAt
  }

  /** The signal the job's execution listens to. */
  get signal(): AbortSignal {
    return this.#controller.signal
  }

  /**
   * Cancels the job: a pending one never runs, a running one is killed by
   * its backend. Returns false when the job had already settled.
   */
  cancel(reason?: unknown): boolean {
    if (this.settled) return false
    if (this.#cancelRequested) return true
    this.#cancelRequested = true
    this.#controller.abort(
      reason ??
        new ExecutionKilledError(`job '${this.id}' on VM '${this.vmId}' was cancelled`, {
          details: { jobId: this.id },
        }),
    )
    return true
  }

  /** Called by the runner when the job leaves the queue and reaches its VM. */
  markRunning(): void {
    if (this.#status === 'pending') this.#status = 'running'
  }

  /** A JSON-safe summary for listings and logs. */
  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      vmId: this.vmId,
      status: this.#status,
      createdAt: this.createdAt,
      ...(this.#finishedAt === undefined ? {} : { finishedAt: this.#finishedAt }),
      ...(this.#result ? { resultStatus: this.#result.status } : {}),
      ...(this.#error === undefined ? {} : { error: errorToJSON(this.#error) }),
    }
  }

  #settle(status: JobStatus): void {
    this.#status = status
    this.#finishedAt = Date.now()
    this.#detachCallerSignal()
  }
}

/** Calls `onAbort` when `signal` aborts; returns a function that stops listening. */
export function linkSignal(signal: AbortSignal | undefined, onAbort: (reason: unknown) => void): () => void {
  if (!signal) return () => {}
  if (signal.aborted) {
    onAbort(signal.reason)
    return () => {}
  }
  const listener = () => onAbort(signal.reason)
  signal.addEventListener('abort', listener, { once: true })
  return () => signal.removeEventListener('abort', listener)
}

/** A JSON-safe view of any error: a `LuaVMError`'s own `toJSON`, else tag `Error` plus the message. */
export function errorToJSON(error: unknown): Record<string, unknown> {
  if (isLuaVMError(error)) return (error as LuaVMError).toJSON()
  if (error instanceof Error) return { _tag: error.name || 'Error', message: error.message }
  return { _tag: 'Error', message: String(error) }
}

/** The `VMManagerError` a lookup of an unknown job raises. */
export function jobNotFound(jobId: string): VMManagerError {
  return new VMManagerError(
    `job '${jobId}' not found; listJobs() shows the known jobs (finished ones are kept for a while)`,
    {
      details: { jobId },
    },
  )
}
