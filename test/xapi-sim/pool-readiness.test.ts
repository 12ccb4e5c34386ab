/**
 * What a user with a real XCP-ng 8.3 pool meets (issue 18), each against the
 * simulator and, where the guest matters, the test sshd: RBAC roles,
 * cores-per-socket, talking to the wrong guest, a template without a
 * usable guest agent, a lost clone reply next to other clients' tasks, a
 * dead pool master, IPv6-only guests, and the calls the backend no longer
 * makes.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, VMStateError, VMTimeoutError, XapiError } from '@bioxen-luavm/core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { XapiSession } from '../../packages/backend-xcpng/src/xapi/session.js'
import { type SshdHarness, startSshd } from '../harness/sshd.js'
import { recordingLogger, SIM_PASSWORD, simConfig, startSim, xcpngRegistry } from './fixture.js'
import type { XapiSim, XapiSimOptions } from './server.js'
import { parseMethodCall } from './wire.js'

let sshd: SshdHarness
let sim: XapiSim
const registry = xcpngRegistry()
let rec = recordingLogger()
let seq = 0
let dir: string

beforeAll(async () => {
  sshd = await startSshd()
  // The sshd user may be another user (when running as root): the "guest's" uuid file must be readable.
  dir = mkdtempSync(join(tmpdir(), 'bioxen-ready-'))
  chmodSync(dir, 0o755)
})
afterAll(async () => {
  await sshd?.stop()
  rmSync(dir, { recursive: true, force: true })
})
let simOptions: XapiSimOptions = {}
beforeEach(async () => {
  sim = await startSim(simOptions)
  rec = recordingLogger()
})
afterEach(async () => {
  await sim.close()
})

const start = (overrides: Record<string, unknown> = {}) =>
  registry.create('xcpng', `ready-${++seq}`, simConfig(sim, sshd, overrides), { logger: rec.logger })

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    async (vm) => {
      await (vm as { stop(): Promise<void> }).stop()
      return new Error('expected a rejection')
    },
    (e: unknown) => e,
  )
}

const created = () => sim.calls.filter((c) => /VM\.(clone|copy)$/.test(c))

describe('1. RBAC roles', () => {
  beforeAll(() => {
    simOptions = {
      users: {
        alice: { password: 'alice-pw', roles: ['vm-admin'] },
        bob: { password: 'bob-pw', roles: ['vm-power-admin'] },
        carol: { password: 'carol-pw', roles: ['vm-admin', 'lab-custom'] },
      },
    }
  })
  afterAll(() => {
    simOptions = {}
  })

  it('a vm-admin user with vm_memory is refused up front, naming vm-power-admin, before anything is created', async () => {
    const error = await rejection(start({ username: 'alice', password: 'alice-pw', vm_memory: '2GB' }))
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message).toMatch(/vm-power-admin/)
    expect((error as Error).message).toMatch(/vm_memory/)
    expect(created()).toEqual([])
    expect(sim.leaks()).toEqual([])
  })

  it('a vm-admin user without vm_memory, and a vm-power-admin user with it, start and clean up', async () => {
    const a = await start({ username: 'alice', password: 'alice-pw', vm_vcpus: 2 })
    expect((await a.execute('return 1')).values).toEqual([1])
    await a.stop()
    const b = await start({ username: 'bob', password: 'bob-pw', vm_memory: '2GB' })
    expect((await b.getStatus()).details).toMatchObject({ memoryBytes: 2 * 1024 ** 3 })
    await b.stop()
    expect(sim.leaks()).toEqual([])
  })

  it('when the roles cannot be judged (a custom role), XAPI refuses VM.set_memory_limits and the hint names the right role', async () => {
    const error = await rejection(start({ username: 'carol', password: 'carol-pw', vm_memory: '2GB' }))
    expect(error).toBeInstanceOf(XapiError)
    expect((error as XapiError).xapiCode).toBe('RBAC_PERMISSION_DENIED')
    expect((error as Error).message).toMatch(/VM\.set_memory_limits\) needs vm-power-admin/)
    expect(sim.leaks()).toEqual([])
  })
})

describe('2. cores-per-socket', () => {
  const setCoresPerSocket = (n: string) => {
    const t = sim.db.get('VM', sim.seeded.template)
    sim.db.update('VM', sim.seeded.template, {
      platform: { ...(t.platform as Record<string, string>), 'cores-per-socket': n },
    })
  }

  it('refuses vm_vcpus that is not a multiple, before cloning, and says which counts work', async () => {
    setCoresPerSocket('2')
    const error = await rejection(start({ vm_vcpus: 3 }))
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message).toMatch(/cores-per-socket 2.*multiple of 2/)
    expect(created()).toEqual([])
    expect(sim.leaks()).toEqual([])
  })

  it('a multiple starts (the simulator applies the rule at VM.start)', async () => {
    setCoresPerSocket('2')
    const vm = await start({ vm_vcpus: 4 })
    expect((await vm.getStatus()).details).toMatchObject({ vcpus: 4 })
    await vm.stop()
    expect(sim.leaks()).toEqual([])
  })

  it('the simulator refuses VM.start like xapi, and the error carries a hint', async () => {
    setCoresPerSocket('4')
    const s = await XapiSession.open({
      url: sim.url,
      username: 'root',
      password: SIM_PASSWORD,
      tls: { fingerprints: [sim.fingerprint] },
    })
    try {
      const clone = (await s.call('VM.clone', [sim.seeded.template, 'cps'])) as string
      await s.call('VM.provision', [clone])
      await s.call('VM.set_VCPUs_max', [clone, 2])
      const error = (await rejection(s.call('VM.start', [clone, false, false]))) as XapiError
      expect(error.xapiCode).toBe('VCPU_MAX_NOT_CORES_PER_SOCKET_MULTIPLE')
      expect(error.params).toEqual(['2', '4'])
      expect(error.message).toMatch(/multiple of the template's platform:cores-per-socket/)
      await s.call('VM.destroy', [clone])
    } finally {
      await s.logout()
    }
  })
})

describe('3. the guest is the VM XAPI named', () => {
  it('runs when the guest shows its own uuid', async () => {
    const file = join(dir, `uuid-${seq}`)
    sim.knobs.guest.uuidFile = file
    const vm = await start({ guest_uuid_path: file })
    expect((await vm.execute('return 2')).values).toEqual([2])
    await vm.stop()
    expect(rec.logs.some((l) => /identity is not checked/.test(l.message))).toBe(false)
    expect(sim.leaks()).toEqual([])
  })

  it('refuses another VM on the address with a typed error, and removes the clone', async () => {
    const file = join(dir, `uuid-other-${seq}`)
    sim.knobs.guest.uuidFile = file
    sim.knobs.guest.identity = 'other'
    const error = await rejection(start({ guest_uuid_path: file }))
    expect(error).toBeInstanceOf(VMStateError)
    expect((error as VMStateError).details).toMatchObject({ reason: 'wrong-guest' })
    expect((error as Error).message).toMatch(/another VM answers on this address/)
    expect(sim.leaks()).toEqual([])
  })

  it('a guest that shows no uuid is not refused, but the skipped check is logged', async () => {
    const vm = await start({ guest_uuid_path: join(dir, 'absent') })
    await vm.stop()
    expect(rec.logs.some((l) => l.level === 'info' && /identity is not checked/.test(l.message))).toBe(true)
  })
})

describe('4. the "no IP" timeout says which agent is missing', () => {
  it('no guest metrics at all: names xen-guest-agent and the guest-tools ISO', async () => {
    sim.knobs.guest.mode = 'never'
    const error = await rejection(start({ boot_timeout_ms: 1_500 }))
    expect(error).toBeInstanceOf(VMTimeoutError)
    expect((error as Error).message).toMatch(/xen-guest-agent/)
    expect((error as Error).message).toMatch(/guest-tools ISO/)
    expect((error as Error).message).toMatch(/no xe-guest-utilities package/)
    expect(sim.leaks()).toEqual([])
  })

  it('metrics without addresses: an agent too old for enX0 names', async () => {
    sim.knobs.guest.mode = 'no-addresses'
    const error = await rejection(start({ boot_timeout_ms: 1_500 }))
    expect(error).toBeInstanceOf(VMTimeoutError)
    expect((error as Error).message).toMatch(/enX0/)
    expect(sim.leaks()).toEqual([])
  })
})

describe('5. a lost clone reply', () => {
  it('waits only for clone tasks created after its call, so another client’s long clone does not hold it up', async () => {
    const other = await XapiSession.open({
      url: sim.url,
      username: 'root',
      password: SIM_PASSWORD,
      tls: { fingerprints: [sim.fingerprint] },
    })
    try {
      // Another client's slow clone, started well before ours.
      sim.inject('VM.clone', { kind: 'task-latency', ms: 120_000 })
      const theirs = (await other.call('Async.VM.clone', [sim.seeded.template, 'someone-else'])) as string
      await new Promise((r) => setTimeout(r, 2_500))
      // Ours: the task starts, its reply is lost.
      sim.inject('VM.clone', { kind: 'reset', when: 'after' })
      const began = Date.now()
      const error = await rejection(start())
      expect(error).toBeInstanceOf(XapiError)
      expect((error as XapiError).xapiCode).toBe('TRANSPORT_ERROR')
      expect(Date.now() - began, 'did not wait for the other client’s task').toBeLessThan(20_000)
      expect(rec.logs.some((l) => /reconciling/.test(l.message))).toBe(true)
      // Theirs is untouched and still running.
      expect(sim.db.get('task', theirs).status).toBe('pending')
      await other.call('task.cancel', [theirs])
      await other.call('task.destroy', [theirs])
    } finally {
      await other.logout()
    }
    // Ours was found by its unique name and removed.
    expect(sim.leaks()).toEqual([])
  })
})

describe('6. the pool master goes down', () => {
  // The master dies, and the client has noticed its kept-alive sockets closing.
  const downed = async (master: XapiSim) => {
    await master.close()
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  const open = (url: string, fingerprint: string) =>
    XapiSession.open({ url, username: 'root', password: SIM_PASSWORD, tls: { fingerprints: [fingerprint] } })

  it('falls back to a member that now leads the pool (HA elected it)', async () => {
    const master = await startSim({ host: '127.0.0.2', members: ['127.0.0.3'] })
    let next: XapiSim | undefined
    try {
      const s = await open(master.url, master.fingerprint)
      expect(await s.call('pool.get_all')).toEqual([master.seeded.pool])
      const port = master.port
      await downed(master)
      // The member on 127.0.0.3 was promoted (same port, same pinned certificate).
      next = await startSim({ host: '127.0.0.3', port })
      expect(await s.call('pool.get_all')).toEqual([next.seeded.pool])
      expect(new URL(s.url).hostname).toBe('127.0.0.3')
      await s.logout()
      expect(next.sessions()).toEqual([])
    } finally {
      await next?.close()
      await master.close()
    }
  })

  it('says so clearly while the members still name the dead master', async () => {
    const master = await startSim({ host: '127.0.0.2', members: ['127.0.0.3'] })
    const port = master.port
    const member = await startSim({ host: '127.0.0.3', port, slaveOf: '127.0.0.2' })
    let back: XapiSim | undefined
    try {
      const s = await open(master.url, master.fingerprint)
      await downed(master)
      const error = (await rejection(s.call('pool.get_all'))) as XapiError
      expect(error.xapiCode).toBe('POOL_MASTER_UNREACHABLE')
      expect(error.message).toMatch(/pool-emergency-transition-to-master/)
      expect(member.calls).toContain('session.login_with_password')
      // The master comes back: the same session works again.
      back = await startSim({ host: '127.0.0.2', port, members: ['127.0.0.3'] })
      expect(await s.call('pool.get_all')).toEqual([back.seeded.pool])
      await s.logout()
      expect(back.sessions()).toEqual([])
    } finally {
      await back?.close()
      await member.close()
      await master.close()
    }
  })

  it('an xapi_url that does not answer says it must name a reachable pool host', async () => {
    const error = (await rejection(open('https://127.0.0.4:9/', sim.fingerprint))) as XapiError
    expect(error.xapiCode).toBe('TRANSPORT_ERROR')
    expect(error.message).toMatch(/xapi_url must name a reachable host of the pool/)
  })
})

describe('7. IPv6-only guests', () => {
  it('connects to the routable address, not the link-local one listed first', async () => {
    sim.knobs.guest.mode = 'ipv6-only'
    sim.knobs.guest.ipv6 = ['fe80::216:3eff:fe00:1', '::1']
    // The test sshd listens on 127.0.0.1 only: the start fails at SSH, after picking the address.
    const error = await rejection(start({ boot_timeout_ms: 2_000 }))
    expect(error).toBeInstanceOf(Error)
    expect(rec.logs.some((l) => / is at ::1$/.test(l.message))).toBe(true)
    expect(sim.leaks()).toEqual([])
  })
})

describe('8. fewer calls', () => {
  it('no set_is_a_template after provision, no MTU on the VIF, one empty-token event.from per start', async () => {
    const vm = await start({ network_uuid: 'Private' })
    await vm.stop()
    expect(sim.calls).not.toContain('VM.set_is_a_template')
    const vifCreate = sim.requests.find(
      (r) =>
        r.includes('<methodName>Async.VIF.create</methodName>') || r.includes('<methodName>VIF.create</methodName>'),
    )
    expect(vifCreate).toBeDefined()
    expect(vifCreate).not.toContain('<name>MTU</name>')
    // Each wait starts from the session's newest token: only the session's first wait asks with ''.
    expect(sim.requests.length).toBeLessThan(100)
    const tokens = sim.requests
      .map((r) => parseMethodCall(r))
      .filter((c) => c.method === 'event.from')
      .map((c) => c.params[2])
      .map((token) => (token?.type === 'string' ? token.value : undefined))
    expect(tokens.length).toBeGreaterThanOrEqual(3)
    expect(tokens.filter((t) => t === '')).toHaveLength(1)
    expect(sim.leaks()).toEqual([])
  })
})

describe('memory with and without dynamic memory control', () => {
  it.each([true, false])('vm_memory works when the pool has DMC = %s', async (dmc) => {
    await sim.close()
    sim = await startSim({ knobs: { dmc } })
    expect((sim.db.get('pool', sim.seeded.pool).restrictions as Record<string, string>).restrict_dmc).toBe(String(!dmc))
    const vm = await start({ vm_memory: '1536MiB' })
    expect((await vm.getStatus()).details).toMatchObject({ memoryBytes: 1536 * 1024 ** 2 })
    await vm.stop()
    expect(sim.leaks()).toEqual([])
  })
})
