import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { descendantsOf, findLeaks } from '../../scripts/leak-oracle.mjs'

// The leak oracle's extensions (scripts/leak-oracle.mjs): `root` scoping
// for use inside tests on a shared machine, a private `tmp`, the
// `bioxen-luavm-*` and `xapi-sim-*` temp entries the SDK and the simulator
// create, and the listening sockets a lingering server still holds. Each
// check must be able to see a leak, and forget it once it is gone.

const LUA_SERVER = `
local socket = require("socket")
local luavm_oracle_probe = 1
local s = assert(socket.bind("127.0.0.1", 0))
local _, port = s:getsockname()
io.stdout:write(port, "\\n") io.stdout:flush()
while true do s:settimeout(1) s:accept() end
`

describe('leak oracle extensions', () => {
  it('names the port a lingering Lua server still listens on, and limits the search to a root pid', async () => {
    const since = Date.now()
    const child = spawn('lua5.4', ['-e', LUA_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())))
        child.once('exit', (code) => reject(new Error(`lua exited ${code}`)))
      })
      expect(descendantsOf(process.pid)).toContain(child.pid)
      const leaks = findLeaks(since, { root: process.pid })
      expect(leaks.map((l) => l.kind)).toEqual(expect.arrayContaining(['lua driver', 'listening socket']))
      expect(leaks.find((l) => l.kind === 'listening socket')?.what).toBe(
        `127.0.0.1:${port} held by pid ${child.pid} (lua driver)`,
      )
      // Another root sees none of it (here: the child's own subtree, which is empty).
      expect(findLeaks(since, { root: child.pid as number }).filter((l) => l.kind !== 'temp entry')).toEqual([])
    } finally {
      child.kill('SIGKILL')
    }
    await new Promise((r) => child.once('exit', r))
    expect(findLeaks(since, { root: process.pid }).filter((l) => l.what.includes(String(child.pid)))).toEqual([])
  })

  it('sees the SDK’s and the simulator’s temp entries in a private temp directory', () => {
    const since = Date.now()
    const tmp = mkdtempSync(join(tmpdir(), 'oracle-private-'))
    try {
      mkdirSync(join(tmp, 'bioxen-luavm-vm-abc'))
      writeFileSync(join(tmp, 'bioxen-luavm-worker-1-2.cjs'), '')
      mkdirSync(join(tmp, 'xapi-sim-cert-x'))
      mkdirSync(join(tmp, 'luavm-test-y'))
      writeFileSync(join(tmp, 'unrelated.txt'), '')
      const found = findLeaks(since, { root: process.pid, tmp })
        .filter((l) => l.kind === 'temp entry')
        .map((l) => l.what.slice(tmp.length + 1))
        .sort()
      expect(found).toEqual(['bioxen-luavm-vm-abc', 'bioxen-luavm-worker-1-2.cjs', 'luavm-test-y', 'xapi-sim-cert-x'])
      // Entries older than `since` belong to someone else's run.
      expect(findLeaks(Date.now() + 60_000, { root: process.pid, tmp })).toEqual([])
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
    // A temp directory that is gone has nothing left in it.
    expect(findLeaks(since, { root: process.pid, tmp })).toEqual([])
  })

  it('recognises headless Chromium and ssh-agent started by the tests by their command lines', async () => {
    const since = Date.now()
    // Stand-ins with the command lines the browser and SSH-agent tests produce.
    const fakeChromium = spawn('sleep', ['30'], { argv0: 'chromium' }) // argv0 alone is not enough: not ours
    const named = spawn(
      process.execPath,
      ['-e', 'setTimeout(() => {}, 30000)', '--', '--user-data-dir=/tmp/luavm-chromium-x'],
      { argv0: '/usr/lib/chromium/chromium' },
    )
    try {
      await new Promise((r) => setTimeout(r, 200))
      const kinds = findLeaks(since, { root: process.pid }).map((l) => `${l.kind}:${l.what.split(':')[0]}`)
      expect(kinds).toContain(`headless chromium:pid ${named.pid}`)
      expect(kinds.some((k) => k.endsWith(`pid ${fakeChromium.pid}`))).toBe(false)
    } finally {
      fakeChromium.kill('SIGKILL')
      named.kill('SIGKILL')
    }
    await Promise.all(
      [fakeChromium, named].map((c) => new Promise((r) => (c.exitCode === null ? c.once('exit', r) : r(0)))),
    )
  })
})
