import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { EnvironmentManager, processBackend } from '@bioxen-luavm/backend-process'
import {
  BackendRegistry,
  type BaseLuaVM,
  InvalidArgumentError,
  PackageError,
  PackageInstaller,
  VMManager,
} from '@bioxen-luavm/core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildRockRepository, type RockRepository } from '../harness/rock-repo.js'
import { fixtureCatalog, privateTmp, scratchDir } from './helpers.js'

let repo: RockRepository
let root: ReturnType<typeof scratchDir>
let tmp: ReturnType<typeof privateTmp>
let cwd: string
let originalCwd: string
const registry = new BackendRegistry().register(processBackend)
const vms: BaseLuaVM[] = []
let n = 0

async function vm(config: Record<string, unknown> = {}): Promise<BaseLuaVM> {
  const v = await registry.create('process', `pkg-vm-${++n}`, { luaExecutable: 'lua5.4', ...config })
  vms.push(v)
  return v
}

async function value(v: BaseLuaVM, code: string): Promise<unknown> {
  const r = await v.execute(code, { echoReturnValues: false })
  if (r.status !== 'ok') throw new Error(`${r.status}: ${r.error?.message}`)
  return r.values[0]
}

beforeAll(async () => {
  repo = await buildRockRepository()
  root = scratchDir('vm')
  tmp = privateTmp()
  originalCwd = process.cwd()
  cwd = mkdtempSync(join(root.dir, 'cwd-'))
  process.chdir(cwd)
}, 180_000)

afterEach(async () => {
  await Promise.allSettled(vms.splice(0).map((v) => v.stop({ force: true })))
})

afterAll(() => {
  process.chdir(originalCwd)
  tmp?.dispose()
  root?.dispose()
  repo?.cleanup()
})

describe('process VM: installPackage into a private environment', () => {
  it("installs bio_compute, then require('bio_compute').gc_content('ATGC') is 0.5", async () => {
    const v = await vm()
    expect(v.capabilities).toMatchObject({ packages: true, packageKinds: ['pure', 'native'] })
    const r = await v.installPackage('bio_compute', { servers: [repo.dir] })
    expect(r).toMatchObject({ name: 'bio_compute', version: '0.1.0-1', success: true, modules: ['bio_compute'] })
    expect(await value(v, "return require('bio_compute').gc_content('ATGC')")).toBe(0.5)
    const details = (await v.getStatus()).details as { environment: { name: string; path: string } }
    expect(details.environment.name).toBe('(private)')
    expect(existsSync(details.environment.path)).toBe(true)
    await v.stop()
    // The private environment goes with the VM.
    expect(existsSync(details.environment.path)).toBe(false)
    expect(tmp.leftovers()).toEqual([])
  })

  it('needs no restart: state survives, and every pool worker sees the new module', async () => {
    const persistent = await vm({ servers: [repo.dir] })
    await persistent.execute('kept = 42')
    await persistent.installPackage('seq_report')
    expect(await value(persistent, 'return kept')).toBe(42)
    expect(await value(persistent, "return require('seq_report').report('ATGC')")).toBe('len=4 gc=0.50 revcomp=GCAT')
    expect((await persistent.getStatus()).restarts).toBe(0)

    const pool = await vm({ mode: 'pool', poolSize: 3, servers: [repo.dir] })
    // A failed require first: Lua does not cache failures.
    expect((await pool.execute("require('versioned_mod')")).status).toBe('error')
    await pool.installPackage('versioned_mod', { version: '1.0-1' })
    const all = await Promise.all(
      Array.from({ length: 6 }, () => value(pool, "return require('versioned_mod').version")),
    )
    expect(all).toEqual(Array(6).fill('1.0'))

    const oneshot = await vm({ mode: 'oneshot', servers: [repo.dir] })
    await oneshot.installPackage('bio_compute')
    expect(await value(oneshot, "return require('bio_compute').gc_content('GGCC')")).toBe(1)
  })

  it('a missing rock is a PackageError quoting luarocks; a bad name never reaches luarocks', async () => {
    const v = await vm({ servers: [repo.dir] })
    const error = await v.installPackage('no_such_rock').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PackageError)
    expect((error as Error).message).toMatch(/Error: No results matching query were found for Lua 5\.4/)
    await expect(v.installPackage('--server=/evil')).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(v.installPackage('bio_compute', { version: '1 2' })).rejects.toBeInstanceOf(InvalidArgumentError)
    expect(await value(v, 'return 1 + 1')).toBe(2)
  })

  it('a sandboxed VM without the require grant cannot install', async () => {
    const v = await vm({ sandbox: true })
    expect(v.capabilities.packages).toBe(false)
    await expect(v.installPackage('bio_compute', { servers: [repo.dir] })).rejects.toThrow(/grants: \['require'\]/)
    const granted = await vm({ sandbox: true, grants: ['require'], servers: [repo.dir] })
    await granted.installPackage('bio_compute')
    expect(await value(granted, "return require('bio_compute').gc_content('AT')")).toBe(0)
  })

  it('stopping during an install cancels it and leaves nothing behind', async () => {
    const v = await vm({ servers: [repo.dir] })
    const pending = v.installPackage('seq_report').catch((e: unknown) => e)
    await new Promise((r) => setTimeout(r, 50))
    await v.stop()
    expect(await pending).toBeInstanceOf(Error)
    expect(tmp.leftovers()).toEqual([])
  })
})

describe('process VMs on named environments', () => {
  it('two environments with different versions of one module, used by two VMs at once', async () => {
    const envRoot = join(root.dir, 'envs')
    const one = await vm({ environment: 'v1', envRoot, servers: [repo.dir] })
    const two = await vm({ environment: 'v2', envRoot, servers: [repo.dir] })
    await Promise.all([
      one.installPackage('versioned_mod', { version: '1.0-1' }),
      two.installPackage('versioned_mod', { version: '2.0-1' }),
    ])
    const code = "return require('versioned_mod').version"
    const [a, b] = await Promise.all([value(one, code), value(two, code)])
    expect([a, b]).toEqual(['1.0', '2.0'])

    // Named environments outlive VMs; a new VM on one sees what is installed.
    await one.stop()
    const envs = new EnvironmentManager({ root: envRoot })
    expect((await envs.list()).map((e) => e.name)).toEqual(['v1', 'v2'])
    expect((await envs.manifest('v1')).packages['5.4']?.versioned_mod?.version).toBe('1.0-1')
    const again = await vm({ environment: 'v1', envRoot })
    expect(await value(again, code)).toBe('1.0')
    const details = (await again.getStatus()).details as { environment: { name: string; path: string } }
    expect(details.environment).toMatchObject({ name: 'v1', path: join(envRoot, 'v1', '5.4') })
  })

  it('rejects a bad environment name or a relative root in config', async () => {
    await expect(vm({ environment: '../escape' })).rejects.toThrow(/environment/)
    await expect(vm({ environment: 'ok', envRoot: 'relative' })).rejects.toThrow(/absolute/)
  })
})

describe('PackageInstaller with a VMManager and process VMs', () => {
  it("installs the fixture 'bio' profile in dependency order", async () => {
    const manager = new VMManager({ registry, defaultBackend: 'process' })
    try {
      await manager.createVM('bio-vm', { type: 'process', config: { luaExecutable: 'lua5.4', servers: [repo.dir] } })
      const installer = new PackageInstaller({ manager, catalog: fixtureCatalog() })
      const r = await installer.installProfile('bio', 'bio-vm')
      expect(r.ok).toBe(true)
      expect(r.outcomes.map((o) => `${o.name}:${o.status}`)).toEqual(['bio_compute:installed', 'seq_report:installed'])
      const single = await installer.installInVM('native_hello', 'bio-vm')
      expect(single.modules).toEqual(['native_hello'])
      const out = await manager.execute(
        'bio-vm',
        "return require('seq_report').report('AATT'), require('native_hello').hello()",
        {
          echoReturnValues: false,
        },
      )
      expect(out.values).toEqual(['len=4 gc=0.00 revcomp=AATT', 'hello from C'])
    } finally {
      await manager.shutdownAll()
    }
  })
})

describe('hygiene', () => {
  it('nothing was written to the CWD and no temp directory is left', () => {
    expect(readdirSync(cwd)).toEqual([])
    expect(tmp.leftovers()).toEqual([])
    rmSync(cwd, { recursive: true, force: true })
  })
})
