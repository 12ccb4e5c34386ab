/**
 * `@bioxen-luavm/cli` — the `bioxen-luavm` command line, also usable as a
 * library (`runCli`) for embedding and tests.
 *
 * @packageDocumentation
 */

export { ExitCode, exitCodeFor } from './lib/exit-codes.js'
export type { CliIO } from './lib/io.js'
export { buildRegistry, builtinBackends, loadPlugin } from './lib/registry.js'
export { createProgram } from './program.js'
export { runCli } from './run-cli.js'
export { version } from './version.js'
