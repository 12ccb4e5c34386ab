import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'

const KEEP = 1000

/**
 * Where REPL history is kept: `$LUAVM_HISTORY_FILE` (empty turns history
 * off), else `$XDG_STATE_HOME/bioxen-luavm/repl_history`, else
 * `~/.local/state/bioxen-luavm/repl_history` — never the current directory.
 */
export function historyFile(env: Record<string, string | undefined>): string | undefined {
  const explicit = env.LUAVM_HISTORY_FILE
  if (explicit !== undefined) return explicit === '' ? undefined : explicit
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'bioxen-luavm', 'repl_history')
}

/**
 * The saved lines, newest first (as readline's `history` option wants
 * them); none when there is no file yet. A long file is cut back to the
 * last {@link KEEP} lines.
 */
export async function loadHistory(file: string | undefined): Promise<string[]> {
  if (!file) return []
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    return []
  }
  const lines = text.split('\n').filter((line) => line.trim() !== '')
  if (lines.length > 2 * KEEP)
    await writeFile(file, `${lines.slice(-KEEP).join('\n')}\n`, { mode: 0o600 }).catch(() => {})
  return lines.slice(-KEEP).reverse()
}

/** Appends one entered line. The file is private (0600): Lua code may hold secrets. Failures are ignored. */
export async function saveHistoryLine(file: string | undefined, line: string): Promise<void> {
  if (!file || line.trim() === '' || line.includes('\n')) return
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 })
    await appendFile(file, `${line}\n`, { mode: 0o600 })
  } catch {
    // History is a convenience; a read-only home must not break the REPL.
  }
}
