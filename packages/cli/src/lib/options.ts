import { parseSize } from '@bioxen-luavm/core'
import { UsageError } from './errors.js'

/** Parses a positive integer flag (milliseconds, counts). */
export function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} expects a positive whole number, got '${value}'`)
    return n
  }
}

/** Parses a byte size flag: `1048576`, `64MB`, `512KiB`. */
export function byteSize(flag: string) {
  return (value: string): number => {
    const n = parseSize(value)
    if (n === undefined || n <= 0) throw new UsageError(`${flag} expects a size like 1048576 or 64MB, got '${value}'`)
    return n
  }
}

/** Collects a repeatable flag into a list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value]
}
