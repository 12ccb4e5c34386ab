import { Command, CommanderError } from 'commander'
import { registerRun } from './commands/run.js'
import { collect } from './lib/options.js'
import type { CliIO } from './lib/io.js'
import { version } from './version.js'

/** Builds the `bioxen-luavm` command tree. `setExit` records the exit status. */
export function createProgram(io: CliIO, setExit: (code: number) => void): Command {
  const program = new Command('bioxen-luavm')
    .description('Run Lua through interchangeable backends: a WebAssembly sandbox, native Lua, XCP-ng guests.')
    .version(version, '-V, --version')
    .option('-c, --config <file>', 'config file (default: $LUAVM_CONFIG or ~/.config/bioxen-luavm/config.json)')
    .option('--plugin <module>', 'load a third-party backend module (repeatable)', collect, [])
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
  registerRun(program, io, setExit)
  return program
}

export { CommanderError }
