import { XapiError } from '@bioxen-luavm/core'
import type { CallOptions } from './client.js'
import { decodeTaskResult, str, strList, type XapiParam, xapiFailure } from './codec.js'
import { waitUntil } from './events.js'
import type { XapiSession } from './session.js'

/** XAPI task states. */
export type TaskStatus = 'pending' | 'success' | 'failure' | 'cancelling' | 'cancelled'

/** Progress of an `Async.*` call, as reported to callbacks. */
export interface TaskProgress {
  /** The method, e.g. `VM.clone`. */
  method: string
  /** The task ref. */
  task: string
  /** 0..1 */
  progress: number
  status: TaskStatus
}

/** The fields of a task record the SDK reads. */
export interface TaskRecord {
  status: TaskStatus
  progress: number
  result: string
  errorInfo: string[]
}

/** Reads a task record. */
export async function getTask(session: XapiSession, task: string, options: CallOptions = {}): Promise<TaskRecord> {
  const raw = (await session.call('task.get_record', [task], options)) as Record<string, unknown>
  return {
    status: str(raw.status, 'task status') as TaskStatus,
    progress: typeof raw.progress === 'number' ? raw.progress : Number(raw.progress ?? 0),
    result: typeof raw.result === 'string' ? raw.result : '',
    errorInfo: Array.isArray(raw.error_info) ? strList(raw.error_info) : [],
  }
}

/** Starts `Async.<method>` and resolves with the task ref. */
export async function startTask(
  session: XapiSession,
  method: string,
  args: readonly XapiParam[],
  options: CallOptions = {},
): Promise<string> {
  return str(await session.call(`Async.${method}`, args, options), `task of ${method}`)
}

/** Options of {@link awaitTask}. */
export interface AwaitTaskOptions {
  method: string
  onProgress?: ((progress: TaskProgress) => void) | undefined
  signal?: AbortSignal | undefined
  /** Absolute deadline (ms since the epoch); default 1 h. */
  deadline?: number | undefined
}

/**
 * Waits for a task to finish (woken by `event.from`), reports progress and
 * resolves with its decoded result. A failed task rejects with the
 * `XapiError` of its `error_info`, a cancelled one with `TASK_CANCELLED`.
 * Past the deadline it rejects with `TASK_TIMEOUT` and leaves the task to
 * the caller (cancel, then destroy).
 */
export async function awaitTask(session: XapiSession, task: string, options: AwaitTaskOptions): Promise<unknown> {
  const deadline = options.deadline ?? Date.now() + 3_600_000
  let last = -1
  const record = await waitUntil(
    session,
    async () => {
      const r = await getTask(session, task, { signal: options.signal })
      if (r.progress !== last) {
        last = r.progress
        try {
          options.onProgress?.({ method: options.method, task, progress: r.progress, status: r.status })
        } catch {
          // A progress listener must not break provisioning.
        }
      }
      return r.status === 'pending' || r.status === 'cancelling' ? undefined : r
    },
    { subscriptions: () => [`task/${task}`], deadline, signal: options.signal },
  )
  if (!record) {
    throw new XapiError('TASK_TIMEOUT', [task, options.method], `XAPI task ${options.method} did not finish in time`)
  }
  return taskOutcome(options.method, task, record)
}

/** The result of a finished task, or its error. */
export function taskOutcome(method: string, task: string, record: TaskRecord): Promise<unknown> {
  switch (record.status) {
    case 'success':
      return decodeTaskResult(record.result)
    case 'cancelled':
      return Promise.reject(new XapiError('TASK_CANCELLED', [task], `XAPI task ${method} was cancelled`))
    default: {
      const [code, ...params] = record.errorInfo
      return Promise.reject(xapiFailure(method, code ?? 'INTERNAL_ERROR', params))
    }
  }
}

/**
 * Cancels a task and waits (bounded) until it settles, so the caller
 * learns whether it finished anyway and produced something to undo.
 * Resolves with the final record, or undefined when it could not be read.
 */
export async function cancelTask(session: XapiSession, task: string, waitMs = 30_000): Promise<TaskRecord | undefined> {
  try {
    await session.call('task.cancel', [task], { timeoutMs: 15_000 })
  } catch (error) {
    // Finished tasks cannot be cancelled; anything else is read below.
    if (error instanceof XapiError && error.xapiCode === 'HANDLE_INVALID') return undefined
  }
  try {
    return await waitUntil(
      session,
      async () => {
        const r = await getTask(session, task, { timeoutMs: 15_000 })
        return r.status === 'pending' || r.status === 'cancelling' ? undefined : r
      },
      { subscriptions: () => [`task/${task}`], deadline: Date.now() + waitMs },
    )
  } catch {
    return undefined
  }
}

/** Destroys a task record; a task already gone is fine. */
export async function destroyTask(session: XapiSession, task: string): Promise<void> {
  try {
    await session.call('task.destroy', [task], { timeoutMs: 15_000 })
  } catch (error) {
    if (error instanceof XapiError && error.xapiCode === 'HANDLE_INVALID') return
    throw error
  }
}
