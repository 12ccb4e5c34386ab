import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { findLeaks } from '../scripts/leak-oracle.mjs'

// The oracle guards the whole run; it must itself be able to see a leak.
describe('leak oracle', () => {
  it('sees a driver-like Lua process and a luavm temp dir, and forgets them once gone', async () => {
    const since = Date.now()
    const child = spawn('lua5.4', ['-e', 'local luavm_oracle_probe = 1 while true do end'], { stdio: 'ignore' })
    const dir = mkdtempSync(join(tmpdir(), 'luavm-oracle-'))
    try {
      await new Promise((r) => setTimeout(r, 200))
      const leaks = findLeaks(since)
      expect(leaks.map((l) => l.kind)).toEqual(expect.arrayContaining(['lua driver', 'temp entry']))
      expect(leaks.some((l) => l.what.includes(String(child.pid)))).toBe(true)
    } finally {
      child.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
    await new Promise((r) => child.once('exit', r))
    expect(findLeaks(since).filter((l) => l.what.includes(String(child.pid)) || l.what === dir)).toEqual([])
  })
})
