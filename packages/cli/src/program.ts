import { didYouMean } from '@bioxen-luavm/core'
import { Command } from 'commander'
import { registerBackends } from './commands/backends.js'
import { registerCompletion } from './commands/completion.js'
import { registerConfig } from './commands/config.js'
import { registerEnv } from './commands/env.js'
import { registerPkg } from './commands/pkg.js'
import { registerRepl } from './commands/repl.js'
import { registerRun } from './commands/run.js'
import { registerXcpng } from './commands/xcpng.js'
import { loadContext } from './lib/context.js'
import { UsageError } from './lib/errors.js'
import type { CliIO } from './lib/io.js'
import { collect } from './lib/options.js'
import { addUsageHints, commandNames, jsonTyped } from './lib/usage.js'
import { version } from './version.js'

const LIST_HINT = 'hint: `bioxen-luavm --help` lists the commands'

/** Builds the `bioxen-luavm` command tree. `setExit` records the exit status. */
export function createProgram(io: CliIO, setExit: (code: number) => void): Command {
  const program = new Command('bioxen-luavm')
    .description('Run Lua through interchangeable backends: a WebAssembly sandbox, native Lua, XCP-ng guests.')
    .version(version, '-V, --version')
    .option('-c, --config <file>', 'config file (default: $LUAVM_CONFIG or ~/.config/bioxen-luavm/config.json)')
    .option('--plugin <module>', 'load a third-party backend module (repeatable)', collect)
    // Global flags go before the command (`bioxen-luavm --config f run x.lua`),
    // so a command may have its own flag of the same name:
    // `pkg install NAME --version 1.0-1` is the rock's version, not ours.
    .enablePositionalOptions()
    .exitOverride()
    // Commander writes only its parse errors to stderr; with --json they go
    // out as one JSON object on stdout instead (see runCli).
    .configureOutput({ writeOut: io.stdout, writeErr: (text) => (jsonTyped(program) ? undefined : io.stderr(text)) })
  registerRun(program, io, setExit)
  registerRepl(program, io, setExit)
  registerBackends(program, io)
  registerConfig(program, io, setExit)
  registerPkg(program, io)
  registerEnv(program, io, setExit)
  registerXcpng(program, io, setExit)
  registerCompletion(program, io)
  addUsageHints(program)
  program
    .helpCommand(true)
    .addHelpText(
      'after',
      `
Examples:
  $ bioxen-luavm run -e 'print("hello")'
  $ bioxen-luavm --config luavm.json run --backend process script.lua
  $ bioxen-luavm backends
  $ bioxen-luavm help run

With no command on a terminal it opens an interactive menu.
Exit status: 0 ok, 1 Lua error, 2 usage or configuration error,
3 timeout, memory limit, output limit or cancelled, 4 internal error,
130 interrupted (Ctrl-C).`,
    )
    // Set last, so no subcommand inherits it: the root takes operands only
    // to say which command it does not know.
    .allowExcessArguments(true)
  program.action(async (_flags: unknown, command: Command) => {
    const [unknown] = command.args
    if (unknown !== undefined) {
      throw new UsageError(`unknown command '${unknown}'${didYouMean(unknown, commandNames(command))}`, LIST_HINT)
    }
    if (!io.isTTY) throw new UsageError('no command given (the interactive menu needs a terminal)', LIST_HINT)
    const { runMenu } = await import('./menu/menu.js')
    setExit(await runMenu(await loadContext(command, io), io))
  })
  return program
}
