import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import {
  defaultEnvironmentRoot,
  EnvironmentManager,
  type EnvironmentManifest,
  LocalCommandRunner,
  treePaths,
} from '@bioxen-luavm/backend-process'
import { type CommandRunner, ConfigError, InvalidArgumentError, PackageError } from '@bioxen-luavm/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildRockRepository, type RockRepository } from '../harness/rock-repo.js'
import { privateTmp, scratchDir } from './helpers.js'

/** Runs Lua 5.4 code with an environment's paths and returns stdout. */
function luaWith(paths: { LUA_PATH: string; LUA_CPATH: string }, code: string): string {
  return execFileSync('lua5.4', ['-'], {
    input: code,
    env: { PATH: process.env.PATH ?? '', ...paths },
    encoding: 'utf8',
  })
}

/** A runner that records every argv, so tests can prove luarocks never ran. */
function countingRunner(): CommandRunner & { calls: string[][] } {
  const inner = new LocalCommandRunner()
  const calls: string[][] = []
  return {
    calls,
    run(argv, options) {
      calls.push([...argv])
      return inner.run(argv, options)
    },
  }
}

let repo: RockRepository
let root: ReturnType<typeof scratchDir>
let cwd: string
let originalCwd: string
let tmp: ReturnType<typeof privateTmp>
let envs: EnvironmentManager

beforeAll(async () => {
  repo = await buildRockRepository()
  root = scratchDir('envs')
  tmp = privateTmp()
  originalCwd = process.cwd()
  cwd = mkdtempSync(join(root.dir, 'cwd-'))
  process.chdir(cwd)
  envs = new EnvironmentManager({ root: join(root.dir, 'envs'), servers: [repo.dir] })
}, 180_000)

afterAll(() => {
  process.chdir(originalCwd)
  tmp?.dispose()
  root?.dispose()
  repo?.cleanup()
})

describe('environments: layout, list, inspect, delete', () => {
  it('creates <root>/<name>/<lua version>/ and a manifest inside the environment', async () => {
    const m = await envs.create('layout', { luaVersion: '5.4', servers: [repo.dir] })
    expect(m).toMatchObject({
      format: 1,
      name: 'layout',
      luaVersions: ['5.4'],
      servers: [repo.dir],
      packages: { '5.4': {} },
    })
    expect(readdirSync(envs.envDir('layout')).sort()).toEqual(['5.4', 'manifest.json'])
    expect(JSON.parse(readFileSync(join(envs.envDir('layout'), 'manifest.json'), 'utf8'))).toEqual(m)
    await expect(envs.create('layout')).rejects.toThrow(/already exists/)
  })

  it('lists environments and inspects trees with computed paths', async () => {
    await envs.ensure('layout', { luaVersion: '5.3' })
    const list = await envs.list()
    expect(list.find((e) => e.name === 'layout')).toMatchObject({
      luaVersions: ['5.3', '5.4'],
      packageCount: { '5.3': 0 },
    })
    const details = await envs.inspect('layout')
    expect(details.trees.map((t) => [t.luaVersion, t.rocks])).toEqual([
      ['5.3', []],
      ['5.4', []],
    ])
    expect(details.trees[1]?.paths.LUA_PATH).toBe(
      `${envs.treeDir('layout', '5.4')}/share/lua/5.4/?.lua;${envs.treeDir('layout', '5.4')}/share/lua/5.4/?/init.lua;;`,
    )
  })

  it('computes the same tree paths luarocks prints', () => {
    const tree = envs.treeDir('layout', '5.4')
    const run = (flag: string) =>
      execFileSync('luarocks', ['--lua-version', '5.4', '--tree', tree, 'path', flag], { encoding: 'utf8' }).trim()
    const p = treePaths(tree, '5.4')
    expect(run('--lr-path').startsWith(`${p.LUA_PATH};`)).toBe(true)
    expect(run('--lr-cpath').startsWith(`${p.LUA_CPATH};`)).toBe(true)
  })

  it('deletes an environment; unknown ones are a clear error', async () => {
    await envs.delete('layout')
    expect(existsSync(envs.envDir('layout'))).toBe(false)
    await expect(envs.delete('layout')).rejects.toThrow(/no environment 'layout'.*env create layout/)
    await expect(envs.inspect('nope')).rejects.toBeInstanceOf(InvalidArgumentError)
  })

  it('validates names and roots before touching anything', async () => {
    for (const bad of ['../up', '.hidden', '-flag', 'a/b', '', 'a b']) {
      await expect(envs.create(bad)).rejects.toBeInstanceOf(InvalidArgumentError)
    }
    await expect(envs.create('ok', { luaVersion: '6.0' })).rejects.toThrow(/invalid Lua version/)
    expect(() => new EnvironmentManager({ root: 'relative/envs' })).toThrow(ConfigError)
    expect(readdirSync(join(root.dir, 'envs'))).toEqual([])
  })

  it('defaults to the per-user data directory, never the CWD', () => {
    expect(defaultEnvironmentRoot({ XDG_DATA_HOME: '/data', HOME: '/home/u' })).toBe('/data/bioxen-luavm/envs')
    expect(defaultEnvironmentRoot({ HOME: '/home/u' })).toBe('/home/u/.local/share/bioxen-luavm/envs')
    expect(defaultEnvironmentRoot({ XDG_DATA_HOME: 'relative', HOME: '/home/u' })).toBe(
      '/home/u/.local/share/bioxen-luavm/envs',
    )
    expect(new EnvironmentManager({ env: { XDG_DATA_HOME: '/data' } }).root).toBe('/data/bioxen-luavm/envs')
  })
})

describe('installing with real luarocks from the offline repository', () => {
  it('resolves dependencies: seq_report pulls in bio_compute, and the manifest says so', async () => {
    await envs.create('deps')
    const r = await envs.install('deps', 'seq_report')
    expect(r).toMatchObject({ name: 'seq_report', version: '0.1.0-1', success: true, modules: ['seq_report'] })
    expect(r.location).toBe(envs.treeDir('deps', '5.4'))
    const rocks = await envs.installed('deps', '5.4')
    expect(rocks.map((x) => `${x.name} ${x.version}`).sort()).toEqual(['bio_compute 0.1.0-1', 'seq_report 0.1.0-1'])
    expect(luaWith(envs.paths('deps', '5.4'), 'io.write(require("seq_report").report("ATGC"))')).toBe(
      'len=4 gc=0.50 revcomp=GCAT',
    )
    const m = JSON.parse(readFileSync(join(envs.envDir('deps'), 'manifest.json'), 'utf8')) as EnvironmentManifest
    const pkgs = m.packages['5.4'] ?? {}
    expect(pkgs.seq_report).toMatchObject({ version: '0.1.0-1', modules: ['seq_report'], explicit: true })
    expect(pkgs.bio_compute).toMatchObject({ version: '0.1.0-1', modules: ['bio_compute'], explicit: false })
    expect(pkgs.seq_report?.source).toMatch(new RegExp(`^${repo.dir}/seq_report-0\\.1\\.0-1\\.(all|src)\\.rock$`))
    expect(pkgs.bio_compute?.source).toMatch(new RegExp(`^${repo.dir}/bio_compute-0\\.1\\.0-1\\.`))
    expect(Date.parse(pkgs.seq_report?.installedAt ?? '')).toBeGreaterThan(Date.parse(m.created) - 1)
  })

  it('pins versions: versioned_mod 1.0-1, then 2.0-1 replaces it', async () => {
    await envs.create('pins')
    expect((await envs.install('pins', 'versioned_mod', { version: '1.0-1' })).version).toBe('1.0-1')
    expect(luaWith(envs.paths('pins', '5.4'), 'io.write(require("versioned_mod").version)')).toBe('1.0')
    expect((await envs.install('pins', 'versioned_mod', { version: '2.0-1' })).version).toBe('2.0-1')
    expect(luaWith(envs.paths('pins', '5.4'), 'io.write(require("versioned_mod").version)')).toBe('2.0')
    expect((await envs.manifest('pins')).packages['5.4']?.versioned_mod?.version).toBe('2.0-1')
    expect((await envs.installed('pins')).filter((r) => r.name === 'versioned_mod')).toHaveLength(1)
  })

  it('reinstalls an installed rock and records the new time', async () => {
    const before = (await envs.manifest('pins')).packages['5.4']?.versioned_mod?.installedAt ?? ''
    await new Promise((r) => setTimeout(r, 5))
    await envs.install('pins', 'versioned_mod', { version: '2.0-1' })
    const after = (await envs.manifest('pins')).packages['5.4']?.versioned_mod
    expect(after?.version).toBe('2.0-1')
    expect(Date.parse(after?.installedAt ?? '')).toBeGreaterThan(Date.parse(before))
  })

  it('removes a rock from tree and manifest; removing it again quotes luarocks', async () => {
    await envs.remove('pins', 'versioned_mod')
    expect(await envs.installed('pins')).toEqual([])
    expect((await envs.manifest('pins')).packages['5.4']).toEqual({})
    const error = await envs.remove('pins', 'versioned_mod').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PackageError)
    expect((error as Error).message).toMatch(/removing 'versioned_mod' failed: Error: .*versioned_mod/)
  })

  it('builds a native rock into its own tree', async () => {
    await envs.create('native')
    const r = await envs.install('native', 'native_hello')
    expect(r.modules).toEqual(['native_hello'])
    expect(luaWith(envs.paths('native', '5.4'), 'io.write(require("native_hello").hello())')).toBe('hello from C')
  })

  it('keeps one tree per Lua version', async () => {
    await envs.install('native', 'bio_compute', { luaVersion: '5.3', create: true })
    expect((await envs.installed('native', '5.3')).map((r) => r.name)).toEqual(['bio_compute'])
    expect((await envs.installed('native', '5.4')).map((r) => r.name)).toEqual(['native_hello'])
    expect((await envs.manifest('native')).luaVersions).toEqual(['5.3', '5.4'])
    await expect(envs.installed('pins', '5.3')).rejects.toThrow(/has no Lua 5\.3 tree/)
  })
})

describe('failing installs', () => {
  it('a bad name is an InvalidArgumentError before luarocks runs', async () => {
    const runner = countingRunner()
    const guarded = new EnvironmentManager({ root: join(root.dir, 'envs'), runner, servers: [repo.dir] })
    for (const bad of ['--server=/evil', '../x', 'a;b', '']) {
      await expect(guarded.install('deps', bad)).rejects.toBeInstanceOf(InvalidArgumentError)
    }
    await expect(guarded.install('deps', 'bio_compute', { version: '--force' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(guarded.install('../x', 'bio_compute', { create: true })).rejects.toBeInstanceOf(InvalidArgumentError)
    expect(runner.calls).toEqual([])
  })

  it('a missing rock is a PackageError quoting luarocks, and the manifest is unchanged', async () => {
    const before = await envs.manifest('deps')
    const error = await envs.install('deps', 'no_such_rock').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PackageError)
    expect((error as Error).message).toMatch(
      /installing 'no_such_rock' failed: Error: No results matching query were found for Lua 5\.4/,
    )
    expect(await envs.manifest('deps')).toEqual(before)
    const pinned = await envs.install('deps', 'versioned_mod', { version: '9.9-1' }).catch((e: unknown) => e)
    expect((pinned as Error).message).toMatch(/No results matching query/)
  })

  it('installing into a missing environment says how to create it (unless create is set)', async () => {
    await expect(envs.install('ghost', 'bio_compute')).rejects.toThrow(/no environment 'ghost'/)
  })

  it('a deadline kills luarocks and says so', async () => {
    const slow = new LocalCommandRunner()
    const r = await slow.run(['sleep', '5'], { timeoutMs: 200 })
    expect(r.exitCode).not.toBe(0)
    expect(r.stderr).toMatch(/Error: sleep was killed after 1 s/)
    const controller = new AbortController()
    const pending = slow.run(['sleep', '5'], { signal: controller.signal })
    controller.abort()
    await expect(pending).rejects.toThrow(/sleep was cancelled/)
    expect(await slow.run(['no-such-program-xyz'])).toMatchObject({ exitCode: 127 })
  })
})

describe('hygiene', () => {
  it('nothing was written to the CWD and no temp directory is left', () => {
    expect(readdirSync(cwd)).toEqual([])
    expect(tmp.leftovers()).toEqual([])
  })

  it('delete removes everything of an environment', async () => {
    for (const e of await envs.list()) await envs.delete(e.name)
    expect(readdirSync(join(root.dir, 'envs'))).toEqual([])
    rmSync(cwd, { recursive: true, force: true })
  })
})
