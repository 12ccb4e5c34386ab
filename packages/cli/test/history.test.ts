import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { historyFile, loadHistory, saveHistoryLine } from '../src/lib/history.js'

let dir: string
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('REPL history', () => {
  it('lives in the XDG state directory, or where LUAVM_HISTORY_FILE says; empty turns it off', () => {
    expect(historyFile({ XDG_STATE_HOME: '/s' })).toBe('/s/bioxen-luavm/repl_history')
    expect(historyFile({})).toBe(join(homedir(), '.local/state/bioxen-luavm/repl_history'))
    expect(historyFile({ LUAVM_HISTORY_FILE: '/h', XDG_STATE_HOME: '/s' })).toBe('/h')
    expect(historyFile({ LUAVM_HISTORY_FILE: '' })).toBeUndefined()
  })

  it('appends entered lines to a private file and reads them back newest first', async () => {
    dir = mkdtempSync(join(tmpdir(), 'luavm-history-'))
    const file = join(dir, 'state', 'repl_history')
    expect(await loadHistory(file)).toEqual([])
    for (const line of ['x = 1', '', '   ', 'print(x)']) await saveHistoryLine(file, line)
    expect(readFileSync(file, 'utf8')).toBe('x = 1\nprint(x)\n')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(await loadHistory(file)).toEqual(['print(x)', 'x = 1'])
    await saveHistoryLine(undefined, 'ignored')
  })

  it('keeps the last thousand lines and cuts a long file back', async () => {
    dir = mkdtempSync(join(tmpdir(), 'luavm-history-'))
    const file = join(dir, 'repl_history')
    writeFileSync(file, Array.from({ length: 2500 }, (_, i) => `line ${i}`).join('\n'))
    const lines = await loadHistory(file)
    expect(lines).toHaveLength(1000)
    expect(lines[0]).toBe('line 2499')
    expect(lines[999]).toBe('line 1500')
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(1000)
  })
})
