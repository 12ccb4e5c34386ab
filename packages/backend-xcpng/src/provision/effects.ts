import {
  ExecutionKilledError,
  isLuaVMError,
  type Logger,
  LuaVMError,
  VMTimeoutError,
  XapiError,
} from '@bioxen-luavm/core'
import { Context, Effect, Schedule } from 'effect'
import type { XapiParam } from '../xapi/codec.js'
import type { XapiSession } from '../xapi/session.js'

/** One step of provisioning, for progress listeners. */
export interface ProvisionProgress {
  /** e.g. `clone`, `provision`, `start`, `wait-ip`, `ssh`, `driver`. */
  step: string
  /** 0..1 for XAPI tasks. */
  progress?: number
  detail?: string
}

/**
 * What every provisioning step can reach: the logger, the progress sink,
 * per-call deadline, and a list where undo steps that failed record what
 * they left behind (so the final error can say it).
 */
export class Provisioning extends Context.Service<
  Provisioning,
  {
    readonly logger: Logger
    readonly progress: (p: ProvisionProgress) => void
    readonly callTimeoutMs: number
    readonly leftovers: string[]
  }
>()('@bioxen-luavm/backend-xcpng/Provisioning') {}

/** Any failure as a typed SDK error (aborts become `ExecutionKilledError`). */
export function toLuaVMError(error: unknown, what: string): LuaVMError {
  if (isLuaVMError(error)) return error
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) {
    return error.name === 'TimeoutError'
      ? new VMTimeoutError(`${what} timed out`, { cause: error })
      : new ExecutionKilledError(`${what} was cancelled`, { cause: error })
  }
  return new LuaVMError(`${what} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
}

/** A Promise-returning operation as an Effect; interruption aborts its signal. */
export function attempt<A>(what: string, run: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, LuaVMError> {
  return Effect.tryPromise({ try: run, catch: (e) => toLuaVMError(e, what) })
}

// XAPI said "not now": nothing happened, so any call may be retried.
const BUSY = new Set(['OTHER_OPERATION_IN_PROGRESS', 'TOO_MANY_PENDING_TASKS'])

/** How a call may be retried. */
export type RetryClass =
  /** Reads and idempotent writes: also retried after transport errors and HTTP 5xx. */
  | 'idempotent'
  /** Creates something: retried only when XAPI refused it before doing anything. */
  | 'create'
  /** Destroys a disk: also retried while it is still in use. */
  | 'vdi-destroy'

/** Whether `error` is worth another try for a call of class `kind`. */
export function isTransient(error: LuaVMError, kind: RetryClass): boolean {
  if (!(error instanceof XapiError)) return kind === 'idempotent' && error instanceof VMTimeoutError
  if (BUSY.has(error.xapiCode)) return true
  if (kind === 'vdi-destroy' && error.xapiCode === 'VDI_IN_USE') return true
  if (kind === 'create') return false
  if (error.xapiCode === 'TRANSPORT_ERROR') return true
  return error.xapiCode === 'HTTP_ERROR' && (error.params[0] ?? '').startsWith('5')
}

/** Exponential backoff with jitter: 0.2 s, 0.4 s, … at most 5 retries. */
export const retrySchedule = Schedule.exponential('200 millis', 2).pipe(Schedule.jittered)

/** Retries transient failures of a call of class `kind`. */
export function retryTransient<A>(kind: RetryClass) {
  return (self: Effect.Effect<A, LuaVMError>): Effect.Effect<A, LuaVMError> =>
    self.pipe(Effect.retry({ schedule: retrySchedule, times: 5, while: (e: LuaVMError) => isTransient(e, kind) }))
}

/** One XAPI call as an Effect, with the step's deadline and retry class. */
export function xcall(
  session: XapiSession,
  method: string,
  args: readonly XapiParam[],
  kind: RetryClass = 'idempotent',
): Effect.Effect<unknown, LuaVMError, Provisioning> {
  return Effect.gen(function* () {
    const { callTimeoutMs } = yield* Provisioning
    return yield* attempt(`XAPI ${method}`, (signal) =>
      session.call(method, args, { signal, timeoutMs: callTimeoutMs }),
    ).pipe(retryTransient(kind))
  })
}
