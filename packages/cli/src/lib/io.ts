import { createInterface } from 'node:readline'

/** Where a command writes; tests pass their own. */
export interface CliIO {
  stdout(text: string): void
  stderr(text: string): void
  /** Reads all of standard input as text. */
  readStdin(): Promise<string>
  /** Standard input, line by line (without line endings). */
  stdinLines(): AsyncIterable<string>
  /** True when stdout is a terminal (progress and colour only then). */
  isTTY: boolean
  env: Record<string, string | undefined>
  /** Directory plugin paths and package names resolve from (default: the process's). */
  cwd?: string
}

/** The real process streams. */
export function processIO(): CliIO {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = []
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
      return Buffer.concat(chunks).toString('utf8')
    },
    stdinLines: () => createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY }),
    isTTY: Boolean(process.stdout.isTTY && process.stdin.isTTY),
    env: process.env,
    cwd: process.cwd(),
  }
}

/** What `runCliInMemory` resolves with. */
export interface CapturedRun {
  code: number
  stdout: string
  stderr: string
}

/**
 * Runs the CLI in-process with in-memory streams: `stdin` as given, no
 * terminal, and exactly the environment passed (nothing inherited) — for
 * embedding the CLI and for tests.
 */
export async function runCliCaptured(
  run: (argv: readonly string[], io: CliIO) => Promise<number>,
  argv: readonly string[],
  options: { stdin?: string; env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<CapturedRun> {
  let stdout = ''
  let stderr = ''
  const text = options.stdin ?? ''
  const io: CliIO = {
    stdout: (t) => {
      stdout += t
    },
    stderr: (t) => {
      stderr += t
    },
    readStdin: async () => text,
    async *stdinLines() {
      const lines = text.split(/\r?\n/)
      if (lines.at(-1) === '') lines.pop()
      yield* lines
    },
    isTTY: false,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
  }
  const code = await run(argv, io)
  return { code, stdout, stderr }
}
