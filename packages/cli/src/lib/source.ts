import { readFile } from 'node:fs/promises'
import { UsageError } from './errors.js'
import type { CliIO } from './io.js'

/** Lua source to run and the chunk name its errors should show. */
export interface ProgramSource {
  /** Text for `-e`; the exact bytes of a file or of stdin (Lua source is bytes). */
  code: string | Uint8Array
  chunkName: string
}

/** Picks the program from `-e CODE`, a file, or `-` (stdin): exactly one of them. */
export async function readProgram(
  eval_: string | undefined,
  file: string | undefined,
  io: CliIO,
): Promise<ProgramSource> {
  if (eval_ !== undefined && file !== undefined) {
    throw new UsageError('give either -e CODE or a FILE, not both')
  }
  if (eval_ !== undefined) return { code: eval_, chunkName: '(command line)' }
  if (file === undefined) {
    throw new UsageError('no program given', 'hint: bioxen-luavm run -e "print(1)" | FILE | - (stdin)')
  }
  if (file === '-') return { code: await io.readStdin(), chunkName: 'stdin' }
  try {
    return { code: await readFile(file), chunkName: file }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new UsageError(
      code === 'ENOENT' ? `file '${file}' does not exist` : `cannot read '${file}': ${(error as Error).message}`,
    )
  }
}
