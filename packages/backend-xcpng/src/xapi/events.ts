import { VMTimeoutError, XapiError } from '@bioxen-luavm/core'
import { double, str } from './codec.js'
import type { XapiSession } from './session.js'

/** One entry of `event.from`'s `events`. */
export interface XapiEvent {
  class: string
  operation: 'add' | 'mod' | 'del'
  ref: string
  /** The object's record (absent on `del`). */
  snapshot?: Record<string, unknown>
}

/** A batch of events and the token to continue from. */
export interface EventBatch {
  events: XapiEvent[]
  token: string
}

/**
 * One `event.from` long poll. The server blocks up to `timeoutS` seconds;
 * the HTTP deadline is set above that (XO uses +10 %), and the timeout goes
 * out as a `<double>` because older XAPI rejects an `<int>` there.
 */
export async function eventFrom(
  session: XapiSession,
  classes: readonly string[],
  token: string,
  timeoutS: number,
  signal?: AbortSignal,
): Promise<EventBatch> {
  const raw = await session.call('event.from', [[...classes], token, double(timeoutS)], {
    timeoutMs: Math.ceil(timeoutS * 1100) + 5_000,
    signal,
  })
  if (typeof raw !== 'object' || raw === null) throw new XapiError('PROTOCOL_ERROR', ['event.from returned no struct'])
  const r = raw as { events?: unknown; token?: unknown }
  const events = Array.isArray(r.events) ? r.events.map(decodeEvent) : []
  return { events, token: str(r.token, 'event token') }
}

function decodeEvent(raw: unknown): XapiEvent {
  const e = (raw ?? {}) as Record<string, unknown>
  const event: XapiEvent = {
    class: String(e.class ?? ''),
    operation: String(e.operation ?? 'mod') as XapiEvent['operation'],
    ref: String(e.ref ?? ''),
  }
  if (e.snapshot && typeof e.snapshot === 'object') event.snapshot = e.snapshot as Record<string, unknown>
  return event
}

/** Options of {@link waitUntil}. */
export interface WaitOptions {
  /** `event.from` subscriptions, re-read each round (they may grow, e.g. once a metrics ref is known). */
  subscriptions: () => readonly string[]
  /** Absolute deadline (ms since the epoch). */
  deadline: number
  signal?: AbortSignal | undefined
  /** Longest single long poll in seconds (30). */
  maxPollS?: number
}

/**
 * Runs `check` until it returns a value, waking on XAPI events instead of
 * polling blindly. Resolves `undefined` at the deadline. The token is
 * taken before each check, so a change between the check and the next
 * long poll is never missed. The first poll starts from the session's
 * newest token (taken before any check this session made), so a wait
 * needs no extra round trip just to get one. Falls back to 1 s polling on
 * hosts without `event.from`.
 */
export async function waitUntil<T>(
  session: XapiSession,
  check: () => Promise<T | undefined>,
  options: WaitOptions,
): Promise<T | undefined> {
  let token = session.eventToken
  let polling = false
  let failures = 0
  for (;;) {
    options.signal?.throwIfAborted()
    try {
      const value = await check()
      if (value !== undefined) return value
      const remaining = options.deadline - Date.now()
      if (remaining <= 0) return undefined
      const waitS = Math.max(0.1, Math.min(remaining / 1000, options.maxPollS ?? 30))
      if (polling) await sleep(Math.min(1000, remaining), options.signal)
      else {
        token = (await eventFrom(session, options.subscriptions(), token, waitS, options.signal)).token
        session.eventToken = token
      }
      failures = 0
    } catch (error) {
      if (error instanceof XapiError && error.xapiCode === 'MESSAGE_METHOD_UNKNOWN') {
        polling = true
        continue
      }
      // A token the server no longer knows: start over from "now".
      if (
        error instanceof XapiError &&
        (error.xapiCode === 'EVENTS_LOST' || error.xapiCode === 'EVENT_FROM_TOKEN_PARSE_FAILURE')
      ) {
        token = ''
        continue
      }
      // Waiting only reads, so a dropped connection is worth a few more tries.
      const remaining = options.deadline - Date.now()
      if (!isTransientRead(error) || ++failures > 5 || remaining <= 0) throw error
      await sleep(Math.min(250 * 2 ** failures, remaining), options.signal)
    }
  }
}

function isTransientRead(error: unknown): boolean {
  if (error instanceof VMTimeoutError) return true
  if (!(error instanceof XapiError)) return false
  return (
    error.xapiCode === 'TRANSPORT_ERROR' || (error.xapiCode === 'HTTP_ERROR' && (error.params[0] ?? '').startsWith('5'))
  )
}

/** Sleeps, waking early (with the signal's reason) when aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
