/**
 * Memory caps on the guest: RLIMIT_AS through the guest's `prlimit`, a
 * VM-level ceiling from `memory_limit_bytes`, per-execution caps that lower
 * the soft limit of the running driver (state kept), and a guest without
 * `prlimit` refusing caps instead of running uncapped. The "guest" is a
 * real sshd running the real lua5.4.
 */
import { chmodSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { XcpngVM } from '@bioxen-luavm/backend-xcpng'
import { ConfigError } from '@bioxen-luavm/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SshConnection } from '../../packages/backend-xcpng/src/ssh/connection.js'
import { HostKeyVerifier } from '../../packages/backend-xcpng/src/ssh/host-key.js'
import { RemoteDriver } from '../../packages/backend-xcpng/src/ssh/remote-driver.js'
import { type Env, startEnv } from './fixture.js'

const MiB = 1024 * 1024
// Grows a table of distinct strings until the allocator says no.
const BOMB = 'local t = {} for i = 1, 1e8 do t[i] = ("x"):rep(64) .. i end'
// 48 MiB in one string: fine without a cap, over any cap below it.
const BIG = 'local s = ("x"):rep(48 * 1024 * 1024) return #s'

let env: Env
beforeAll(async () => {
  env = await startEnv()
})
afterAll(async () => {
  try {
    expect(env.sim.leaks()).toEqual([])
  } finally {
    await env?.stop()
  }
})

let seq = 0
const create = (overrides: Record<string, unknown> = {}) =>
  env.registry.create('xcpng', `mem-${++seq}`, env.config(overrides), { logger: env.logger }) as Promise<XcpngVM>

describe('memory caps on the guest', () => {
  it('an execution’s cap stops a memory bomb; the VM keeps its state and the next execution is uncapped', async () => {
    const vm = await create()
    try {
      await vm.execute('kept = "still here"')
      const r = await vm.execute(BOMB, { memoryLimitBytes: 32 * MiB, timeoutMs: 20_000 })
      expect(r.status, JSON.stringify(r.error)).toBe('memory')
      expect(r.exitCode).toBe(3)
      expect((await vm.execute('return kept')).values, 'the driver was not restarted').toEqual(['still here'])
      expect((await vm.getStatus()).restarts).toBe(0)
      expect((await vm.execute(BIG)).values, 'the cap was lifted after that execution').toEqual([48 * MiB])
      expect((await vm.execute(BIG, { memoryLimitBytes: 16 * MiB })).status).toBe('memory')
    } finally {
      await vm.stop()
    }
  })

  it('memory_limit_bytes caps every execution; an execution may ask for less, never more', async () => {
    const vm = await create({ memory_limit_bytes: '32MiB' })
    try {
      expect((await vm.execute(BIG)).status, 'the ceiling applies without a per-execution cap').toBe('memory')
      const asked = await vm.execute(BIG, { memoryLimitBytes: 1024 * MiB })
      expect(asked.status, 'a larger per-execution cap is clamped to the ceiling').toBe('memory')
      expect((await vm.execute('return #("x"):rep(1024 * 1024)')).values).toEqual([MiB])
      expect((await vm.execute(BOMB, { timeoutMs: 20_000 })).status).toBe('memory')
      expect((await vm.execute('return 1 + 1')).values, 'usable after').toEqual([2])
    } finally {
      await vm.stop()
    }
  })

  it('memory_limit_bytes is validated as a size', async () => {
    const error = await create({ memory_limit_bytes: 'lots' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message).toMatch(/memory_limit_bytes/)
  })
})

describe('a guest without prlimit', () => {
  // The driver's PATH holds only what the wrapper needs besides prlimit.
  let bin: string
  beforeAll(() => {
    bin = mkdtempSync(join(tmpdir(), 'luavm-noprlimit-'))
    chmodSync(bin, 0o755) // the sshd's user must reach it
    for (const tool of ['sh', 'setsid', 'sleep', 'lua5.4']) symlinkSync(join('/usr/bin', tool), join(bin, tool))
  })
  afterAll(() => rmSync(bin, { recursive: true, force: true }))

  const connect = () =>
    SshConnection.connect({
      host: env.sshd.host,
      port: env.sshd.port,
      username: env.sshd.user,
      privateKey: env.sshd.privateKey,
      hostKey: new HostKeyVerifier({ fingerprints: [env.sshd.hostKeyFingerprint] }, env.sshd.host, env.sshd.port),
    })

  it('runs uncapped code, and refuses a cap instead of running without it', async () => {
    const conn = await connect()
    try {
      const driver = await RemoteDriver.start(conn, { env: { PATH: bin } })
      expect(driver.canLimitMemory).toBe(false)
      expect((await driver.exec('return 1', {})).values).toEqual([1])
      const refused = await driver.limitMemory(32 * MiB).catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(ConfigError)
      expect((refused as Error).message).toMatch(/no `prlimit`/)
      await driver.quit()
    } finally {
      conn.close()
    }
  })

  it('a driver started with a ceiling fails with a ConfigError naming memory_limit_bytes', async () => {
    const conn = await connect()
    try {
      const error = await RemoteDriver.start(conn, { env: { PATH: bin }, memoryLimitBytes: 64 * MiB }).catch(
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as Error).message).toMatch(/memory_limit_bytes is set, but the guest .* has no `prlimit`/)
    } finally {
      conn.close()
    }
  })
})
