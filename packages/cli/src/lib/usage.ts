import { didYouMean } from '@bioxen-luavm/core'
import type { Command } from 'commander'

/** The subcommands of `command` a user types (not commander's `help`). */
export function commandNames(command: Command): string[] {
  return command.commands.map((c) => c.name()).filter((n) => n !== 'help')
}

/** The full name of a command as typed: `bioxen-luavm pkg install`. */
export function commandPath(command: Command): string {
  const names: string[] = []
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}

/**
 * After every command is registered: a usage mistake caught by the parser
 * (unknown option, missing argument) prints its one `error: …` line followed
 * by a `hint: …` line naming the help of the command that was typed, the
 * same two lines every other error prints.
 */
export function addUsageHints(program: Command): void {
  program.showHelpAfterError(`hint: \`${commandPath(program)} --help\` shows usage and examples`)
  for (const sub of program.commands) {
    if (sub.commands.length > 0) requireSubcommand(sub)
    addUsageHints(sub)
  }
}

/**
 * `bioxen-luavm pkg` alone is a usage mistake like any other: one error line
 * naming the commands it takes, and the hint — not its whole help on stderr.
 */
function requireSubcommand(command: Command): void {
  const names = commandNames(command)
  // An action turns off commander's implicit `help` subcommand; keep it.
  command.helpCommand(true)
  command.allowExcessArguments(true).action((_flags: unknown, self: Command) => {
    const [unknown] = self.args
    self.error(
      unknown === undefined
        ? `error: '${commandPath(self)}' needs a command: ${names.join(', ')}`
        : `error: unknown command '${unknown}'${didYouMean(unknown, names)}`,
      { exitCode: 2, code: 'luavm.missingCommand' },
    )
  })
}

/**
 * The words typed after `bioxen-luavm` (commander keeps them on each parsed
 * command as `rawArgs`; its typings omit the field).
 */
export function typedWords(command: Command): readonly string[] {
  let root = command
  while (root.parent) root = root.parent
  return (root as { rawArgs?: string[] }).rawArgs ?? []
}

/**
 * `--json` typed before any `--`: a parse error (which comes before the
 * command's options are known) is then reported as JSON.
 */
export function jsonTyped(command: Command): boolean {
  const words = typedWords(command)
  const end = words.indexOf('--')
  return (end === -1 ? words : words.slice(0, end)).includes('--json')
}

/** Whether the command that ran (or failed) asked for `--json`. */
export function jsonRequested(program: Command): boolean {
  const pending = [program]
  for (let c = pending.pop(); c; c = pending.pop()) {
    if (c.opts().json === true) return true
    pending.push(...c.commands)
  }
  return false
}
