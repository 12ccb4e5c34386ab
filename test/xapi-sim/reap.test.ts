/**
 * reapOrphans: finds VMs tagged by the SDK whose owner process is gone and
 * removes them with their disks, leaving live, young, foreign-when-asked,
 * untagged VMs and shared ISOs alone.
 */
import { hostname } from 'node:os'
import { connectXapi, OWNER_KEY, reapOrphans } from '@bioxen-luavm/backend-xcpng'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { XapiSession } from '../../packages/backend-xcpng/src/xapi/session.js'
import { SIM_PASSWORD, startSim } from './fixture.js'
import type { XapiSim } from './server.js'

let sim: XapiSim
let admin: XapiSession

beforeEach(async () => {
  sim = await startSim()
  admin = await XapiSession.open({
    url: sim.url,
    username: 'root',
    password: SIM_PASSWORD,
    tls: { fingerprints: [sim.fingerprint] },
  })
})
afterEach(async () => {
  await admin.logout()
  await sim.close()
})

const HOUR = 3_600_000
const DEAD_PID = 2 ** 22 + 12345 // above Linux's pid_max default: never a live process

/** A clone of the template tagged as if some process had created it. */
async function tagged(name: string, owner: unknown, running = false): Promise<string> {
  const vm = (await admin.call('VM.clone', [sim.seeded.template, name])) as string
  await admin.call('VM.set_is_a_template', [vm, false])
  if (owner !== undefined)
    await admin.call('VM.add_to_other_config', [
      vm,
      OWNER_KEY,
      typeof owner === 'string' ? owner : JSON.stringify(owner),
    ])
  if (running) await admin.call('VM.start', [vm, false, false])
  return vm
}

const names = (list: Array<{ name: string; action: string }>, action: string) =>
  list
    .filter((r) => r.action === action)
    .map((r) => r.name)
    .sort()

describe('reapOrphans', () => {
  it('removes only orphans, with their disks but not the shared ISO; dryRun first changes nothing', async () => {
    const now = Date.now()
    await tagged('orphan-dead-pid', { host: hostname(), pid: DEAD_PID, created: now - 2 * HOUR, vm: 'a' }, true)
    await tagged('orphan-other-host', { host: 'elsewhere', pid: 1, created: now - 2 * HOUR, vm: 'b' })
    const live = await tagged('live-owner', { host: hostname(), pid: process.pid, created: now - 2 * HOUR, vm: 'c' })
    const young = await tagged('young', { host: hostname(), pid: DEAD_PID, created: now - 1000, vm: 'd' })
    const untagged = await tagged('not-ours', undefined)
    const garbled = await tagged('garbled-tag', 'not json')
    const vmsBefore = sim.db.table('VM').size

    const client = await connectXapi({
      xapi_url: sim.url,
      username: 'root',
      password: SIM_PASSWORD,
      fingerprint: [sim.fingerprint],
    })
    try {
      const dry = await reapOrphans(client, { olderThanMs: HOUR, dryRun: true })
      expect(names(dry, 'would-destroy')).toEqual(['orphan-dead-pid', 'orphan-other-host'])
      expect(sim.db.table('VM').size).toBe(vmsBefore)

      const local = await reapOrphans(client, { olderThanMs: HOUR, includeOtherHosts: false })
      expect(names(local, 'destroyed')).toEqual(['orphan-dead-pid'])
      expect(local.find((r) => r.name === 'orphan-other-host')?.reason).toMatch(/another host/)
      expect(local.find((r) => r.name === 'live-owner')?.reason).toMatch(/still running/)
      expect(local.find((r) => r.name === 'young')?.reason).toMatch(/younger/)

      const rest = await reapOrphans(client, { olderThanMs: HOUR })
      expect(names(rest, 'destroyed')).toEqual(['orphan-other-host'])
    } finally {
      await client.logout()
    }
    // What is left: exactly the VMs that were not orphans, and none of the reaped ones' disks.
    for (const vm of [live, young, untagged, garbled]) expect(sim.db.has('VM', vm)).toBe(true)
    const leftNames = sim
      .leaks()
      .filter((l) => l.startsWith('VM '))
      .map((l) => /\((.*)\)/.exec(l)?.[1])
      .sort()
    expect(leftNames).toEqual(['garbled-tag', 'live-owner', 'not-ours', 'young'])
    expect(sim.leaks().filter((l) => l.startsWith('VDI ')).length).toBe(4)
    expect(sim.leaks().filter((l) => l.startsWith('DESTROYED'))).toEqual([])
    expect(sim.db.has('VDI', sim.seeded.isoVdi)).toBe(true)
  })
})
