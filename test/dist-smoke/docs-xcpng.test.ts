/**
 * docs/xcpng.md, run: against the XAPI simulator and a real sshd standing
 * in for the guest (the simulator reports 127.0.0.1 as the guest's IP), the
 * page's commands and programs run as written — with `xcpng_config.json`
 * made from the page's example — and print what the page says. Commands
 * that only make sense on an XCP-ng host or inside a guest are labelled
 * (```sh host, ```sh guest) and syntax-checked.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { connectXapi, OWNER_KEY, type XapiSession, xcpngConfigSchema } from '@bioxen-luavm/backend-xcpng'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Env, NO_GUEST_UUID, SIM_PASSWORD, startEnv } from '../xapi-sim/fixture.js'
import {
  bashSyntaxError,
  Doc,
  makeSandbox,
  runProgram,
  runShell,
  type Sandbox,
  substitute,
  typecheck,
} from './docs-blocks.js'

const doc = new Doc('xcpng.md')
const hostFingerprintBlock = doc.take('sh host', 'xapi-ssl.pem')
const remoteFingerprintBlock = doc.take('sh', 'openssl s_client')
const hostKeyBlock = doc.take('sh guest', 'ssh-keygen -lf')
const keygenBlock = doc.take('sh', 'ssh-keygen -q')
const firstRunBlock = doc.take('sh', 'run --backend xcpng')
const configBlock = doc.take('json', '"xapi_url"')
const usageBlock = doc.take('ts', "registry.create('xcpng'")
const orphansBlock = doc.take('ts', 'reapOrphans(')

const HOUR = 3_600_000
const DEAD_PID = 2 ** 22 + 12345 // above Linux's default pid_max: never a live process

let env: Env
let sandbox: Sandbox
let home: string
/** What the page's commands printed, fed into the config like a reader would. */
let xapiFingerprint = ''
let sshHostKey = ''

beforeAll(async () => {
  sandbox = makeSandbox()
  home = sandbox.home('home')
  env = await startEnv()
})
afterAll(async () => {
  await env?.stop()
  sandbox?.cleanup()
})

/** The fingerprint in openssl's "sha256 Fingerprint=3A:9F:…:C4" (the form the page shows). */
const fingerprintOf = (line: string) => /^sha256 Fingerprint=([0-9A-F]{2}(?::[0-9A-F]{2}){31})$/i.exec(line.trim())?.[1]

/** Writes the page's xcpng_config.json, pointed at the simulator and the sshd; the password stays out of it. */
function writeConfig(dir: string): Record<string, unknown> {
  const example = JSON.parse(configBlock.code) as Record<string, unknown>
  const pool = env.sim.db.get('pool', env.sim.seeded.pool).uuid as string
  const { password, ...rest } = example
  expect(password).toBeDefined()
  const config = {
    ...rest,
    xapi_url: env.sim.url,
    pool_uuid: pool,
    ssh_user: env.sshd.user,
    fingerprint: [xapiFingerprint],
    ssh_host_key: [sshHostKey],
    // The test sshd listens on a free port; fail fast instead of after minutes.
    ssh_port: env.sshd.port,
    // The test machine is no clone of the template: what it shows (if it is a Xen guest) is not the clone's uuid.
    guest_uuid_path: NO_GUEST_UUID,
    boot_timeout_ms: 20_000,
    start_timeout_ms: 60_000,
  }
  writeFileSync(join(dir, 'xcpng_config.json'), JSON.stringify(config, null, 2))
  return config
}

describe('docs/xcpng.md', () => {
  it("the certificate fingerprint commands print the XAPI certificate's fingerprint", async () => {
    const pem = join(home, 'xapi-ssl.pem')
    writeFileSync(pem, env.sim.certPem)
    const onHost = await runShell(substitute(hostFingerprintBlock.code, { '/etc/xensource/xapi-ssl.pem': pem }), {
      cwd: home,
      env: sandbox.env(home),
    })
    const remote = await runShell(
      substitute(remoteFingerprintBlock.code, { 'xcp-host.example:443': `127.0.0.1:${env.sim.port}` }),
      { cwd: home, env: sandbox.env(home), timeoutMs: 30_000 },
    )
    for (const r of [onHost, remote]) {
      expect(r.failure, r.stderr).toBeUndefined()
      expect(r.lines).toHaveLength(1)
      expect(fingerprintOf(r.lines[0]?.stdout ?? '')?.toUpperCase()).toBe(env.sim.fingerprint.toUpperCase())
    }
    xapiFingerprint = fingerprintOf(remote.lines[0]?.stdout ?? '') ?? ''
  })

  it('the host key command prints the SHA256 fingerprint ssh_host_key takes', async () => {
    // The test sshd's host key stands in for the guest's.
    const pub = join(dirname(env.sshd.knownHostsPath), 'host_ed25519.pub')
    const r = await runShell(substitute(hostKeyBlock.code, { '/etc/ssh/ssh_host_ed25519_key.pub': pub }), {
      cwd: home,
      env: sandbox.env(home),
    })
    expect(r.failure, r.stderr).toBeUndefined()
    sshHostKey = r.lines[0]?.stdout.split(/\s+/)[1] ?? ''
    expect(sshHostKey).toBe(env.sshd.hostKeyFingerprint)
  })

  it('§5: the usage example runs with the example config and prints what its comments say', async () => {
    expect(xapiFingerprint).not.toBe('')
    expect(sshHostKey).not.toBe('')
    const dir = sandbox.home('usage')
    const config = writeConfig(dir)
    // "ssh_key_path": "~/.ssh/id_ed25519", in the program's HOME.
    expect(config.ssh_key_path).toBe('~/.ssh/id_ed25519')
    mkdirSync(join(dir, '.ssh'), { mode: 0o700 })
    copyFileSync(env.sshd.privateKeyPath, join(dir, '.ssh', 'id_ed25519'))
    // "Better: keep the password out of the file and set XCPNG_PASSWORD."
    const r = await runProgram(sandbox, 'usage', usageBlock.code, {
      cwd: dir,
      env: sandbox.env(dir, { XCPNG_PASSWORD: SIM_PASSWORD }),
    })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.logs).toHaveLength(2)
    const [values, details] = r.logs.map((l) => l.args[0])
    expect(values).toEqual(['Lua 5.4', 4])
    const documented = /\/\/ \{ (.*) \}\n/
      .exec(usageBlock.code)?.[1]
      ?.split(', ')
      .map((k) => k.split(':')[0])
    expect(Object.keys(details as object).sort()).toEqual(documented?.sort())
    expect(details).toMatchObject({
      owned: true,
      ip: '127.0.0.1',
      sshPort: env.sshd.port,
      xapi: `127.0.0.1:${env.sim.port}`,
      powerState: 'Running',
      // "vm_memory": "2GB" (binary units), "vm_vcpus": 2
      memoryBytes: 2 * 1024 ** 3,
      vcpus: 2,
    })
    expect(String((details as { vmName: string }).vmName)).toMatch(/^bioxen-job-1-/)
    // `await using` stopped it: nothing left on the pool, no session, nothing on the guest.
    expect(env.sim.leaks()).toEqual([])
    expect(env.sim.sessions()).toEqual([])
    expect(await env.sshd.userProcesses()).toEqual([])
  })

  it('first run: the key command makes a key, and check + run work with the example config', async () => {
    expect(xapiFingerprint).not.toBe('')
    const dir = sandbox.home('first-run')
    const keygen = await runShell(keygenBlock.code, { cwd: dir, env: sandbox.env(dir) })
    expect(keygen.failure, keygen.stderr).toBeUndefined()
    expect(readFileSync(join(dir, '.ssh', 'id_ed25519.pub'), 'utf8')).toMatch(/^ssh-ed25519 /)
    // The template's authorized_keys holds the test sshd's client key: that is the key to log in with.
    copyFileSync(env.sshd.privateKeyPath, join(dir, '.ssh', 'id_ed25519'))
    writeConfig(dir)
    const r = await runShell(firstRunBlock.code, {
      cwd: dir,
      env: sandbox.env(dir, { XCPNG_PASSWORD: SIM_PASSWORD }),
      timeoutMs: 120_000,
    })
    expect(r.failure, r.stderr).toBeUndefined()
    const [check, run] = r.lines
    expect(check?.stdout).toBe(
      "connected to pool 'sim-pool' (TLS verified, logged in and out)\ntemplate 'debian-lua': found\n",
    )
    expect(run?.stdout).toBe('hello from Lua 5.4\n')
    expect(run?.stderr).toBe('')
    expect(r.stdout + r.stderr).not.toContain(SIM_PASSWORD)
    // The clone was destroyed when the command ended.
    expect(env.sim.leaks()).toEqual([])
    expect(env.sim.sessions()).toEqual([])
  })

  it('Orphans: the reaper lists, then removes, only VMs whose owner is gone', async () => {
    const dir = sandbox.home('orphans')
    writeConfig(dir)
    const admin: XapiSession = await connectXapi({
      xapi_url: env.sim.url,
      username: 'root',
      password: SIM_PASSWORD,
      fingerprint: [env.sim.fingerprint],
    })
    try {
      const tagged = async (name: string, owner: Record<string, unknown> | undefined) => {
        const vm = (await admin.call('VM.clone', [env.sim.seeded.template, name])) as string
        await admin.call('VM.set_is_a_template', [vm, false])
        if (owner) await admin.call('VM.add_to_other_config', [vm, OWNER_KEY, JSON.stringify(owner)])
        await admin.call('VM.start', [vm, false, false])
        return vm
      }
      const now = Date.now()
      await tagged('crashed', { host: hostname(), pid: DEAD_PID, created: now - 2 * HOUR, vm: 'a' })
      const live = await tagged('live', { host: hostname(), pid: process.pid, created: now - 2 * HOUR, vm: 'b' })
      const young = await tagged('young', { host: hostname(), pid: DEAD_PID, created: now - 1000, vm: 'c' })
      const untagged = await tagged('not-ours', undefined)

      const r = await runProgram(sandbox, 'orphans', orphansBlock.code, {
        cwd: dir,
        env: sandbox.env(dir, { XCPNG_PASSWORD: SIM_PASSWORD }),
      })
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(r.logs).toHaveLength(1)
      expect(r.logs[0]?.method).toBe('table')
      const table = r.logs[0]?.args[0] as Array<{ name: string; action: string; reason?: string }>
      expect(Object.fromEntries(table.map((row) => [row.name, row.action]))).toEqual({
        crashed: 'would-destroy',
        live: 'skipped',
        young: 'skipped',
      })
      expect(table.find((row) => row.name === 'live')?.reason).toMatch(/still running/)
      expect(table.find((row) => row.name === 'young')?.reason).toMatch(/younger/)
      // The second call reaped the crashed one; the rest are untouched.
      expect(await admin.call('VM.get_by_name_label', ['crashed'])).toEqual([])
      for (const vm of [live, young, untagged]) expect(await admin.call('VM.get_power_state', [vm])).toBe('Running')
      // The reaper logged out.
      expect(env.sim.sessions()).toHaveLength(1)
    } finally {
      await admin.logout()
    }
  })

  it('the config example and the key table agree with the schema', () => {
    const example = JSON.parse(configBlock.code) as Record<string, unknown>
    for (const key of Object.keys(example)) expect(xcpngConfigSchema, key).toHaveProperty(key)
    const lines = doc.text.split('\n')
    const start = lines.findIndex((l) => l.startsWith('| key | type | default | environment | meaning |'))
    expect(start).toBeGreaterThan(0)
    const rows: Record<string, string[]> = {}
    for (let i = start + 2; lines[i]?.startsWith('|'); i++) {
      const cells = (lines[i] as string)
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim())
      rows[(cells[0] as string).replaceAll('`', '')] = cells.slice(1)
    }
    expect(Object.keys(rows).sort()).toEqual(Object.keys(xcpngConfigSchema).sort())
    for (const [key, field] of Object.entries(xcpngConfigSchema)) {
      const [type, defaults, envs] = rows[key] as string[]
      const envNames = [...(envs as string).matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1])
      expect(envNames, `${key}: environment`).toEqual([`LUAVM_XCPNG_${key.toUpperCase()}`, ...(field.env ?? [])])
      expect(type, `${key}: type`).toMatch(new RegExp(`^${field.type.replace('[]', '\\[\\]')}( |$)`))
      expect((type as string).includes('(secret)'), `${key}: secret`).toBe(field.secret === true)
      // A range the table states is the schema's.
      const range = /(\d+)–(\d+)/.exec(type as string)
      if (range) expect([Number(range[1]), Number(range[2])], `${key}: range`).toEqual([field.min, field.max])
      if (field.required) expect(defaults, `${key}: required`).toBe('**required**')
      else if (field.default === undefined) expect(defaults, `${key}: no default`).toBe('—')
      else expect(JSON.parse((defaults as string).replaceAll('`', '')), `${key}: default`).toEqual(field.default)
    }
  })

  it('its TypeScript examples type-check against the published declarations', () => {
    expect(typecheck(sandbox, { usage: usageBlock.code, orphans: orphansBlock.code })).toBe('')
  })

  it('the commands for the host and the guest parse as shell', async () => {
    expect(doc.notInCi().length).toBeGreaterThanOrEqual(6)
    for (const b of doc.notInCi()) expect(await bashSyntaxError(b.code, home), `line ${b.line}`).toBe('')
  })

  it('runs every ts, sh and json block of the page', () => {
    expect(doc.unverified()).toEqual([])
  })
})
