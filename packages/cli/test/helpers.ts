import { runCliInMemory } from '../src/index.js'

/** Runs the CLI in-process; no config file or backend choice is inherited from the machine. */
export function cli(argv: string[], options: { stdin?: string; env?: Record<string, string> } = {}) {
  return runCliInMemory(argv, {
    stdin: options.stdin,
    env: { XDG_CONFIG_HOME: '/nonexistent-luavm-test', ...options.env },
  })
}
