import { CommanderError } from 'commander'
import { describeError, errorJson, USAGE_HINT } from './lib/errors.js'
import { ExitCode } from './lib/exit-codes.js'
import { type CapturedRun, type CliIO, processIO, runCliCaptured } from './lib/io.js'
import { jsonRequested, jsonTyped } from './lib/usage.js'
import { createProgram } from './program.js'

/**
 * Runs the CLI with `argv` (without the node and script paths) and resolves
 * with the exit status. Errors become one readable line plus a hint on stderr.
 */
export async function runCli(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  let exitCode: number = ExitCode.ok
  const program = createProgram(io, (code) => {
    exitCode = code
  })
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return exitCode
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; every other commander error is a usage error.
      if (error.exitCode === 0) return ExitCode.ok
      // Its text went to stderr already, unless --json asked for it as JSON.
      if (jsonTyped(program)) {
        const line = error.message.startsWith('error: ') ? error.message : `error: ${error.message}`
        io.stdout(errorJson({ tag: 'UsageError', line, hint: USAGE_HINT }))
      }
      return ExitCode.usage
    }
    const description = describeError(error)
    // The options are parsed by now: `run s.lua --json` passes --json to the script.
    if (jsonRequested(program)) io.stdout(errorJson(description))
    else io.stderr(`${description.line}\n${description.hint ? `${description.hint}\n` : ''}`)
    return description.exitCode
  }
}

/**
 * Runs the CLI in-process with in-memory streams (no terminal, only the
 * given environment; `cwd` is where plugin package names resolve from).
 */
export function runCliInMemory(
  argv: readonly string[],
  options: { stdin?: string | Uint8Array; env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<CapturedRun> {
  return runCliCaptured(runCli, argv, options)
}
