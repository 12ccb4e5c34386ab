import { isLuaVMError } from '@bioxen-luavm/core'
import { ExitCode } from './exit-codes.js'

/** A usage mistake (bad flag value, missing program); exits with status 2. */
export class UsageError extends Error {
  readonly hint: string | undefined
  constructor(message: string, hint?: string) {
    super(message)
    this.name = 'UsageError'
    this.hint = hint
  }
}

const usageTags = new Set(['ConfigError', 'InvalidArgumentError', 'BackendNotFoundError', 'BackendUnavailableError'])

/** One readable line (plus a hint line) for stderr, and the exit status, of any error. */
export function describeError(error: unknown): { line: string; hint?: string; exitCode: number } {
  if (error instanceof UsageError) {
    return { line: `error: ${error.message}`, ...(error.hint ? { hint: error.hint } : {}), exitCode: ExitCode.usage }
  }
  if (isLuaVMError(error)) {
    const usage = usageTags.has(error._tag)
    return {
      line: `error: ${error.message}`,
      hint: hintFor(error._tag),
      exitCode: usage ? ExitCode.usage : ExitCode.internal,
    }
  }
  const message = error instanceof Error ? error.message : String(error)
  return { line: `error: ${message}`, exitCode: ExitCode.internal }
}

function hintFor(tag: string): string {
  switch (tag) {
    case 'BackendNotFoundError':
    case 'BackendUnavailableError':
      return 'hint: `bioxen-luavm backends` lists what can run here'
    case 'ConfigError':
      return 'hint: `bioxen-luavm config validate` checks a config file'
    default:
      return 'hint: run with LUAVM_DEBUG=1 for details'
  }
}
