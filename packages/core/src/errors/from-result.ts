import type { ExecResult } from '../contract/types.js'
import {
  ExecutionKilledError,
  LuaMemoryError,
  LuaRuntimeError,
  LuaSyntaxError,
  type LuaVMError,
  OutputLimitError,
  VMTimeoutError,
} from './index.js'

/**
 * The typed error that stands for a non-ok result (what `throwOnError`
 * rejects with). The result itself rides along in `details.result`.
 */
export function errorFromResult(result: ExecResult): LuaVMError {
  const details = { result }
  switch (result.status) {
    case 'error': {
      const e = result.error
      const message = e?.message ?? 'Lua error'
      return e?.kind === 'syntax'
        ? new LuaSyntaxError(message, { details, ...(e.line === undefined ? {} : { line: e.line }) })
        : new LuaRuntimeError(message, {
            details,
            ...(e?.line === undefined ? {} : { line: e.line }),
            ...(e?.traceback === undefined ? {} : { traceback: e.traceback }),
          })
    }
    case 'timeout':
      return new VMTimeoutError(`Lua code ran past its ${describeMs(result.durationMs)} deadline and was stopped`, {
        details,
      })
    case 'memory':
      return new LuaMemoryError('Lua code went over its memory limit; raise memoryLimitBytes or use less memory', {
        details,
      })
    case 'output-limit':
      return new OutputLimitError(
        `Lua code's output went over maxOutputBytes (${result.error?.message ?? 'output limit exceeded'}); the output was truncated`,
        { details },
      )
    case 'killed':
      return new ExecutionKilledError('the execution was cancelled or its engine was killed', { details })
    default:
      throw new TypeError(`errorFromResult: result status '${result.status}' is not an error`)
  }
}

function describeMs(ms: number): string {
  return `${Math.round(ms)} ms`
}
