import { createInterface } from 'node:readline'
import { bytesToText, concatBytes } from '@bioxen-luavm/core'

/** Where a command writes; tests pass their own. */
export interface CliIO {
  /** Writes text (as UTF-8) or exact bytes (a Lua program's output is bytes) to stdout. */
  stdout(data: string | Uint8Array): void
  /** Writes text or exact bytes to stderr. */
  stderr(data: string | Uint8Array): void
  /** Reads all of standard input, as bytes (a program on stdin is Lua source, which is bytes). */
  readStdin(): Promise<Uint8Array>
  /** Standard input, line by line (without line endings). */
  stdinLines(): AsyncIterable<string>
  /** True when stdout is a terminal (progress and colour only then). */
  isTTY: boolean
  /**
   * False when stdin is a pipe or file: `run` with no program reads it then.
   * Undefined is taken as a terminal (stdin is never read unasked).
   */
  stdinIsTTY?: boolean
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
      return Buffer.concat(chunks)
    },
    stdinLines: () => createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY }),
    isTTY: Boolean(process.stdout.isTTY && process.stdin.isTTY),
    stdinIsTTY: Boolean(process.stdin.isTTY),
    env: process.env,
    cwd: process.cwd(),
  }
}

/** What `runCliInMemory` resolves with. */
export interface CapturedRun {
  code: number
  /** stdout as text (a UTF-8 view of `stdoutBytes`). */
  stdout: string
  /** stderr as text (a UTF-8 view of `stderrBytes`). */
  stderr: string
  /** The exact bytes written to stdout. */
  stdoutBytes: Uint8Array
  /** The exact bytes written to stderr. */
  stderrBytes: Uint8Array
}

/**
 * Runs the CLI in-process with in-memory streams: `stdin` as given, no
 * terminal, and exactly the environment passed (nothing inherited) — for
 * embedding the CLI and for tests.
 */
export async function runCliCaptured(
  run: (argv: readonly string[], io: CliIO) => Promise<number>,
  argv: readonly string[],
  options: { stdin?: string | Uint8Array; env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<CapturedRun> {
  const stdout: Uint8Array[] = []
  const stderr: Uint8Array[] = []
  const encoder = new TextEncoder()
  const input = options.stdin ?? ''
  const stdinBytes = typeof input === 'string' ? encoder.encode(input) : input
  const text = bytesToText(stdinBytes)
  const io: CliIO = {
    stdout: (d) => {
      stdout.push(typeof d === 'string' ? encoder.encode(d) : d.slice())
    },
    stderr: (d) => {
      stderr.push(typeof d === 'string' ? encoder.encode(d) : d.slice())
    },
    readStdin: async () => stdinBytes,
    async *stdinLines() {
      const lines = text.split(/\r?\n/)
      if (lines.at(-1) === '') lines.pop()
      yield* lines
    },
    isTTY: false,
    // Stdin given is a pipe; none given behaves as a terminal (nothing to read).
    stdinIsTTY: options.stdin === undefined,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
  }
  const code = await run(argv, io)
  const stdoutBytes = concatBytes(stdout)
  const stderrBytes = concatBytes(stderr)
  return { code, stdout: bytesToText(stdoutBytes), stderr: bytesToText(stderrBytes), stdoutBytes, stderrBytes }
}
