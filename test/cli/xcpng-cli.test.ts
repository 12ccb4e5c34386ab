/**
 * The CLI's `xcpng` subcommands against the XAPI simulator: check, list,
 * status, stop, destroy (refusing foreign VMs), reap — with the original's
 * flat xcpng_config.json as the config file, and the password kept out of
 * every output.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { OWNER_KEY } from '@bioxen-luavm/backend-xcpng'
import { runCliInMemory } from '@bioxen-luavm/cli'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { XapiSession } from '../../packages/backend-xcpng/src/xapi/session.js'
import { SIM_PASSWORD, startSim, writeFlatXcpngConfig } from '../xapi-sim/fixture.js'
import type { XapiSim } from '../xapi-sim/server.js'

let sim: XapiSim
let admin: XapiSession
let dir: string
let configFile: string

async function cli(...argv: string[]) {
  const r = await runCliInMemory(['--config', configFile, ...argv], { env: { XDG_CONFIG_HOME: dir } })
  expect(r.stdout + r.stderr).not.toContain(SIM_PASSWORD)
  return { code: r.code, stdout: r.stdout, stderr: r.stderr }
}

async function clone(name: string, owner?: unknown, running = false): Promise<string> {
  const vm = (await admin.call('VM.clone', [sim.seeded.template, name])) as string
  await admin.call('VM.set_is_a_template', [vm, false])
  if (owner !== undefined) await admin.call('VM.add_to_other_config', [vm, OWNER_KEY, JSON.stringify(owner)])
  if (running) await admin.call('VM.start', [vm, false, false])
  return vm
}

const uuidOf = async (ref: string) => (await admin.call('VM.get_uuid', [ref])) as string

beforeAll(async () => {
  sim = await startSim()
  admin = await XapiSession.open({
    url: sim.url,
    username: 'root',
    password: SIM_PASSWORD,
    tls: { fingerprints: [sim.fingerprint] },
  })
  dir = mkdtempSync(join(tmpdir(), 'luavm-cli-xcpng-'))
  configFile = writeFlatXcpngConfig(sim, join(dir, 'xcpng_config.json'))
})

afterAll(async () => {
  await admin?.logout()
  await sim?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('bioxen-luavm xcpng', () => {
  it('checks the connection and the template', async () => {
    const r = await cli('xcpng', 'check', '--json')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ connected: true, template: 'debian-lua', templateFound: true })
  })

  it('lists our guests, or all of them, and shows one', async () => {
    const ours = await clone('ours-1', { host: hostname(), pid: process.pid, created: Date.now(), vm: 'x' }, true)
    await clone('foreign-1')
    const mine = JSON.parse((await cli('xcpng', 'list', '--json')).stdout)
    expect(mine.map((g: { name: string }) => g.name)).toEqual(['ours-1'])
    const all = JSON.parse((await cli('xcpng', 'list', '--all', '--json')).stdout)
    expect(all.map((g: { name: string }) => g.name)).toEqual(expect.arrayContaining(['ours-1', 'foreign-1']))
    const status = JSON.parse((await cli('xcpng', 'status', await uuidOf(ours), '--json')).stdout)
    expect(status).toMatchObject({ name: 'ours-1', powerState: 'Running', owner: { pid: process.pid } })
    expect((await cli('xcpng', 'list')).stdout).toMatch(/^UUID\s+NAME\s+STATE/)
  })

  it('stops and destroys our guest, refuses a foreign one without --force', async () => {
    const ours = await clone('ours-2', { host: hostname(), pid: process.pid, created: Date.now(), vm: 'y' }, true)
    const foreign = await clone('foreign-2', undefined, true)
    expect((await cli('xcpng', 'stop', 'ours-2')).code).toBe(0)
    expect(await admin.call('VM.get_power_state', [ours])).toBe('Halted')
    expect((await cli('xcpng', 'destroy', 'ours-2')).code).toBe(0)
    expect(sim.db.has('VM', ours)).toBe(false)

    const refused = await cli('xcpng', 'destroy', 'foreign-2')
    expect(refused).toMatchObject({ code: 2, stdout: '' })
    expect(refused.stderr).toMatch(
      /^error: VM 'foreign-2' \(\S+\) was not created by bioxen-luavm; refusing to destroy it\nhint: add --force to destroy it anyway\n$/,
    )
    expect(sim.db.has('VM', foreign)).toBe(true)
    expect((await cli('xcpng', 'destroy', 'foreign-2', '--force')).code).toBe(0)
    expect(sim.db.has('VM', foreign)).toBe(false)
  })

  it('a guest name that matches nothing is a usage error (exit 2) that points at xcpng list', async () => {
    for (const command of ['status', 'stop', 'destroy']) {
      const r = await cli('xcpng', command, 'no-such-guest')
      expect(r).toEqual({
        code: 2,
        stdout: '',
        stderr:
          "error: VM 'no-such-guest' matches no vm on the pool; check the name or give its uuid\nhint: `bioxen-luavm xcpng list --all` lists the guests\n",
      })
    }
  })

  it('reaps orphans, dry run first', async () => {
    const orphan = await clone('orphan-1', {
      host: hostname(),
      pid: 2 ** 22 + 7,
      created: Date.now() - 7_200_000,
      vm: 'z',
    })
    const dry = JSON.parse((await cli('xcpng', 'reap', '--dry-run', '--json')).stdout)
    expect(dry.find((r: { name: string }) => r.name === 'orphan-1')?.action).toBe('would-destroy')
    expect(sim.db.has('VM', orphan)).toBe(true)
    const done = JSON.parse((await cli('xcpng', 'reap', '--json')).stdout)
    expect(done.find((r: { name: string }) => r.name === 'orphan-1')?.action).toBe('destroyed')
    expect(sim.db.has('VM', orphan)).toBe(false)
  })

  it('fails with one line and a hint when XAPI refuses the password', async () => {
    const bad = join(dir, 'bad.json')
    writeFileSync(
      bad,
      JSON.stringify({ xapi_url: sim.url, username: 'root', password: 'wrong-pass-1', fingerprint: [sim.fingerprint] }),
    )
    const { code, stderr } = await runCliInMemory(['--config', bad, 'xcpng', 'check'])
    expect(code).not.toBe(0)
    expect(stderr).toMatch(/^error: .*SESSION_AUTHENTICATION_FAILED/m)
    expect(stderr).not.toContain('wrong-pass-1')
  })
})
