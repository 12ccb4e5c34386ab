import { checkByteLimit, checkTimeoutMs, isLuaVMError, parseSize } from '@bioxen-luavm/core'
import type { Command } from 'commander'
import { UsageError } from './errors.js'

/** Parses a positive integer flag (milliseconds, counts). */
export function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} expects a positive whole number, got '${value}'`)
    return n
  }
}

// Decimal text Number() reads as the user meant it (not '', '0x10' or 'Infinity').
const NUMBER = /^\s*[+-]?\d+(\.\d+)?([eE][+-]?\d+)?\s*$/

/**
 * Parses a deadline flag (`--timeout`) by the rule every `timeoutMs`
 * follows (core's `checkTimeoutMs`): milliseconds above 0, at most
 * 2^31 - 1, a fraction rounded up.
 */
export function timeoutMs(flag: string) {
  return (value: string): number => {
    const n = NUMBER.test(value) ? Number(value) : value
    return asUsage(() => checkTimeoutMs(n, flag))
  }
}

/**
 * Parses a byte size flag: `1048576`, `64MB`, `512KiB`, in the range core's
 * `checkByteLimit` allows (`min` 0 for an output cap, 1 for a memory cap).
 */
export function byteSize(flag: string, min: 0 | 1 = 1) {
  return (value: string): number => {
    // A plain number is a count of bytes, so it must be whole; units may have fractions (1.5MB).
    const n = NUMBER.test(value) ? Number(value) : parseSize(value)
    if (n === undefined) throw new UsageError(`${flag} expects a size like 1048576 or 64MB, got '${value}'`)
    return asUsage(() => checkByteLimit(n, flag, min))
  }
}

// A limit the core rule refuses is a usage error when it came from a flag.
function asUsage(check: () => number): number {
  try {
    return check()
  } catch (error) {
    throw isLuaVMError(error) ? new UsageError(error.message) : error
  }
}

/** Collects a repeatable flag into a list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

/** Adds the flags that choose a backend and its limits (shared by `run`, `repl`, ...). */
export function withVMOptions(command: Command): Command {
  return command
    .option('-b, --backend <type>', 'backend: auto, wasm, fengari, process, or a plugin type')
    .option('-t, --timeout <ms>', 'wall-clock deadline in milliseconds', timeoutMs('--timeout'))
    .option('-m, --memory <bytes>', 'memory cap, e.g. 64MB (refused where not enforceable)', byteSize('--memory'))
    .option(
      '--max-output <bytes>',
      'cap on output bytes: stdout, stderr and the returned values or error message together, e.g. 1MB',
      byteSize('--max-output', 0),
    )
}
