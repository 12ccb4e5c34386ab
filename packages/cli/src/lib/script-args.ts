import type { BaseLuaVM, ExecOptions, ExecResult } from '@bioxen-luavm/core'

/**
 * What `lua.c` gives a script: `arg` (arg[0] the script, arg[1..n] its
 * arguments, the interpreter and its options at negative indices) and the
 * same arguments as the main chunk's `...`.
 */
export interface ScriptArgs {
  /** arg[0]: the script's name; absent for `-e` and a program piped without `-` (as lua.c). */
  script?: string
  /** Words before the script: the interpreter, then its options (arg[-n] .. arg[-1]). */
  before: readonly string[]
  /** arg[1..n] and `...`. */
  args: readonly string[]
}

/**
 * Runs `code` as a script with arguments. The core cannot pass arguments to a
 * chunk yet, so the program is compiled by a small loader chunk through the
 * VM's own `load` under its real chunk name and tail-called with the
 * arguments: the loader's frame is gone by the time user code runs, and the
 * program's line numbers are its own. A program that does not compile is run
 * as is, so its syntax error is reported exactly as without arguments.
 * Without `argv` the code runs as is.
 */
export async function executeScript(
  vm: BaseLuaVM,
  code: string | Uint8Array,
  chunkName: string,
  argv: ScriptArgs | undefined,
  options: ExecOptions,
): Promise<ExecResult> {
  const bytes = typeof code === 'string' ? new TextEncoder().encode(code) : code
  // Blank code is the core's usage error, reported as for any execute.
  if (argv === undefined || isBlank(bytes)) return vm.execute(code, { ...options, chunkName })
  // Raised only when `load` fails, before any user code ran; random, so no program can forge it.
  const notCompiled = `bioxen-luavm:not-compiled:${crypto.randomUUID()}`
  const entries: string[] = []
  argv.before.forEach((word, i) => {
    entries.push(`[${i - argv.before.length}]=${luaString(word)}`)
  })
  if (argv.script !== undefined) entries.push(`[0]=${luaString(argv.script)}`)
  const args = argv.args.map(luaString)
  const loader =
    `local f = load(${luaString(bytes)}, ${luaString(`=${chunkName}`)}) ` +
    `if not f then error(${luaString(notCompiled)}, 0) end ` +
    `arg = {${[...entries, ...args].join(', ')}} ` +
    `return f(${args.join(', ')})`
  const result = await vm.execute(loader, { ...options, chunkName })
  if (result.status === 'error' && result.error?.message === notCompiled) {
    return vm.execute(code, { ...options, chunkName })
  }
  return result
}

/** A Lua string literal with exactly these bytes (text is UTF-8), in plain ASCII. */
export function luaString(value: string | Uint8Array): string {
  const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value
  let out = '"'
  for (const b of bytes) {
    // Printable ASCII except the quote and backslash goes as is; the rest as
    // three-digit decimal escapes (never ambiguous with a following digit).
    out +=
      b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\${String(b).padStart(3, '0')}`
  }
  return `${out}"`
}

function isBlank(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0x20 || (b >= 0x09 && b <= 0x0d))
}
