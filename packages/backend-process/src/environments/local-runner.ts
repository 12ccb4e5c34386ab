import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CommandRunner, PackageError } from '@bioxen-luavm/core'
import { buildEnvironment } from '../spawn/environment.js'
import { killGroup, spawnInGroup } from '../spawn/process-group.js'

/** What a local command gets besides its argv. */
export interface LocalRunOptions {
  signal?: AbortSignal
  /** Deadline; past it the whole process group is killed (default 300 s). */
  timeoutMs?: number
  /** Extra environment variables (the host's are scrubbed to an allowlist first). */
  env?: Record<string, string>
  /** Text written to the program's stdin (then closed); stdin is empty otherwise. */
  input?: string
}

/** Settings of a {@link LocalCommandRunner}. */
export interface LocalRunnerOptions {
  /** Working directory; default a private scratch directory, never the host's current directory. */
  cwd?: string
  /** Host environment the allowlist is taken from (default `process.env`). */
  hostEnv?: NodeJS.ProcessEnv
  /** Cap on the stdout and stderr kept, each (default 4 MiB; the rest is read and dropped, never buffered). */
  maxOutputBytes?: number
}

const DEFAULT_TIMEOUT_MS = 300_000

/**
 * Runs programs (luarocks, a probe interpreter) on this machine for core's
 * `LuarocksInstaller`: argv only, never a shell; a scrubbed environment
 * like the interpreters get; its own process group, killed as a whole on
 * deadline or abort (a compiler luarocks started goes too); and a private
 * `TMPDIR` removed afterwards, so even a killed luarocks leaves no
 * `/tmp/luarocks_*` behind.
 */
export class LocalCommandRunner implements CommandRunner {
  readonly #options: LocalRunnerOptions

  constructor(options: LocalRunnerOptions = {}) {
    this.#options = options
  }

  /**
   * Runs `argv` (program first) and resolves with its exit code and output;
   * a program that is not installed resolves with exit code 127, a deadline
   * with the kill noted in stderr. Rejects only when cancelled or unrunnable.
   */
  async run(
    argv: readonly string[],
    options: LocalRunOptions = {},
  ): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const [program, ...args] = argv
    if (!program) throw new PackageError('empty command')
    options.signal?.throwIfAborted()
    const scratch = await mkdtemp(join(tmpdir(), 'bioxen-luavm-run-'))
    try {
      const env = buildEnvironment({ extra: { ...options.env, TMPDIR: scratch } }, this.#options.hostEnv)
      return await this.#spawn(program, args, env, this.#options.cwd ?? scratch, options)
    } finally {
      await rm(scratch, { recursive: true, force: true })
    }
  }

  #spawn(
    program: string,
    args: string[],
    env: Record<string, string>,
    cwd: string,
    options: LocalRunOptions,
  ): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const cap = this.#options.maxOutputBytes ?? 4 * 1024 * 1024
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    return new Promise((resolve, reject) => {
      const child = spawnInGroup(program, args, { env, cwd })
      const out = new Collector(cap)
      const err = new Collector(cap)
      let why: 'timeout' | 'abort' | undefined
      const kill = (reason: 'timeout' | 'abort') => {
        why ??= reason
        // A build step may have left the group (setsid); its descendants go too.
        if (child.pid !== undefined) killGroup(child.pid, { descendants: true })
        // 'close' waits for the pipes, and something that escaped the kill may
        // still hold them: closing our ends makes the deadline final.
        child.stdout.destroy()
        child.stderr.destroy()
      }
      const timer = setTimeout(() => kill('timeout'), timeoutMs)
      const onAbort = () => kill('abort')
      options.signal?.addEventListener('abort', onAbort, { once: true })
      // Aborted while the scratch directory was being made: the listener came too late.
      if (options.signal?.aborted) onAbort()
      const done = () => {
        clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
      }
      child.stdout.on('data', (b: Buffer) => out.add(b))
      child.stderr.on('data', (b: Buffer) => err.add(b))
      child.stdin.end(options.input ?? '')
      child.once('error', (error: NodeJS.ErrnoException) => {
        done()
        // 127 like a shell: callers (and luarocksFailure) get an `Error:` line to quote.
        if (error.code === 'ENOENT') resolve({ exitCode: 127, stdout: '', stderr: `Error: ${program} was not found` })
        else reject(new PackageError(`cannot run ${program}: ${error.message}`, { cause: error }))
      })
      child.once('close', (code, signal) => {
        done()
        if (why === 'abort') {
          reject(new PackageError(`${program} was cancelled`, { cause: options.signal?.reason }))
          return
        }
        const note =
          why === 'timeout' ? `\nError: ${program} was killed after ${Math.ceil(timeoutMs / 1000)} s (deadline)` : ''
        resolve({
          exitCode: code ?? (signal ? 128 + signalNumber(signal) : 1),
          stdout: out.text(),
          stderr: `${err.text()}${note}`,
        })
      })
    })
  }
}

class Collector {
  readonly #chunks: Buffer[] = []
  #size = 0
  constructor(readonly cap: number) {}
  add(chunk: Buffer): void {
    if (this.#size >= this.cap) return
    const part = chunk.subarray(0, this.cap - this.#size)
    this.#chunks.push(part)
    this.#size += part.length
  }
  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8')
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 1
}
