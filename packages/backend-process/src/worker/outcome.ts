import type { ExecResult } from '@bioxen-luavm/core'
import type { WorkerOutcome } from './driver-worker.js'

/** The `ExecResult` fields of a worker outcome, for `BaseLuaVM.result()`. */
export function resultFields(outcome: WorkerOutcome): Partial<ExecResult> & Pick<ExecResult, 'status'> {
  return {
    status: outcome.status,
    stdout: outcome.stdout,
    stderr: outcome.stderr,
    stdoutBytes: outcome.stdoutBytes,
    stderrBytes: outcome.stderrBytes,
    values: outcome.values,
    truncated: outcome.truncated,
    durationMs: outcome.durationMs,
    ...(outcome.error ? { error: outcome.error } : {}),
    ...(outcome.incomplete ? { incomplete: true } : {}),
  }
}
