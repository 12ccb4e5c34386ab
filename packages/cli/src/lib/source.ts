import { readFile } from 'node:fs/promises'
import { UsageError } from './errors.js'
import type { CliIO } from './io.js'

/** Lua source to run and the chunk name its errors should show. */
export interface ProgramSource {
  /** Text for `-e`; the exact bytes of a file or of stdin (Lua source is bytes). */
  code: string | Uint8Array
  chunkName: string
}

/**
 * Picks the program from `-e CODE`, a file, or `-` (stdin), or stdin when it
 * is piped and nothing else is given (as `lua` does).
 */
export async function readProgram(
  eval_: string | undefined,
  file: string | undefined,
  io: CliIO,
): Promise<ProgramSource> {
  if (eval_ !== undefined) return { code: eval_, chunkName: '(command line)' }
  if (file === undefined) {
    // Piped in with nothing else given: nothing at all on the pipe is still "no program".
    const piped = io.stdinIsTTY === false ? await io.readStdin() : new Uint8Array(0)
    if (piped.length > 0) return { code: skipShebang(piped), chunkName: 'stdin' }
    throw new UsageError('no program given', 'hint: bioxen-luavm run -e "print(1)" | FILE | - (stdin)')
  }
  if (file === '-') return { code: skipShebang(await io.readStdin()), chunkName: 'stdin' }
  try {
    return { code: skipShebang(await readFile(file)), chunkName: file }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new UsageError(
      code === 'ENOENT' ? `file '${file}' does not exist` : `cannot read '${file}': ${(error as Error).message}`,
    )
  }
}

/**
 * A first line starting with `#` (`#!/usr/bin/env -S bioxen-luavm run`) is
 * skipped as lua.c skips it: its content goes, its newline stays, so every
 * later line keeps its number.
 */
export function skipShebang(code: Uint8Array): Uint8Array {
  if (code[0] !== 0x23) return code
  const newline = code.indexOf(0x0a)
  return newline === -1 ? new Uint8Array(0) : code.subarray(newline)
}
