/**
 * Provisioning variants: attaching to an existing VM, copying into an SR,
 * an extra network, stock templates with `disks` XML, name lookups, the
 * pool check, pool members, guest-agent flavours, progress, clusters.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { XcpngVM } from '@bioxen-luavm/backend-xcpng'
import { ConfigError, VMManager, VMStateError, VMTimeoutError } from '@bioxen-luavm/core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type SshdHarness, startSshd } from '../harness/sshd.js'
import { recordingLogger, SIM_PASSWORD, simConfig, startSim, xcpngRegistry } from './fixture.js'
import { vmFields } from './seed.js'
import type { XapiSim } from './server.js'

let sshd: SshdHarness
let sim: XapiSim
const registry = xcpngRegistry()
const { logger } = recordingLogger()
let seq = 0
const run = promisify(execFile)

beforeAll(async () => {
  sshd = await startSshd()
})
afterAll(async () => {
  await sshd?.stop()
})
beforeEach(async () => {
  sim = await startSim()
})
afterEach(async () => {
  await sim.close()
})

const create = (overrides: Record<string, unknown> = {}, target = sim) =>
  registry.create('xcpng', `prov-${++seq}`, simConfig(target, sshd, overrides), { logger })

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  )
}

describe('attach_vm', () => {
  it.each(['name', 'uuid'] as const)('uses a running VM found by %s without owning it', async (by) => {
    const ref = sim.seeded.existingVm
    const target = by === 'name' ? 'lab-runner' : sim.db.get('VM', ref).uuid
    const vm = await create({ attach_vm: target, template_name: undefined })
    expect((await vm.execute('return 6 * 7')).values).toEqual([42])
    expect((await vm.getStatus()).details).toMatchObject({ owned: false, vmName: 'lab-runner', powerState: 'Running' })
    await vm.stop()
    expect(sim.db.get('VM', ref).power_state).toBe('Running')
    expect(sim.calls.filter((c) => /shutdown|destroy|clone|copy/.test(c))).toEqual([])
    expect(sim.leaks()).toEqual([])
  })

  it('refuses a halted VM and changes nothing', async () => {
    sim.db.update('VM', sim.seeded.existingVm, { power_state: 'Halted' })
    const error = await rejection(create({ attach_vm: 'lab-runner' }))
    expect(error).toBeInstanceOf(VMStateError)
    expect(sim.calls.filter((c) => /start|shutdown|destroy/.test(c))).toEqual([])
    expect(sim.leaks()).toEqual([])
  })

  it('refuses a template', async () => {
    const error = await rejection(create({ attach_vm: 'debian-lua' }))
    expect(error).toBeInstanceOf(ConfigError)
    expect(sim.leaks()).toEqual([])
  })
})

describe('templates and storage', () => {
  it('copies into storage_repository when given, and removes the copy', async () => {
    const vm = await create({ storage_repository: 'NFS storage' })
    expect(sim.calls).toContain('Async.VM.copy')
    expect(sim.calls).not.toContain('Async.VM.clone')
    const uuid = (await vm.getStatus()).details?.vmUuid as string
    const ref = sim.db.byUuid('VM', uuid)
    const disks = (sim.db.get('VM', ref).VBDs as string[])
      .map((b) => sim.db.get('VBD', b))
      .filter((b) => b.type === 'Disk')
      .map((b) => sim.db.get('VDI', String(b.VDI)))
    expect(disks.map((d) => d.SR)).toEqual([sim.seeded.otherSr])
    await vm.stop()
    expect(sim.leaks()).toEqual([])
  })

  it('adds a VIF on network_uuid and removes everything on stop', async () => {
    const uuid = sim.db.get('network', sim.seeded.privateNetwork).uuid
    const vm = await create({ network_uuid: uuid })
    expect(sim.calls).toContain('VIF.create')
    const vifs = [...sim.db.table('VIF').values()].filter((v) => v.network === sim.seeded.privateNetwork)
    expect(vifs).toHaveLength(1)
    await vm.stop()
    expect(sim.leaks()).toEqual([])
  })

  it('provisions a stock template: disks XML pointed at the default SR; no guest agent means a timeout; all removed', async () => {
    const error = await rejection(create({ template_name: 'Debian Bookworm 12', boot_timeout_ms: 300 }))
    expect(error).toBeInstanceOf(VMTimeoutError)
    expect(sim.calls).toContain('VM.remove_from_other_config')
    expect(sim.calls).toContain('Async.VM.provision')
    const created = sim.db.events.filter((e) => e.cls === 'VDI' && e.op === 'add').map((e) => e.snapshot)
    // The disk from the template's XML (10 GiB), on the pool's default SR.
    expect(
      created.some((d) => d?.SR === sim.seeded.localSr && (d.virtual_size as { value: bigint }).value === 10737418240n),
    ).toBe(true)
    expect(sim.leaks()).toEqual([])
  })

  it('an ambiguous template name is a ConfigError listing the uuids', async () => {
    sim.db.create('VM', vmFields({ name_label: 'debian-lua', is_a_template: true }))
    const error = await rejection(create())
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message).toMatch(/matches 2 templates/)
    expect(sim.leaks()).toEqual([])
  })

  it('pool_uuid must match the pool behind xapi_url', async () => {
    const error = await rejection(create({ pool_uuid: '00000000-0000-0000-0000-000000000000' }))
    expect(error).toBeInstanceOf(ConfigError)
    expect(sim.leaks()).toEqual([])
    const ok = await create({ pool_uuid: sim.db.get('pool', sim.seeded.pool).uuid })
    await ok.stop()
    expect(sim.leaks()).toEqual([])
  })
})

describe('SSH trust', () => {
  it('verifies the guest against known_hosts_path ([host]:port entries)', async () => {
    const vm = await create({ ssh_host_key: undefined, known_hosts_path: sshd.knownHostsPath })
    expect((await vm.execute('return 1')).values).toEqual([1])
    await vm.stop()
    expect(sim.leaks()).toEqual([])
  })

  it('trust on first use only when asked, with a warning', async () => {
    const { logger: l, logs } = recordingLogger()
    const vm = await registry.create(
      'xcpng',
      `tofu-${++seq}`,
      simConfig(sim, sshd, { ssh_host_key: undefined, ssh_accept_new_host_key: true }),
      {
        logger: l,
      },
    )
    await vm.stop()
    expect(
      logs.some(
        (r) =>
          r.level === 'warn' &&
          /first use/.test(r.message) &&
          JSON.stringify(r.fields).includes(sshd.hostKeyFingerprint),
      ),
    ).toBe(true)
    expect(sim.leaks()).toEqual([])
  })
})

describe('SSH agent', () => {
  it('logs in with a key held by ssh-agent instead of a key file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'luavm-agent-'))
    const sock = join(dir, 'agent.sock')
    // -D: stay in the foreground, so the agent is our child and dies with us.
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' })
    try {
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20))
      await run('ssh-add', [sshd.privateKeyPath], { env: { ...process.env, SSH_AUTH_SOCK: sock } })
      const vm = await create({ ssh_private_key: undefined, ssh_agent: sock })
      expect((await vm.execute('return "via agent"')).values).toEqual(['via agent'])
      await vm.stop()
      expect(sim.leaks()).toEqual([])
    } finally {
      agent.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('secrets', () => {
  it('never appear in logs, errors, status or JSON, even at debug level', async () => {
    const { logger: l, logs } = recordingLogger()
    const vm = await registry.create('xcpng', `secret-${++seq}`, simConfig(sim, sshd), { logger: l })
    const r = await vm.execute('error("boom")')
    const status = await vm.getStatus()
    const failed = await vm.execute('return 1', { throwOnError: true }).then(() => 'ok')
    await vm.stop()
    const bad = await rejection(
      registry.create('xcpng', `secret-${++seq}`, simConfig(sim, sshd, { password: `${SIM_PASSWORD}-typo` }), {
        logger: l,
      }),
    )
    const everything = JSON.stringify({
      logs,
      r,
      status,
      failed,
      vm,
      bad,
      message: (bad as Error).message,
      stack: (bad as Error).stack,
    })
    expect(everything).not.toContain(SIM_PASSWORD)
    for (const line of sshd.privateKey.split('\n').filter((x) => x.length > 20)) expect(everything).not.toContain(line)
    expect(sim.leaks()).toEqual([])
  })
})

describe('guest agents', () => {
  it.each(['legacy-only', 'ipv4-only', 'empty-then-ip'] as const)('finds the IP with a %s agent', async (mode) => {
    sim.knobs.guest.mode = mode
    const vm = await create()
    expect((await vm.getStatus()).details?.ip).toBe('127.0.0.1')
    await vm.stop()
    expect(sim.leaks()).toEqual([])
  })
})

describe('pools', () => {
  it('starts through a pool member by following HOST_IS_SLAVE to the master', async () => {
    const master = await startSim({ host: '127.0.0.2' })
    const member = await startSim({ host: '127.0.0.1', port: master.port, slaveOf: '127.0.0.2' })
    try {
      const vm = await registry.create(
        'xcpng',
        `pool-${++seq}`,
        simConfig(member, sshd, { fingerprint: [master.fingerprint] }),
        { logger },
      )
      expect((await vm.getStatus()).details?.xapi).toBe(`127.0.0.2:${master.port}`)
      await vm.stop()
      expect(master.leaks()).toEqual([])
      expect(member.leaks()).toEqual([])
    } finally {
      await member.close()
      await master.close()
    }
  })
})

describe('progress and clusters', () => {
  it('reports clone progress to listeners', async () => {
    sim.inject('VM.clone', { kind: 'task-latency', ms: 200 })
    const vm = (await registry.create('xcpng', `progress-${++seq}`, simConfig(sim, sshd), {
      logger,
      autoStart: false,
    })) as XcpngVM
    const seen: string[] = []
    vm.onProvisionProgress((p) => seen.push(`${p.step}:${p.progress ?? ''}`))
    await vm.start()
    await vm.stop()
    expect(seen).toContain('clone:0')
    expect(seen.some((s) => /^clone:0\.\d/.test(s))).toBe(true)
    expect(seen).toContain('clone:1')
    expect(seen.indexOf('clone:1')).toBeLessThan(seen.indexOf('ssh:'))
    expect(sim.leaks()).toEqual([])
  })

  it('VMManager clusters provision at most provision_concurrency VMs at once', async () => {
    // A VM with the default limit (4) used this endpoint first: its queue
    // must not be the one the cluster's smaller limit gets.
    const first = await create()
    await first.stop()
    sim.inject('VM.clone', { kind: 'task-latency', ms: 150 }, 10)
    const manager = new VMManager({ registry })
    const cluster = await manager.createCluster('grid', 4, {
      type: 'xcpng',
      config: simConfig(sim, sshd, { provision_concurrency: 2 }),
    })
    try {
      expect(cluster.vmIds).toHaveLength(4)
      expect(sim.peakPending('VM.clone')).toBeLessThanOrEqual(2)
      expect(sim.peakPending('VM.clone')).toBeGreaterThanOrEqual(1)
      const jobs = manager.broadcast('grid', 'return 1 + 1')
      const results = await manager.waitForCluster(jobs)
      expect(Object.values(results).every((r) => (r as { success: boolean }).success)).toBe(true)
    } finally {
      await manager.shutdownAll()
    }
    expect(sim.leaks()).toEqual([])
    expect(SIM_PASSWORD).toBeTruthy()
  })
})
