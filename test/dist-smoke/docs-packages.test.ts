/**
 * docs/packages.md, run: every ```ts, ```sh and ```json block runs (or is
 * loaded) against the built packages and a rock directory built at test
 * time, which stands in for the page's `/srv/rocks`; what the comments and
 * samples claim is checked against what really happens.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { EnvironmentManager, formatHealthReport } from '@bioxen-luavm/backend-process'
import { Catalog } from '@bioxen-luavm/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildRockRepository, type RockRepository } from '../harness/rock-repo.js'
import {
  Doc,
  type LoggedCall,
  makeSandbox,
  run,
  runProgram,
  runShell,
  type Sandbox,
  substitute,
  typecheck,
} from './docs-blocks.js'
import { root } from './packages.js'

const doc = new Doc('packages.md')
const catalogBlock = doc.take('json', '"profiles"')
const manifestBlock = doc.take('json', '"explicit"')
const layoutBlock = doc.take('text', 'manifest.json')
const apiBlock = doc.take('ts', 'new EnvironmentManager(')
const rockServerBlock = doc.take('sh', 'luarocks-admin make_manifest')
const fengariBlock = doc.take('ts', "'fengari'")
const installerBlock = doc.take('ts', 'new PackageInstaller(')
const healthSample = doc.take('text', 'UNHEALTHY')
const cliBlock = doc.take('sh', 'bioxen-luavm env create')

let repo: RockRepository
let sandbox: Sandbox
beforeAll(async () => {
  sandbox = makeSandbox()
  repo = await buildRockRepository()
})
afterAll(() => {
  repo?.cleanup()
  sandbox?.cleanup()
})

/** The page's text with `/srv/rocks` pointing at the test's rock directory. */
const withRocks = (text: string) => substitute(text, { '/srv/rocks': repo.dir })

/** The rows of the markdown table whose header row starts with `header`. */
function tableRows(header: string): string[][] {
  const lines = doc.text.split('\n')
  const start = lines.findIndex((l) => l.startsWith(`| ${header} |`))
  expect(start, `a table headed "${header}"`).toBeGreaterThanOrEqual(0)
  const rows: string[][] = []
  for (let i = start + 2; i < lines.length && lines[i]?.startsWith('|'); i++) {
    rows.push(
      (lines[i] as string)
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    )
  }
  return rows
}

const backticked = (cell: string) => [...cell.matchAll(/`([^`]*)`/g)].map((m) => m[1] as string)

/** Runs one ```ts block of the page in a fresh HOME and expects it to finish cleanly. */
async function runBlock(name: string, code: string, extraEnv: (home: string) => Record<string, string> = () => ({})) {
  const home = sandbox.home(name)
  const r = await runProgram(sandbox, name, withRocks(code), {
    cwd: home,
    env: sandbox.env(home, extraEnv(home)),
  })
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  return { ...r, home }
}

const args = (logs: LoggedCall[]) => logs.map((l) => l.args)

describe('docs/packages.md', () => {
  it('the catalog example is a valid catalog, and the tables say what the catalog does', () => {
    const catalog = Catalog.fromJSON(JSON.parse(catalogBlock.code), 'docs/packages.md example')
    expect(catalog.get('bio_compute')).toMatchObject({ category: 'bio', pure: true, priority: 9 })
    for (const p of catalog.profiles()) for (const name of p.packages) expect(catalog.get(name)).toBeDefined()

    // "field | meaning | default": the defaults an entry with only a name gets.
    const bare = Catalog.fromJSON({ version: 1, packages: [{ name: 'x' }], profiles: {} }, 'bare').get('x')
    const rows = tableRows('field')
    expect(rows.flatMap((r) => backticked(r[0] as string)).sort()).toEqual(Object.keys(bare ?? {}).sort())
    const parse = (v: string) => {
      if (v === '[name]') return ['x']
      try {
        return JSON.parse(v)
      } catch {
        return v
      }
    }
    for (const [fields, , defaults] of rows) {
      const names = backticked(fields as string)
      if (defaults === 'required') {
        expect(() => Catalog.fromJSON({ version: 1, packages: [{}], profiles: {} }, 'nameless')).toThrow(/name/)
        continue
      }
      const values = backticked(defaults as string).length ? backticked(defaults as string) : [defaults as string]
      expect(values, `defaults of ${names.join(', ')}`).toHaveLength(names.length)
      names.forEach((name, i) => {
        expect(bare?.[name as keyof typeof bare], `default of ${name}`).toEqual(parse(values[i] as string))
      })
    }

    // "Profiles of the default catalog"
    const profiles = Object.fromEntries(
      Catalog.default()
        .profiles()
        .map((p) => [p.name, p.packages]),
    )
    const documented = Object.fromEntries(
      tableRows('profile').map(([name, packages]) => [
        backticked(name as string)[0],
        (packages as string).split(/,\s*/),
      ]),
    )
    expect(documented).toEqual(profiles)
    // "penlight brings luafilesystem"
    expect(Catalog.default().resolve(['penlight'])).toEqual(['luafilesystem', 'penlight'])
  })

  it('"Making an offline server from rockspecs" makes a server the SDK installs from', async () => {
    const home = sandbox.home('rock-server')
    const srv = join(home, 'srv', 'rocks')
    // The rockspec, with its source pointed at a local tarball (no network).
    const specs = join(home, 'specs')
    const src = join(home, 'src', 'bio_compute-0.1.0-1')
    mkdirSync(specs, { recursive: true })
    mkdirSync(src, { recursive: true })
    cpSync(join(root, 'rocks', 'bio_compute', 'bio_compute.lua'), join(src, 'bio_compute.lua'))
    const tarball = await run(
      'tar',
      ['-czf', join(home, 'src.tar.gz'), '-C', join(home, 'src'), 'bio_compute-0.1.0-1'],
      {
        cwd: home,
        env: sandbox.env(home),
      },
    )
    expect(tarball.code, tarball.stderr).toBe(0)
    const spec = readFileSync(join(root, 'rocks', 'bio_compute', 'bio_compute-0.1.0-1.rockspec'), 'utf8').replace(
      /source\s*=\s*\{[^}]*\}/,
      `source = { url = "file://${home}/src.tar.gz", dir = "bio_compute-0.1.0-1" }`,
    )
    writeFileSync(join(specs, 'bio_compute-0.1.0-1.rockspec'), spec)

    const r = await runShell(substitute(rockServerBlock.code, { '/srv/rocks': srv, '/path/to/': `${specs}/` }), {
      cwd: home,
      env: sandbox.env(home),
    })
    expect(r.failure, r.stderr).toBeUndefined()
    expect(r.code).toBe(0)
    // The comments: what each step writes.
    expect(r.lines[1]?.stdout).toContain(`Packed: ${srv}/bio_compute-0.1.0-1.src.rock`)
    expect(r.lines[4]?.stdout).toContain(`Packed: ${srv}/bio_compute-0.1.0-1.all.rock`)
    expect(readdirSync(srv).sort()).toEqual([
      'bio_compute-0.1.0-1.all.rock',
      'bio_compute-0.1.0-1.src.rock',
      'index.html',
      'manifest',
      'manifest-5.1',
      'manifest-5.2',
      'manifest-5.3',
      'manifest-5.4',
    ])
    // The scratch tree is gone.
    expect(readdirSync(join(home, 'tmp'))).toEqual([])

    // It is a rock server: an environment installs from it, offline.
    const envs = new EnvironmentManager({ root: join(home, 'envs') })
    await envs.create('check', { servers: [srv] })
    const installed = await envs.install('check', 'bio_compute')
    expect(installed).toMatchObject({ name: 'bio_compute', version: '0.1.0-1', modules: ['bio_compute'] })
    expect((await envs.manifest('check')).packages['5.4']?.bio_compute?.source).toBe(
      `${srv}/bio_compute-0.1.0-1.all.rock`,
    )
  })

  it('the EnvironmentManager walk-through runs and prints what its comments say', async () => {
    const r = await runBlock('api', apiBlock.code, (home) => ({ XDG_DATA_HOME: join(home, 'data') }))
    const envDir = join(r.home, 'data', 'bioxen-luavm', 'envs', 'bio')
    const tree = join(envDir, '5.4')
    const logged = args(r.logs)
    expect(logged).toHaveLength(8)
    const [list, packages, paths, rocks] = logged.map((a) => a[0])

    // list(): names, Lua versions, package counts — versioned_mod was removed again.
    expect(list).toEqual([
      expect.objectContaining({
        name: 'bio',
        path: envDir,
        luaVersions: ['5.4'],
        servers: [repo.dir],
        packageCount: { '5.4': 2 },
      }),
    ])
    // "pulls in bio_compute": the manifest records it as a dependency.
    expect(packages).toEqual({
      bio_compute: expect.objectContaining({ version: '0.1.0-1', explicit: false }),
      seq_report: expect.objectContaining({ version: '0.1.0-1', explicit: true }),
    })
    // The manifest example above shows exactly these two rocks.
    const example = JSON.parse(withRocks(manifestBlock.code))
    for (const [name, entry] of Object.entries(example.packages['5.4'] as Record<string, Record<string, unknown>>)) {
      const { installedAt, ...rest } = entry
      expect((packages as Record<string, unknown>)[name], name).toMatchObject(rest)
      expect(Number.isNaN(Date.parse(String(installedAt)))).toBe(false)
    }
    // paths(): the tree first, then ';;'
    expect(paths).toEqual({
      LUA_PATH: `${tree}/share/lua/5.4/?.lua;${tree}/share/lua/5.4/?/init.lua;;`,
      LUA_CPATH: `${tree}/lib/lua/5.4/?.so;;`,
    })
    expect((rocks as Array<{ name: string; version: string }>).map((x) => `${x.name} ${x.version}`)).toEqual([
      'bio_compute 0.1.0-1',
      'seq_report 0.1.0-1',
    ])
    // bootstrapEnvironment: the bio profile in dependency order, one outcome each;
    // the test's rock directory has no dkjson or inspect.
    const profile = Catalog.default().resolve(Catalog.default().profile('bio').packages)
    expect(logged.slice(4, 7)).toEqual(profile.map((name) => [name, name === 'bio_compute' ? 'present' : 'failed']))
    expect(profile).toEqual(['bio_compute', 'dkjson', 'inspect'])
    // formatHealthReport
    expect(logged[7]?.[0]).toMatch(
      new RegExp(
        [
          `^environment bio \\(Lua 5\\.4\\)  ${tree}`,
          '  ok   interpreter  Lua 5\\.4\\.\\d+ \\(/\\S+/lua5\\.4\\)',
          '  ok   luarocks     \\d+\\.\\d+\\.\\d+',
          '  ok   installed    2 rock\\(s\\): bio_compute 0\\.1\\.0-1, seq_report 0\\.1\\.0-1',
          '  FAIL profile      bio: missing dkjson, inspect',
          '  ok   modules      2 load',
          'UNHEALTHY\n$',
        ].join('\n'),
      ),
    )
    // delete(): gone.
    expect(existsSync(envDir)).toBe(false)
  })

  it('the formatHealthReport sample is what a broken environment reports', async () => {
    // The sample's situation: bio_compute and versioned_mod 2.0-1 in ~'s
    // default root, with versioned_mod's file deleted behind luarocks' back.
    const home = sandbox.home('health')
    const envs = new EnvironmentManager({ root: join(home, '.local', 'share', 'bioxen-luavm', 'envs') })
    await envs.create('bio', { servers: [repo.dir] })
    await envs.install('bio', 'bio_compute')
    await envs.install('bio', 'versioned_mod')
    rmSync(join(envs.treeDir('bio', '5.4'), 'share', 'lua', '5.4', 'versioned_mod.lua'))
    const text = formatHealthReport(await envs.checkEnvironmentHealth('bio'))
      .split(home)
      .join('/home/me')
    // Variable parts: Lua's patch release, the interpreter's path, luarocks'
    // version, and the rest of require's message ("...").
    const pattern = healthSample.code
      .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      .replace('Lua 5\\.4\\.4 \\(/usr/bin/lua5\\.4\\)', 'Lua 5\\.4\\.\\d+ \\(/\\S+\\)')
      .replace('3\\.8\\.0', '\\d+\\.\\d+\\.\\d+')
      .replace('\\.\\.\\.\n', '[\\s\\S]*?\n')
    expect(text).toMatch(new RegExp(`^${pattern}$`))
  })

  it('the fengari example installs pure-Lua rocks and refuses a native one', async () => {
    const r = await runBlock('fengari', fengariBlock.code)
    const [values, packages, refused] = args(r.logs)
    expect(values).toEqual([['len=4 gc=0.50 revcomp=GCAT', '1.0']])
    expect(packages?.[0]).toEqual({
      seq_report: expect.objectContaining({ version: '0.1.0-1', explicit: true }),
      bio_compute: expect.objectContaining({ version: '0.1.0-1', explicit: false }),
      versioned_mod: expect.objectContaining({ version: '1.0-1', explicit: true }),
    })
    expect(refused?.[0]).toBe('PackageError')
    expect(refused?.[1]).toMatch(/native_hello.*pure-Lua/)
  })

  it('the PackageInstaller example installs into a VM, one outcome per profile package', async () => {
    const r = await runBlock('installer', installerBlock.code)
    const lines = args(r.logs)
    expect(lines.map((l) => l.slice(0, 2))).toEqual([
      ['bio_compute', 'installed'],
      ['dkjson', 'failed'],
      ['inspect', 'failed'],
    ])
    // A failure carries luarocks' message.
    expect(lines[1]?.[2]).toMatch(/dkjson.*Error: No results matching query/s)
    // The VM's private environment went with it.
    expect(readdirSync(join(r.home, 'tmp'))).toEqual([])
  })

  it('the CLI walk-through runs as shown; its environment matches the manifest and layout above', async () => {
    const home = sandbox.home('cli')
    const r = await runShell(withRocks(cliBlock.code), { cwd: home, env: sandbox.env(home) })
    expect(r.failure, `${r.stdout}\n${r.stderr}`).toBeUndefined()
    expect(r.code).toBe(0)
    const out = (i: number) => `${r.lines[i]?.stdout}${r.lines[i]?.stderr}`
    expect(r.lines.map((l) => l.expectedExit)).toEqual([0, 0, 0, 0, 0, 0, 4, 1])
    expect(out(1)).toMatch(/seq_report/)
    expect(out(3)).toMatch(/\nhealthy\n$/)
    expect(r.lines[4]?.stdout).toBe('len=4 gc=0.50 revcomp=GCAT\n')
    expect(out(5)).toMatch(/bio_compute/)
    expect(out(6)).toMatch(/dkjson/)
    expect(out(6)).toMatch(/inspect/)
    expect(out(7)).toMatch(/missing dkjson, inspect/)

    // The environment is where the page says, with the manifest it shows.
    const envs = join(home, '.local', 'share', 'bioxen-luavm', 'envs')
    const manifest = JSON.parse(readFileSync(join(envs, 'bio', 'manifest.json'), 'utf8'))
    const example = JSON.parse(withRocks(manifestBlock.code))
    expect(Object.keys(manifest).sort()).toEqual(Object.keys(example).sort())
    expect(manifest).toMatchObject({ format: 1, name: 'bio', luaVersions: ['5.4'], servers: [repo.dir] })
    for (const key of ['created', 'updated']) expect(Number.isNaN(Date.parse(manifest[key]))).toBe(false)
    for (const [name, entry] of Object.entries(example.packages['5.4'] as Record<string, Record<string, unknown>>)) {
      const real = manifest.packages['5.4'][name]
      expect(Object.keys(real).sort(), name).toEqual(Object.keys(entry).sort())
      const { installedAt, ...rest } = entry
      expect(real, name).toMatchObject(rest)
    }

    // The layout: add what it shows besides — a native rock and a 5.1 tree.
    const manager = new EnvironmentManager({ root: envs })
    await manager.install('bio', 'native_hello', { servers: [repo.dir] })
    await manager.ensure('bio', { luaVersion: '5.1' })
    const paths: string[] = []
    const stack: string[] = []
    for (const raw of layoutBlock.code.split('\n')) {
      const entry = raw.replace(/<-.*$/, '').trimEnd()
      if (!entry.trim()) continue
      const depth = (/^ */.exec(entry)?.[0].length ?? 0) / 2
      stack.length = depth
      stack.push(entry.trim().replace(/\/(\.\.\.)?$/, ''))
      paths.push(stack.join('/'))
    }
    expect(paths[0]).toBe('envs')
    for (const p of paths) expect(existsSync(join(envs, '..', p)), p).toBe(true)
    // "rocks-5.4/...": something in it.
    expect(readdirSync(join(envs, 'bio', '5.4', 'lib', 'luarocks', 'rocks-5.4')).length).toBeGreaterThan(0)
    expect(paths).toContain('envs/bio/5.4/lib/lua/5.4/native_hello.so')
  })

  it('its TypeScript examples type-check against the published declarations', () => {
    expect(typecheck(sandbox, { api: apiBlock.code, fengari: fengariBlock.code, installer: installerBlock.code })).toBe(
      '',
    )
  })

  it('runs every ts, sh and json block of the page', () => {
    expect(doc.unverified()).toEqual([])
  })
})
