/**
 * The remote driver over a real sshd: framed execution on one channel, the
 * hard kill from a second channel, and the guest-side watchdog that ends a
 * runaway Lua when the SSH link goes away.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SshConnection, type SshTarget } from '../../packages/backend-xcpng/src/ssh/connection.js'
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

function target(): SshTarget {
  return {
    host: sshd.host,
    port: sshd.port,
    username: sshd.user,
    privateKey: sshd.privateKey,
    hostKey: new HostKeyVerifier({ fingerprints: [sshd.hostKeyFingerprint] }, sshd.host, sshd.port),
  }
}

async function eventually(check: () => Promise<boolean>, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return check()
}

describe('remote driver over a real sshd', () => {
  it('runs chunks, and kills a runaway one with its whole process group from a second channel', async () => {
    const conn = await SshConnection.connect(target())
    try {
      const driver = await RemoteDriver.start(conn)
      expect(driver.hello.lua).toMatch(/^Lua 5\.4/)
      expect(driver.pgid).toBeGreaterThan(1)
      const r = await driver.exec('print("hi") return 1 + 1', { chunkName: 't' })
      expect(r.stdout).toBe('hi\n2\n')
      expect(r.values).toEqual([2])
      // The rejection may land while kill() is awaited: take it at once, so it is never unhandled.
      const pending = driver.exec('while true do end', {}).then(
        () => undefined,
        (e: Error) => e,
      )
      while ((await sshd.userProcesses()).length === 0) await new Promise((r) => setTimeout(r, 20))
      await driver.kill()
      expect((await pending)?.message).toMatch(/exited/)
      expect(driver.exited).toBe(true)
      expect(await sshd.userProcesses()).toEqual([])
    } finally {
      conn.close()
    }
  })

  it('streams output while a chunk computes: the first line arrives well before the reply', async () => {
    const conn = await SshConnection.connect(target())
    try {
      const driver = await RemoteDriver.start(conn)
      const arrivals: Array<{ at: number; text: string }> = []
      const r = await driver.exec(
        'print("first") local t = os.clock() while os.clock() - t < 1.5 do end print("last")',
        { onStdout: (text) => arrivals.push({ at: performance.now(), text }) },
      )
      const done = performance.now()
      expect(r.stdout).toBe('first\nlast\n')
      expect(arrivals[0]?.text).toBe('first\n')
      expect(done - (arrivals[0]?.at ?? done)).toBeGreaterThanOrEqual(500)
      await driver.quit()
    } finally {
      conn.close()
    }
  }, 60_000)

  it('quits cleanly and leaves nothing running', async () => {
    const conn = await SshConnection.connect(target())
    try {
      const driver = await RemoteDriver.start(conn)
      await driver.quit()
      expect(driver.exited).toBe(true)
      expect(await eventually(async () => (await sshd.userProcesses()).length === 0)).toBe(true)
    } finally {
      conn.close()
    }
  })
})

describe('guest watchdog', () => {
  it('kills a runaway Lua when the SSH connection drops (closing a channel alone would not)', async () => {
    const conn = await SshConnection.connect(target())
    const driver = await RemoteDriver.start(conn)
    const pending = driver.exec('while true do end', {}).catch((e: Error) => e)
    while ((await sshd.userProcesses()).length === 0) await new Promise((r) => setTimeout(r, 20))
    conn.close()
    expect(await pending).toBeInstanceOf(Error)
    expect(await eventually(async () => (await sshd.userProcesses()).length === 0)).toBe(true)
  })
})
