import type { ExecStatus } from '@bioxen-luavm/core'

/** Exit statuses of every command; stable, documented in docs/cli.md. */
export const ExitCode = {
  ok: 0,
  /** The Lua program raised an error (syntax or runtime). */
  luaError: 1,
  /** `env health`: the environment has problems (same status as a Lua error: "the thing checked failed"). */
  unhealthy: 1,
  /** Bad usage or configuration; nothing ran. */
  usage: 2,
  /** Timeout, memory limit, output limit or cancel. */
  limit: 3,
  /** The SDK or a backend failed (not the Lua program). */
  internal: 4,
  /** Ctrl-C (SIGINT): the run was cancelled, as shells report it (128 + 2). */
  interrupted: 130,
  /** SIGTERM: the run was cancelled (128 + 15). */
  terminated: 143,
} as const

/** The exit status that stands for an execution status. */
export function exitCodeFor(status: ExecStatus): number {
  if (status === 'ok') return ExitCode.ok
  if (status === 'error') return ExitCode.luaError
  return ExitCode.limit
}
