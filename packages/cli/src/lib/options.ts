import { parseSize } from '@bioxen-luavm/core'
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

/** Adds the flags that choose a backend and its limits (shared by `run`, `repl`, ...). */
export function withVMOptions(command: Command): Command {
  return command
    .option('-b, --backend <type>', 'backend: auto, wasm, fengari, process, or a plugin type')
    .option('-t, --timeout <ms>', 'wall-clock deadline in milliseconds', positiveInt('--timeout'))
    .option('-m, --memory <bytes>', 'memory cap, e.g. 64MB (refused where not enforceable)', byteSize('--memory'))
    .option(
      '--max-output <bytes>',
      'cap on output bytes: stdout, stderr and the returned values or error message together, e.g. 1MB',
      byteSize('--max-output'),
    )
}
