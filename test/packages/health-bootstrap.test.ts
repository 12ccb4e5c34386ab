import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { EnvironmentManager, formatHealthReport } from '@bioxen-luavm/backend-process'
import { PackageError } from '@bioxen-luavm/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildRockRepository, type RockRepository } from '../harness/rock-repo.js'
import { fixtureCatalog, privateTmp, scratchDir } from './helpers.js'

let repo: RockRepository
let root: ReturnType<typeof scratchDir>
let tmp: ReturnType<typeof privateTmp>
let envs: EnvironmentManager
const catalog = fixtureCatalog()

beforeAll(async () => {
  repo = await buildRockRepository()
  root = scratchDir('health')
  tmp = privateTmp()
  envs = new EnvironmentManager({ root: root.dir })
}, 180_000)

afterAll(() => {
  tmp?.dispose()
  root?.dispose()
  repo?.cleanup()
})

describe('bootstrapEnvironment', () => {
  it("installs the 'bio' profile in dependency order, then reports it present", async () => {
    const seen: string[] = []
    const r = await envs.bootstrapEnvironment('boot', 'bio', {
      luaVersion: '5.4',
      servers: [repo.dir],
      catalog,
      onOutcome: (o) => seen.push(`${o.name}:${o.status}`),
    })
    expect(seen).toEqual(['bio_compute:installed', 'seq_report:installed'])
    expect(r).toMatchObject({ environment: 'boot', profile: 'bio', luaVersion: '5.4', ok: true })
    expect(r.outcomes[0]?.result).toMatchObject({ name: 'bio_compute', version: '0.1.0-1', modules: ['bio_compute'] })
    // The environment remembers its servers, so later installs need none.
    expect((await envs.manifest('boot')).servers).toEqual([repo.dir])
    const again = await envs.bootstrapEnvironment('boot', 'bio', { catalog })
    expect(again.outcomes.map((o) => o.status)).toEqual(['present', 'present'])
  })

  it('never throws for one package: failures are reported, dependents skipped, the rest installed', async () => {
    const r = await envs.bootstrapEnvironment('partial', 'partly_broken', { servers: [repo.dir], catalog })
    expect(r.ok).toBe(false)
    expect(r.outcomes.map((o) => `${o.name}:${o.status}`)).toEqual([
      'bio_compute:installed',
      'not_in_repo:failed',
      'needs_missing:skipped',
      'versioned_mod:installed',
    ])
    expect(r.outcomes[1]?.error).toMatch(/installing 'not_in_repo' failed: Error: No results matching query/)
    expect(r.outcomes[2]?.reason).toBe('needs not_in_repo, which did not install')
  })

  it('pureOnly skips native rocks', async () => {
    const r = await envs.bootstrapEnvironment('pure', 'native', { servers: [repo.dir], catalog, pureOnly: true })
    expect(r.outcomes.map((o) => `${o.name}:${o.status}`)).toEqual(['native_hello:skipped', 'bio_compute:installed'])
  })

  it('an unknown profile rejects before anything is created', async () => {
    await expect(envs.bootstrapEnvironment('never', 'nope', { catalog })).rejects.toBeInstanceOf(PackageError)
    expect(await envs.exists('never')).toBe(false)
  })
})

describe('checkEnvironmentHealth', () => {
  it('reports a healthy environment: interpreter, luarocks, rocks, profile, modules', async () => {
    const h = await envs.checkEnvironmentHealth('boot', { luaVersion: '5.4', profile: 'bio', catalog })
    expect(h.ok).toBe(true)
    expect(h.interpreter).toMatchObject({ ok: true, version: expect.stringMatching(/^Lua 5\.4\./) })
    expect(h.interpreter.path).toMatch(/lua5\.4$/)
    expect(h.luarocks).toMatchObject({ ok: true, version: expect.stringMatching(/^3\./) })
    expect(h.installed.map((r) => r.name).sort()).toEqual(['bio_compute', 'seq_report'])
    expect(h.missingFromProfile).toEqual([])
    expect(h.brokenModules).toEqual([])
    expect(h.modulesChecked).toBe(2)
    expect(formatHealthReport(h)).toMatch(/ok {3}modules {6}2 load\nhealthy\n$/)
  })

  it('lists what a profile still needs', async () => {
    const h = await envs.checkEnvironmentHealth('partial', { profile: 'partly_broken', catalog })
    expect(h.missingFromProfile).toEqual(['not_in_repo', 'needs_missing'])
    expect(h.ok).toBe(false)
    expect(formatHealthReport(h)).toMatch(/FAIL profile {6}partly_broken: missing not_in_repo, needs_missing/)
  })

  it('finds a broken module: installed, then its .lua file deleted', async () => {
    rmSync(join(envs.treeDir('partial', '5.4'), 'share', 'lua', '5.4', 'versioned_mod.lua'))
    const h = await envs.checkEnvironmentHealth('partial')
    expect(h.ok).toBe(false)
    expect(h.brokenModules).toEqual([
      {
        module: 'versioned_mod',
        rock: expect.stringMatching(/^versioned_mod\//),
        error: expect.stringMatching(/module 'versioned_mod' not found/),
      },
    ])
    expect(h.modulesChecked).toBe(1)
    const text = formatHealthReport(h)
    expect(text).toMatch(
      /FAIL modules {6}1 load, 1 broken:\n {9}versioned_mod \(versioned_mod\/[^)]+\): module 'versioned_mod' not found/,
    )
    expect(text).toMatch(/UNHEALTHY\n$/)
  })

  it('names a module that kills the interpreter while loading', async () => {
    writeFileSync(join(envs.treeDir('partial', '5.4'), 'share', 'lua', '5.4', 'versioned_mod.lua'), 'os.exit(3)\n')
    const h = await envs.checkEnvironmentHealth('partial')
    expect(h.brokenModules).toEqual([
      expect.objectContaining({ module: 'versioned_mod', error: expect.stringMatching(/probe ended while loading/) }),
    ])
  })

  it('finds a broken C module', async () => {
    await envs.install('boot', 'native_hello', { servers: [repo.dir] })
    expect((await envs.checkEnvironmentHealth('boot')).ok).toBe(true)
    rmSync(join(envs.treeDir('boot', '5.4'), 'lib', 'lua', '5.4', 'native_hello.so'))
    const h = await envs.checkEnvironmentHealth('boot')
    expect(h.brokenModules.map((b) => b.module)).toEqual(['native_hello'])
  })

  it('an empty tree is healthy and has no phantom package (the original counted the header)', async () => {
    await envs.create('empty')
    const h = await envs.checkEnvironmentHealth('empty')
    expect(h).toMatchObject({ ok: true, installed: [], brokenModules: [], modulesChecked: 0 })
  })

  it('says when the interpreter for a tree is missing', async () => {
    await envs.ensure('empty', { luaVersion: '5.2' })
    const h = await envs.checkEnvironmentHealth('empty', { luaVersion: '5.2', luaExecutable: 'lua5.2-not-here' })
    expect(h.interpreter.ok).toBe(false)
    expect(h.interpreter.problem).toMatch(/lua5\.2-not-here/)
    expect(h.ok).toBe(false)
    expect(formatHealthReport(h)).toMatch(/FAIL interpreter/)
  })

  it('leaves no temp directory behind', () => {
    expect(tmp.leftovers()).toEqual([])
  })
})
