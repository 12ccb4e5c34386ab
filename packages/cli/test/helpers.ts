import { type CliIO, runCli } from '../src/index.js'

/** Runs the CLI in-process with captured streams. */
export async function cli(argv: string[], options: { stdin?: string; env?: Record<string, string> } = {}) {
  let stdout = ''
  let stderr = ''
  const io: CliIO = {
    stdout: (t) => {
      stdout += t
    },
    stderr: (t) => {
      stderr += t
    },
    readStdin: async () => options.stdin ?? '',
    async *stdinLines() {
      const text = options.stdin ?? ''
      const lines = text.split(/\r?\n/)
      if (lines.at(-1) === '') lines.pop()
      yield* lines
    },
    isTTY: false,
    // No inherited config file or backend choice from the developer's machine.
    env: { XDG_CONFIG_HOME: '/nonexistent-luavm-test', ...options.env },
  }
  const code = await runCli(argv, io)
  return { code, stdout, stderr }
}
