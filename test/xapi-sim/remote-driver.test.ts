import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SshConnection } from '../../packages/backend-xcpng/src/ssh/connection.js'
import { HostKeyVerifier } from '../../packages/backend-xcpng/src/ssh/host-key.js'
import { RemoteDriver } from '../../packages/backend-xcpng/src/ssh/remote-driver.js'
import { type SshdHarness, startSshd } from '../harness/sshd.js'

let sshd: SshdHarness
beforeAll(async () => {
  sshd = await startSshd()
})
afterAll(async () => {
  await sshd?.stop()
})

function target() {
  return {
    host: sshd.host,
    port: sshd.port,
    username: sshd.user,
    privateKey: sshd.privateKey,
    hostKey: new HostKeyVerifier({ fingerprints: [sshd.hostKeyFingerprint] }, sshd.host, sshd.port),
  }
}

describe('remote driver over a real sshd', () => {
  it('runs chunks and kills a runaway one from a second channel', async () => {
    const conn = await SshConnection.connect(target())
    try {
      const driver = await RemoteDriver.start(conn)
      expect(driver.hello.lua).toMatch(/^Lua 5\.4/)
      expect(driver.pgid).toBeGreaterThan(1)
      const r = await driver.exec('print("hi") return 1 + 1', { chunkName: 't' })
      expect(r.stdout).toBe('hi\n2\n')
      expect(r.values).toEqual([2])
      const pending = driver.exec('while true do end', {})
      await new Promise((r) => setTimeout(r, 200))
      await driver.kill()
      await expect(pending).rejects.toThrow(/exited/)
      expect(driver.exited).toBe(true)
      const left = await sshd.userProcesses()
      if (left.length) console.log((await import("node:child_process")).execFileSync("ps", ["-o", "pid,ppid,pgid,stat,comm,args", "-u", String(sshd.uid)]).toString())
      expect(left).toEqual([])
    } finally {
      conn.close()
    }
  })
})

async function eventually(check: () => Promise<boolean>, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return check()
}

describe('guest watchdog', () => {
  it('kills a runaway Lua when the SSH connection drops', async () => {
    const conn = await SshConnection.connect(target())
    const driver = await RemoteDriver.start(conn)
    const pending = driver.exec('while true do end', {}).catch((e: Error) => e)
    await new Promise((r) => setTimeout(r, 200))
    expect((await sshd.userProcesses()).length).toBeGreaterThan(0)
    conn.close()
    expect(await pending).toBeInstanceOf(Error)
    const gone = await eventually(async () => (await sshd.userProcesses()).length === 0, 4000)
    if (!gone) console.log((await import("node:child_process")).execFileSync("ps", ["-o", "pid,ppid,pgid,stat,comm,args", "-u", String(sshd.uid)]).toString())
    expect(gone).toBe(true)
  })
})
