/**
 * Runs the repository's examples the way a reader would: `node
 * scripts/run-ts.mjs <entry> [args]` as a child process (argv, no shell), from
 * the repository root, and collects its output.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'

/** The repository root (scripts/run-ts.mjs resolves entries from here). */
export const repoRoot = join(import.meta.dirname, '..', '..')

/** What an example run produced. */
export interface ExampleRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * Runs `node scripts/run-ts.mjs <entry> ...args`. `env` is added to this
 * process's environment. A run still going after `killAfterMs` is killed (a
 * guard so a hung example fails the test instead of hanging it, not a
 * timing assertion) and reported with its signal.
 */
export function runExample(
  entry: string,
  args: readonly string[] = [],
  options: { env?: Record<string, string>; killAfterMs?: number } = {},
): Promise<ExampleRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'scripts', 'run-ts.mjs'), entry, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (t: string) => {
      stdout += t
    })
    child.stderr.setEncoding('utf8').on('data', (t: string) => {
      stderr += t
    })
    const guard = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 90_000)
    child.once('error', (error) => {
      clearTimeout(guard)
      reject(error)
    })
    child.once('close', (code, signal) => {
      clearTimeout(guard)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** A readable failure message: the exit status and both streams. */
export function describeRun(run: ExampleRun): string {
  return `exit ${run.code}${run.signal ? ` (${run.signal})` : ''}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`
}
