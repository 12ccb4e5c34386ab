import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCliInMemory } from '@bioxen-luavm/cli'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildRockRepository, type RockRepository } from '../harness/rock-repo.js'
import { fixtureCatalogData, privateTmp, scratchDir } from './helpers.js'

let repo: RockRepository
let root: ReturnType<typeof scratchDir>
let tmp: ReturnType<typeof privateTmp>
let cwd: string
let originalCwd: string
let catalogFile: string
let baseEnv: Record<string, string>

/** Runs the CLI in-process with a private data directory. */
function cli(argv: string[], env: Record<string, string> = {}) {
  return runCliInMemory(argv, { env: { ...baseEnv, ...env } })
}

beforeAll(async () => {
  repo = await buildRockRepository()
  root = scratchDir('cli')
  tmp = privateTmp()
  catalogFile = join(root.dir, 'catalog.json')
  writeFileSync(catalogFile, JSON.stringify(fixtureCatalogData))
  baseEnv = {
    XDG_CONFIG_HOME: '/nonexistent-luavm-test',
    XDG_DATA_HOME: join(root.dir, 'data'),
    HOME: join(root.dir, 'home'),
    PATH: process.env.PATH ?? '/usr/bin:/bin',
  }
  originalCwd = process.cwd()
  cwd = mkdtempSync(join(root.dir, 'cwd-'))
  process.chdir(cwd)
}, 180_000)

afterAll(() => {
  process.chdir(originalCwd)
  tmp?.dispose()
  root?.dispose()
  repo?.cleanup()
})

describe('bioxen-luavm env', () => {
  it('create --profile installs a profile in dependency order, with progress', async () => {
    const r = await cli(['env', 'create', 'bio', '--servers', repo.dir, '--profile', 'bio', '--catalog', catalogFile])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /^installed bio_compute 0\.1\.0-1\ninstalled seq_report 0\.1\.0-1\ncreated environment 'bio' \(Lua 5\.4\) in .*\/data\/bioxen-luavm\/envs\/bio\n$/,
    )
    const unknown = await cli(['env', 'create', 'x', '--profile', 'nope', '--catalog', catalogFile])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/unknown profile 'nope'; profiles: bio, native, partly_broken/)
    expect(JSON.parse((await cli(['env', 'list', '--json'])).stdout).map((e: { name: string }) => e.name)).toEqual([
      'bio',
    ])
    const again = await cli(['env', 'create', 'bio'])
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/already exists/)
  })

  it('create with a failing profile package exits 4 and reports each package', async () => {
    const r = await cli([
      'env',
      'create',
      'partial',
      '--servers',
      repo.dir,
      '--profile',
      'partly_broken',
      '--catalog',
      catalogFile,
      '--json',
    ])
    expect(r.code).toBe(4)
    const out = JSON.parse(r.stdout)
    expect(out.outcomes.map((o: { name: string; status: string }) => `${o.name}:${o.status}`)).toEqual([
      'bio_compute:installed',
      'not_in_repo:failed',
      'needs_missing:skipped',
      'versioned_mod:installed',
    ])
    expect(out.name).toBe('partial')
  })

  it('list and show, as text and JSON', async () => {
    const list = await cli(['env', 'list'])
    expect(list.code).toBe(0)
    expect(list.stdout).toMatch(/^NAME\s+LUA\s+PACKAGES/)
    expect(list.stdout).toMatch(/^bio\s+5\.4\s+2\s/m)
    expect(JSON.parse((await cli(['env', 'list', '--json'])).stdout).map((e: { name: string }) => e.name)).toEqual([
      'bio',
      'partial',
    ])
    const show = await cli(['env', 'show', 'bio'])
    expect(show.code).toBe(0)
    expect(show.stdout).toMatch(/^servers {5}.*\/repo$/m)
    expect(show.stdout).toMatch(/LUA_PATH=.*\/bio\/5\.4\/share\/lua\/5\.4\/\?\.lua;/)
    expect(show.stdout).toMatch(/^bio_compute\s+0\.1\.0-1\s+bio_compute\s+asked/m)
    const json = JSON.parse((await cli(['env', 'show', 'bio', '--json'])).stdout)
    expect(json.trees[0].rocks.map((r: { name: string }) => r.name).sort()).toEqual(['bio_compute', 'seq_report'])
    expect((await cli(['env', 'show', 'nope'])).code).toBe(2)
  })

  it('paths prints shell assignments, or JSON', async () => {
    const r = await cli(['env', 'paths', 'bio'])
    expect(r.stdout).toMatch(
      /^export LUA_PATH='.*\/bio\/5\.4\/share\/lua\/5\.4\/\?\.lua;.*;;'\nexport LUA_CPATH='.*\?\.so;;'\n$/,
    )
    const json = await cli(['env', 'paths', 'bio', '--json'])
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout)).toEqual({
      LUA_PATH: expect.stringMatching(/\/bio\/5\.4\/share\/lua\/5\.4\/\?\.lua;.*;;$/),
      LUA_CPATH: expect.stringMatching(/\?\.so;;$/),
    })
  })

  it('health exits 0 when healthy and 1 when a module is broken', async () => {
    const ok = await cli(['env', 'health', 'bio', '--profile', 'bio', '--catalog', catalogFile])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(/ok {3}interpreter {2}Lua 5\.4/)
    expect(ok.stdout).toMatch(/profile {6}bio: complete/)
    expect(ok.stdout).toMatch(/healthy\n$/)
    rmSync(
      join(
        baseEnv.XDG_DATA_HOME as string,
        'bioxen-luavm',
        'envs',
        'partial',
        '5.4',
        'share',
        'lua',
        '5.4',
        'versioned_mod.lua',
      ),
    )
    const bad = await cli(['env', 'health', 'partial', '--json'])
    expect(bad.code).toBe(1)
    const report = JSON.parse(bad.stdout)
    expect(report.ok).toBe(false)
    expect(report.brokenModules[0]).toMatchObject({ module: 'versioned_mod' })
    expect((await cli(['env', 'health', 'partial'])).stdout).toMatch(/UNHEALTHY\n$/)
    expect((await cli(['env', 'health', 'nope'])).code).toBe(2)
  })
})

describe('bioxen-luavm pkg install / list / remove', () => {
  it('installs into an environment (created when missing), servers from LUAVM_ROCK_SERVERS', async () => {
    const r = await cli(['pkg', 'install', 'versioned_mod', '--version', '1.0-1', '--env', 'old'], {
      LUAVM_ROCK_SERVERS: repo.dir,
    })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /^installed versioned_mod 1\.0-1 into environment 'old' \(Lua 5\.4\) at .*\/old\/5\.4\nmodules: versioned_mod\n$/,
    )
  })

  it('lists one environment or all of them', async () => {
    const one = JSON.parse((await cli(['pkg', 'list', '--env', 'old', '--json'])).stdout)
    expect(one).toEqual([
      expect.objectContaining({
        environment: 'old',
        luaVersion: '5.4',
        name: 'versioned_mod',
        version: '1.0-1',
        modules: ['versioned_mod'],
        explicit: true,
      }),
    ])
    const all = await cli(['pkg', 'list', '--lua-version', '5.4'])
    expect(all.code).toBe(0)
    expect(all.stdout).toMatch(/^ENV\s+LUA\s+NAME\s+VERSION\s+MODULES\s+HOW/)
    expect(all.stdout).toMatch(/^bio\s+5\.4\s+bio_compute\s+0\.1\.0-1\s+bio_compute\s+asked/m)
    expect(all.stdout).toMatch(/^bio\s+5\.4\s+seq_report\s/m)
    expect(all.stdout).toMatch(/^old\s+5\.4\s+versioned_mod\s+1\.0-1/m)
    expect((await cli(['pkg', 'list', '--lua-version', '5.1'])).stdout).toBe('no packages installed\n')
  })

  it('a missing rock exits 4 quoting luarocks; a bad name exits 2', async () => {
    const missing = await cli(['pkg', 'install', 'no_such_rock', '--env', 'old', '--servers', repo.dir])
    expect(missing.code).toBe(4)
    expect(missing.stderr).toMatch(/installing 'no_such_rock' failed: Error: No results matching query/)
    const bad = await cli(['pkg', 'install', '../x', '--env', 'old'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/invalid package name/)
    const mixed = await cli(['pkg', 'install', 'bio_compute', '--env', 'old', '--backend', 'wasm'])
    expect(mixed.code).toBe(2)
    expect(mixed.stderr).toMatch(/drop --backend wasm/)
  })

  it('installs into a fresh process VM and reports the modules; the VM leaves nothing behind', async () => {
    const r = await cli(['pkg', 'install', 'seq_report', '--backend', 'process', '--servers', repo.dir, '--json'], {
      LUAVM_PROCESS_LUA_EXECUTABLE: 'lua5.4',
    })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'seq_report', version: '0.1.0-1', modules: ['seq_report'] })
    expect(tmp.leftovers()).toEqual([])
  })

  it('removes a rock', async () => {
    const r = await cli(['pkg', 'remove', 'versioned_mod', '--env', 'old'])
    expect(r.code).toBe(0)
    expect(JSON.parse((await cli(['pkg', 'list', '--env', 'old', '--json'])).stdout)).toEqual([])
  })

  it('has help with examples', async () => {
    for (const argv of [
      ['pkg', 'install', '--help'],
      ['env', 'create', '--help'],
      ['env', 'health', '--help'],
    ]) {
      const r = await cli(argv)
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/Examples:\n {2}\$ bioxen-luavm /)
    }
    expect((await cli(['env', '--help'])).stdout).toMatch(
      /create[\s\S]*list[\s\S]*show[\s\S]*paths[\s\S]*health[\s\S]*delete/,
    )
  })
})

describe('cleanup', () => {
  it('env delete removes environments; nothing in the CWD, no temp directories', async () => {
    for (const name of ['bio', 'partial', 'old']) expect((await cli(['env', 'delete', name])).code).toBe(0)
    expect((await cli(['env', 'list'])).stdout).toMatch(/^no environments in /)
    expect(readdirSync(cwd)).toEqual([])
    expect(tmp.leftovers()).toEqual([])
  })
})
