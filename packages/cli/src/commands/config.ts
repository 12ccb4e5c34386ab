import type { Command } from 'commander'
import { loadContext } from '../lib/context.js'
import { ExitCode } from '../lib/exit-codes.js'
import type { CliIO } from '../lib/io.js'

/** `config show|validate`: the merged config (secrets redacted) and its problems. */
export function registerConfig(program: Command, io: CliIO, setExit: (code: number) => void): void {
  const config = program
    .command('config')
    .description('show or validate the configuration (secrets are redacted)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ bioxen-luavm config show\n  $ bioxen-luavm --config ./luavm.json config validate --json',
    )

  config
    .command('show')
    .description('print the merged config: file < environment < flags, with secrets redacted')
    .option('--json', 'print it on one line (it is always JSON)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ bioxen-luavm config show\n  $ bioxen-luavm --config xcpng_config.json config show',
    )
    .action(async (flags: { json?: boolean }, command: Command) => {
      const { config: manager, registry } = await loadContext(command, io)
      io.stdout(`${JSON.stringify(manager.redacted(registry), null, flags.json ? undefined : 2)}\n`)
    })

  config
    .command('validate')
    .description('check every backend section against its schema; exit 2 when something is wrong')
    .option('--json', 'print {"valid": bool, "problems": [...]}')
    .addHelpText('after', '\nExamples:\n  $ bioxen-luavm --config ./luavm.json config validate')
    .action(async (flags: { json?: boolean }, command: Command) => {
      const { config: manager, registry } = await loadContext(command, io)
      const problems = manager.validate(registry)
      if (flags.json) io.stdout(`${JSON.stringify({ valid: problems.length === 0, problems })}\n`)
      else if (problems.length === 0) io.stdout('config is valid\n')
      else io.stderr(`config has ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}\n`).join('')}`)
      setExit(problems.length === 0 ? ExitCode.ok : ExitCode.usage)
    })
}
