import { ConfigError } from '../errors/index.js'
import { MAX_TIMER_MS } from '../util/timer.js'

/**
 * Longest `timeoutMs` an execution may have: 2^31 - 1 ms (about 24.8 days),
 * the longest delay a JavaScript timer holds. There is no "no deadline"
 * value: a VM always has one, and this is the longest.
 */
export const MAX_TIMEOUT_MS = MAX_TIMER_MS

/**
 * Largest `memoryLimitBytes` or `maxOutputBytes`: 2^53 - 1, the largest
 * byte count a JavaScript number holds exactly (a cap must be enforceable
 * to the byte, and interpreters receive it as a decimal integer).
 */
export const MAX_LIMIT_BYTES = Number.MAX_SAFE_INTEGER

/** The limits an execution, a session or a VM's defaults may set. */
export interface LimitValues {
  /** Deadline in milliseconds. */
  timeoutMs?: number
  /** Cap on stdout+stderr bytes. */
  maxOutputBytes?: number
  /** Memory cap in bytes. */
  memoryLimitBytes?: number
}

/**
 * Checks a deadline: a finite number of milliseconds above 0 and at most
 * {@link MAX_TIMEOUT_MS}. A fraction is rounded up to the next whole
 * millisecond, so a deadline is never shorter than asked.
 *
 * @param value - the value given (any type: it may come from JSON or a CLI flag)
 * @param name - the option's name as the caller wrote it, for the message
 * @returns the deadline in whole milliseconds
 * @throws ConfigError naming the option and the value
 */
export function checkTimeoutMs(value: unknown, name = 'timeoutMs'): number {
  if (typeof value !== 'number' || !(value > 0 && value <= MAX_TIMEOUT_MS)) {
    throw new ConfigError(
      `${name} must be a number of milliseconds above 0 and at most ${MAX_TIMEOUT_MS} (about 24.8 days), got ${show(value)}`,
      { details: { option: name } },
    )
  }
  return Math.ceil(value)
}

/**
 * Checks a byte cap: a whole number of bytes, at most {@link MAX_LIMIT_BYTES};
 * above 0 (`memoryLimitBytes`) or from 0 (`maxOutputBytes`: 0 lets nothing
 * be printed).
 *
 * @param value - the value given
 * @param name - the option's name, for the message
 * @param min - the smallest allowed value, 0 or 1
 * @returns the value
 * @throws ConfigError naming the option and the value
 */
export function checkByteLimit(value: unknown, name: string, min: 0 | 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_LIMIT_BYTES) {
    throw new ConfigError(
      `${name} must be a whole number of bytes from ${min} to ${MAX_LIMIT_BYTES}, got ${show(value)}`,
      { details: { option: name } },
    )
  }
  return value
}

/**
 * Checks every limit that is set (`undefined` means "not set" and stays
 * so). The one rule for executions, sessions, a VM's default limits, the
 * manager's and the config's, on every backend.
 *
 * @param limits - the limits to check
 * @param prefix - put before each option's name in messages (e.g. `limits.`)
 * @returns a copy with the checked values (timeouts rounded up) and no unset keys
 * @throws ConfigError naming the first bad option and its value
 */
export function checkLimits<T extends LimitValues>(limits: T, prefix = ''): T {
  if (limits === null || typeof limits !== 'object') {
    throw new ConfigError(`${prefix || 'limits'} must be an object, got ${show(limits)}`)
  }
  const out = { ...limits }
  for (const key of Object.keys(out) as (keyof LimitValues)[]) {
    if (out[key] === undefined) delete out[key]
  }
  if (out.timeoutMs !== undefined) out.timeoutMs = checkTimeoutMs(out.timeoutMs, `${prefix}timeoutMs`)
  if (out.maxOutputBytes !== undefined) {
    out.maxOutputBytes = checkByteLimit(out.maxOutputBytes, `${prefix}maxOutputBytes`, 0)
  }
  if (out.memoryLimitBytes !== undefined) {
    out.memoryLimitBytes = checkByteLimit(out.memoryLimitBytes, `${prefix}memoryLimitBytes`, 1)
  }
  return out
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'a list' : 'an object'
  return String(value)
}
