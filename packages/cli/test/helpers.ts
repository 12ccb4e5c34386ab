import { runCliInMemory } from '../src/index.js'

/**
 * Runs the CLI in-process; no config file or backend choice is inherited from
 * the machine. Resolves with the exit code and the text of stdout and stderr.
 */
export async function cli(argv: string[], options: { stdin?: string; env?: Record<string, string> } = {}) {
  const { code, stdout, stderr } = await runCliInMemory(argv, {
    stdin: options.stdin,
    env: { XDG_CONFIG_HOME: '/nonexistent-luavm-test', ...options.env },
  })
  return { code, stdout, stderr }
}
