import { ExecutionKilledError, type Logger, type LuaVMError, VMTimeoutError, XapiError } from '@bioxen-luavm/core'
import { Cause, Effect, Exit, type Scope } from 'effect'
import { decodeTaskResult, str, strList, type XapiParam } from '../xapi/codec.js'
import type { XapiSession } from '../xapi/session.js'
import { awaitTask, cancelTask, destroyTask, getTask, startTask } from '../xapi/tasks.js'
import { attempt, Provisioning, type ProvisionProgress, retryTransient, toLuaVMError, xcall } from './effects.js'

/**
 * Runs `undo` on a failed or interrupted step, never failing itself: what
 * it could not undo is logged and listed in `leftovers`, and the original
 * error stays the one the caller sees.
 */
export function safeUndo(
  label: string,
  undo: Effect.Effect<void, LuaVMError, Provisioning>,
): Effect.Effect<void, never, Provisioning> {
  return Effect.gen(function* () {
    const p = yield* Provisioning
    p.logger.debug('undoing', { step: label })
    yield* cleanup(label, undo)
  })
}

/** Runs a cleanup action; a failure is logged and recorded as a leftover, never raised. */
function cleanup(
  label: string,
  action: Effect.Effect<void, LuaVMError, Provisioning>,
): Effect.Effect<void, never, Provisioning> {
  return Effect.gen(function* () {
    const p = yield* Provisioning
    const exit = yield* Effect.exit(action)
    if (Exit.isFailure(exit)) {
      const error = Cause.squash(exit.cause)
      p.leftovers.push(label)
      p.logger.error(`could not undo '${label}'; it may be left behind (reapOrphans removes tagged VMs)`, {
        step: label,
        error: error instanceof Error ? error.message : String(error),
      })
    }
  })
}

/**
 * Acquires something and registers its undo: the undo runs only if the
 * surrounding scope closes with a failure or an interruption (cancel,
 * timeout). On success, ownership passes to the caller.
 */
export function undoable<A, R>(
  label: string,
  acquire: Effect.Effect<A, LuaVMError, R>,
  undo: (a: A) => Effect.Effect<void, LuaVMError, Provisioning>,
): Effect.Effect<A, LuaVMError, R | Scope.Scope | Provisioning> {
  return Effect.acquireRelease(acquire, (a, exit) => (Exit.isSuccess(exit) ? Effect.void : safeUndo(label, undo(a))))
}

/** Options of {@link taskStep}. */
export interface TaskStepOptions<A> {
  /** Name for progress and logs. */
  step: string
  /** Turns the task's decoded result into the step's value. */
  decode: (value: unknown) => A
  /** Undoes what the task created, when the workflow fails later. */
  undo?: (value: A) => Effect.Effect<void, LuaVMError, Provisioning>
  /**
   * Finds what the task created when its ref was lost (the connection
   * dropped while `Async.*` was answered). Run after any matching pending
   * task finished.
   */
  reconcile?: Effect.Effect<readonly A[], LuaVMError, Provisioning>
  /** Absolute deadline of the task. */
  deadline?: number
}

/**
 * One `Async.*` call as a resource-safe step. The task starts without
 * interruption (its ref must never be lost) and is awaited interruptibly.
 * If the wait fails or is interrupted, the task is cancelled, whatever it
 * produced anyway is undone, and its record is destroyed; on success the
 * record is destroyed at once and `undo` is registered for the result.
 */
export function taskStep<A>(
  session: XapiSession,
  method: string,
  args: readonly XapiParam[],
  options: TaskStepOptions<A>,
): Effect.Effect<A, LuaVMError, Scope.Scope | Provisioning> {
  const acquire = Effect.gen(function* () {
    const p = yield* Provisioning
    p.progress({ step: options.step, progress: 0 })
    const calledAt = Date.now()
    const started = yield* Effect.exit(
      attempt(`XAPI Async.${method}`, (signal) =>
        startTask(session, method, args, { signal, timeoutMs: p.callTimeoutMs }),
      ).pipe(retryTransient('create')),
    )
    if (Exit.isFailure(started)) {
      const error = Cause.squash(started.cause)
      if (error instanceof XapiError && (error.xapiCode === 'TRANSPORT_ERROR' || error.xapiCode === 'HTTP_ERROR')) {
        yield* reconcileLostTask(session, method, options, calledAt)
      }
      return yield* Effect.failCause(started.cause)
    }
    const task = started.value
    const waited = yield* Effect.exit(
      Effect.interruptible(
        attempt(`XAPI task ${method}`, (signal) =>
          awaitTask(session, task, {
            method,
            signal,
            deadline: options.deadline,
            onProgress: (t) => p.progress({ step: options.step, progress: t.progress }),
          }),
        ),
      ),
    )
    if (Exit.isFailure(waited)) {
      p.logger.debug('cancelling XAPI task', { method, task })
      const record = yield* attempt('task.cancel', () => cancelTask(session, task)).pipe(
        Effect.orElseSucceed(() => undefined),
      )
      if (record?.status === 'success' && options.undo) {
        // The task finished in the race with the cancel: its product is ours to remove.
        const undo = options.undo
        const late = yield* attempt('task result', () => decodeTaskResult(record.result)).pipe(
          Effect.map(options.decode),
          Effect.option,
        )
        if (late._tag === 'Some') yield* safeUndo(`${options.step} (finished while cancelled)`, undo(late.value))
      }
    }
    yield* cleanup(
      `task ${method}`,
      attempt('task.destroy', () => destroyTask(session, task)).pipe(retryTransient('idempotent')),
    )
    const value = options.decode(yield* waited)
    p.progress({ step: options.step, progress: 1 })
    return value
  })
  return undoable(options.step, acquire, options.undo ?? (() => Effect.void))
}

// How long, in all, a lost reply's recovery waits for candidate tasks.
const RECONCILE_WAIT_MS = 30_000

// The answer to `Async.<method>` was lost, so the task may be running
// without us knowing its ref. Wait (at most RECONCILE_WAIT_MS in all, side
// by side) for the tasks of that method created since our call — older ones
// and other clients' earlier tasks cannot be ours — then undo what they
// made (found by the caller's unique-name lookup) and destroy the tasks
// whose result is one of those objects.
function reconcileLostTask<A>(
  session: XapiSession,
  method: string,
  options: TaskStepOptions<A>,
  calledAt: number,
): Effect.Effect<void, never, Provisioning> {
  const reconcile = options.reconcile
  const undo = options.undo
  if (!reconcile || !undo) return Effect.void
  return Effect.gen(function* () {
    const p = yield* Provisioning
    p.logger.warn('lost the reply to an XAPI call that creates something; reconciling', { method })
    const tasks = (yield* xcall(session, 'task.get_all_records', []).pipe(Effect.orElseSucceed(() => ({})))) as Record<
      string,
      Record<string, unknown>
    >
    const since = yield* serverTimeOf(session, calledAt)
    const candidates = Object.entries(tasks)
      .filter(([, t]) => t.name_label === `Async.${method}` && createdSince(t.created, since))
      .map(([ref]) => ref)
    const deadline = Date.now() + RECONCILE_WAIT_MS
    const waited = yield* Effect.forEach(
      candidates,
      (ref) =>
        attempt('task wait', (signal) =>
          awaitTask(session, ref, { method, signal, deadline }).then(
            () => getTask(session, ref),
            () => getTask(session, ref),
          ),
        ).pipe(
          Effect.map((record) => ({ ref, result: record.result })),
          Effect.option,
        ),
      { concurrency: 'unbounded' },
    )
    const finished = waited.flatMap((o) => (o._tag === 'Some' ? [o.value] : []))
    const found = yield* reconcile.pipe(Effect.orElseSucceed(() => [] as readonly A[]))
    for (const value of found) yield* safeUndo(`${options.step} (reconciled)`, undo(value))
    for (const { ref, result } of finished) {
      const value = yield* attempt('task result', () => decodeTaskResult(result)).pipe(Effect.option)
      if (
        value._tag === 'Some' &&
        found.some((f) => JSON.stringify(f) === JSON.stringify(options.decode(value.value)))
      ) {
        yield* safeUndo(
          `task ${method} (reconciled)`,
          attempt('task.destroy', () => destroyTask(session, ref)),
        )
      }
    }
  })
}

// Task times are the host's clock, which may differ from ours: translate
// our call time into the host's through its current time. `undefined`
// (the host's time is unknown) keeps every task a candidate.
function serverTimeOf(session: XapiSession, localMs: number): Effect.Effect<number | undefined, never, Provisioning> {
  return Effect.gen(function* () {
    const pool = strList(yield* xcall(session, 'pool.get_all', []), 'pools')[0]
    if (!pool) return undefined
    const master = str(yield* xcall(session, 'pool.get_master', [pool]), 'master')
    const asked = Date.now()
    const now = yield* xcall(session, 'host.get_servertime', [master])
    if (!(now instanceof Date)) return undefined
    // XAPI times have whole seconds; allow one, plus the round trip.
    return now.getTime() - (asked - localMs) - 1_000 - (Date.now() - asked)
  }).pipe(Effect.orElseSucceed(() => undefined))
}

function createdSince(created: unknown, since: number | undefined): boolean {
  return since === undefined || !(created instanceof Date) || created.getTime() >= since
}

/** Options of {@link runWorkflow}. */
export interface RunOptions {
  what: string
  logger: Logger
  timeoutMs: number
  callTimeoutMs: number
  signal?: AbortSignal | undefined
  onProgress?: ((p: ProvisionProgress) => void) | undefined
}

/**
 * Runs a scoped workflow at the Promise boundary. The scope closes before
 * the promise settles, so every undo has run by then. Timeout →
 * `VMTimeoutError`; abort → `ExecutionKilledError`; otherwise the step's
 * own typed error.
 */
export async function runWorkflow<A>(
  program: Effect.Effect<A, LuaVMError, Scope.Scope | Provisioning>,
  options: RunOptions,
): Promise<A> {
  const leftovers: string[] = []
  const effect = Effect.scoped(program).pipe(
    Effect.timeoutOrElse({
      duration: options.timeoutMs,
      orElse: () =>
        Effect.fail(
          new VMTimeoutError(
            `${options.what} did not finish within ${options.timeoutMs} ms; everything it created was removed`,
            {
              details: { timeoutMs: options.timeoutMs },
            },
          ),
        ),
    }),
    Effect.provideService(Provisioning, {
      logger: options.logger,
      callTimeoutMs: options.callTimeoutMs,
      leftovers,
      progress: (p) => {
        options.logger.debug(
          `${options.what}: ${p.step}${p.progress === undefined ? '' : ` ${Math.round(p.progress * 100)}%`}`,
        )
        try {
          options.onProgress?.(p)
        } catch {
          // listeners only observe
        }
      },
    }),
  )
  const exit = await Effect.runPromiseExit(effect, options.signal ? { signal: options.signal } : undefined)
  if (Exit.isSuccess(exit)) return exit.value
  const where = leftovers.length ? ` (could not remove: ${leftovers.join(', ')}; see reapOrphans)` : ''
  if (options.signal?.aborted) {
    throw new ExecutionKilledError(`${options.what} was cancelled${where}`, {
      cause: options.signal.reason,
      details: { leftovers },
    })
  }
  const error = Cause.squash(exit.cause)
  if (leftovers.length) options.logger.error(`${options.what} failed and cleanup was incomplete${where}`)
  throw toLuaVMError(error, options.what)
}
