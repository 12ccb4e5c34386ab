/**
 * The happy path end to end: clone, size, boot, wait for the IP, SSH in, run
 * Lua, report status, stop — and nothing left on the simulated pool or the
 * guest afterwards.
 */
import { connectXapi, destroyGuest, reapOrphans, type XcpngVM } from '@bioxen-luavm/backend-xcpng'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Env, startEnv } from './fixture.js'

let env: Env
beforeAll(async () => {
  env = await startEnv()
})
afterAll(async () => {
  await env?.stop()
})

describe('xcpng VM lifecycle against the simulator and a real sshd', () => {
  it('clones, boots, runs Lua over SSH, reports status, and removes everything on stop', async () => {
    const vm = await env.registry.create('xcpng', 'life-1', env.config({ vm_memory: '2GB', vm_vcpus: 2 }), {
      logger: env.logger,
    })
    try {
      const r = await vm.execute('x = 40 print("hello from the guest") return x + 2')
      expect(r.status).toBe('ok')
      expect(r.stdout).toBe('hello from the guest\n42\n')
      expect(r.values).toEqual([42])
      expect(r.backend).toBe('xcpng')
      expect(r.luaVersion).toMatch(/^Lua 5\.4/)
      expect((await vm.execute('return x')).values).toEqual([40])
      const status = await vm.getStatus()
      expect(status.state).toBe('running')
      expect(status.details).toMatchObject({
        owned: true,
        ip: '127.0.0.1',
        powerState: 'Running',
        memoryBytes: 2 * 1024 ** 3,
        vcpus: 2,
      })
      // The clone carries the owner tag reapOrphans looks for.
      const ref = env.sim.db.byUuid('VM', status.details?.vmUuid as string)
      expect(Object.keys(env.sim.db.get('VM', ref).other_config as object)).toContain('bioxen-luavm:owner')
      expect(env.sim.leaks().some((l) => l.startsWith('VM '))).toBe(true)
    } finally {
      await vm.stop()
    }
    expect(vm.state).toBe('stopped')
    expect(env.sim.leaks()).toEqual([])
    expect(env.sim.sessions()).toEqual([])
    expect(await env.sshd.userProcesses()).toEqual([])
  })

  it('a stopped VM can be started again on a fresh clone', async () => {
    const vm = await env.registry.create('xcpng', 'life-2', env.config(), { logger: env.logger })
    const first = (await vm.getStatus()).details?.vmUuid
    await vm.stop()
    await vm.start()
    expect((await vm.getStatus()).details?.vmUuid).not.toBe(first)
    expect((await vm.execute('return 1')).values).toEqual([1])
    await vm.stop()
    expect(env.sim.leaks()).toEqual([])
  })

  it('keep() leaves the guest running, untagged and unreaped; attach_vm reconnects to it', async () => {
    const vm = (await env.registry.create('xcpng', 'kept-1', env.config(), { logger: env.logger })) as XcpngVM
    await vm.execute('print("before keep")')
    const kept = await vm.keep()
    expect(vm.state).toBe('stopped')
    const ref = env.sim.db.byUuid('VM', kept.vmUuid)
    const record = env.sim.db.get('VM', ref)
    expect(record.power_state).toBe('Running')
    expect(record.other_config).not.toHaveProperty('bioxen-luavm:owner')
    expect(record.name_description).toMatch(/kept by the user/)
    expect(kept).toMatchObject({ vmName: record.name_label, ip: '127.0.0.1' })
    // Disconnected: no XAPI session, no driver left on the guest.
    expect(env.sim.sessions()).toEqual([])
    expect(await env.sshd.userProcesses()).toEqual([])

    const xapi = await connectXapi(env.config())
    try {
      const reaped = await reapOrphans(xapi, { olderThanMs: 0, includeOtherHosts: true })
      expect(reaped.map((r) => r.uuid)).not.toContain(kept.vmUuid)
      expect(env.sim.db.get('VM', ref).power_state).toBe('Running')

      const again = await env.registry.create('xcpng', 'kept-2', env.config({ attach_vm: kept.vmUuid }), {
        logger: env.logger,
      })
      expect((await again.execute('return 6 * 7')).values).toEqual([42])
      await again.stop() // an attached VM is only disconnected
      expect(env.sim.db.get('VM', ref).power_state).toBe('Running')

      await expect(destroyGuest(xapi, kept.vmUuid)).rejects.toThrow(/not created by bioxen-luavm/)
      await destroyGuest(xapi, kept.vmUuid, { allowForeign: true })
    } finally {
      await xapi.logout()
    }
    expect(env.sim.leaks()).toEqual([])
    expect(env.sim.sessions()).toEqual([])
  })

  it('keep() refuses a VM that is not running', async () => {
    const vm = (await env.registry.create('xcpng', 'kept-3', env.config(), {
      logger: env.logger,
      autoStart: false,
    })) as XcpngVM
    await expect(vm.keep()).rejects.toMatchObject({ _tag: 'VMStateError' })
    expect(env.sim.leaks()).toEqual([])
  })
})
