/**
 * `@bioxen-luavm/cli` — the `bioxen-luavm` command line, also usable as a
 * library (`runCli`) for embedding and tests.
 *
 * @packageDocumentation
 */

export { ExitCode, exitCodeFor } from './lib/exit-codes.js'
export type { CapturedRun, CliIO } from './lib/io.js'
export { buildRegistry, builtinBackends, loadPlugin } from './lib/registry.js'
export { createProgram } from './program.js'
export { runCli, runCliInMemory } from './run-cli.js'
export { version } from './version.js'
