import type { Command } from 'commander'

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
  for (const sub of program.commands) addUsageHints(sub)
}
