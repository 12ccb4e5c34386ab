import { execFile } from 'node:child_process'
import { BackendUnavailableError } from '@bioxen-luavm/core'
import { which } from '../interpreters/detect.js'

/**
 * Head room for what an interpreter maps before Lua code runs: the binary,
 * libc, libm, the runtime and driver chunks (about 4–6 MiB of address space
 * for lua5.x and LuaJIT on x86-64 Linux), plus LuaSocket when it is loaded.
 * A cap below this would stop the interpreter from starting at all, so
 * `memoryLimitBytes` counts what Lua code may use on top of it.
 */
export const INTERPRETER_FOOTPRINT_BYTES = 8 * 1024 * 1024

/** Where `prlimit` is, or why memory limits are unavailable. */
export function findPrlimit(): { path?: string; problem?: string } {
  const path = which('prlimit')
  return path
    ? { path }
    : {
        problem:
          '`prlimit` (util-linux) was not found on PATH, so memoryLimitBytes cannot be enforced; install util-linux',
      }
}

/** Throws a clear error when a memory limit is asked for and `prlimit` is missing. */
export function requirePrlimit(): string {
  const { path, problem } = findPrlimit()
  if (!path) throw new BackendUnavailableError(`${problem}, or drop memoryLimitBytes`)
  return path
}

/** RLIMIT_AS for a memory cap: the cap plus the interpreter's own footprint. */
export function addressSpaceLimit(memoryLimitBytes: number): number {
  return Math.floor(memoryLimitBytes) + INTERPRETER_FOOTPRINT_BYTES
}

/**
 * The argv that runs `command args` under an address-space cap. `prlimit`
 * sets the limit on itself and then execs the interpreter, so the pid (and
 * process group) stays the interpreter's. Soft and hard limits are equal:
 * Lua code cannot raise them back.
 */
export function withAddressSpaceLimit(
  prlimitPath: string,
  limitBytes: number,
  command: string,
  args: readonly string[],
): { command: string; args: string[] } {
  const n = Math.floor(limitBytes)
  return { command: prlimitPath, args: [`--as=${n}:${n}`, '--', command, ...args] }
}

/**
 * Changes the soft RLIMIT_AS of a running process (it may only go up to the
 * hard limit the process was started with). Used between executions of a
 * persistent worker so a per-execution `memoryLimitBytes` does not cost the
 * worker its state.
 */
export function setSoftAddressSpaceLimit(
  prlimitPath: string,
  pid: number,
  softBytes: number | 'unlimited',
  hard: number | 'unlimited',
): Promise<void> {
  const soft = softBytes === 'unlimited' ? 'unlimited' : String(Math.floor(softBytes))
  const h = hard === 'unlimited' ? 'unlimited' : String(Math.floor(hard))
  return new Promise((resolve, reject) => {
    execFile(
      prlimitPath,
      ['--pid', String(pid), `--as=${soft}:${h}`],
      { timeout: 5_000, killSignal: 'SIGKILL', env: { PATH: process.env.PATH ?? '' } },
      (error, _stdout, stderr) => {
        if (error) {
          reject(
            new BackendUnavailableError(
              `prlimit could not set the memory limit of pid ${pid}: ${String(stderr).trim() || error.message}`,
            ),
          )
        } else resolve()
      },
    ).stdin?.end()
  })
}
