import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { packages, root } from './packages.js'

// Packs every package the way `pnpm publish` would, checks each tarball
// holds only what users need, installs them into a scratch project and
// imports each one from ESM and from CJS.
let work: string
const tarballs = new Map<string, string>()

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'luavm-pack-'))
  for (const { folder, name } of packages) {
    execFileSync('pnpm', ['pack', '--pack-destination', work], {
      cwd: join(root, 'packages', folder),
      stdio: 'pipe',
    })
    const file = readdirSync(work).find(
      (f) => f.startsWith(name.replace('@', '').replace('/', '-')) && f.endsWith('.tgz'),
    )
    if (!file) throw new Error(`pnpm pack made no tarball for ${name}`)
    tarballs.set(name, join(work, file))
  }
})

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true })
})

describe.each(packages)('tarball of $name', ({ name }) => {
  it('holds only dist, docs and metadata — no sources, tests or fixtures', () => {
    const files = execFileSync('tar', ['-tzf', tarballs.get(name) as string], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((f) => f.replace(/^package\//, ''))
    expect(files).toContain('package.json')
    expect(files).toContain('README.md')
    expect(files.some((f) => f.startsWith('dist/'))).toBe(true)
    const unwanted = files.filter((f) => /(^|\/)(test|tests|fixtures|src|node_modules)\//.test(f) || /\.test\./.test(f))
    expect(unwanted).toEqual([])
  })
})

describe('installed from tarballs', () => {
  let project: string
  beforeAll(() => {
    project = join(work, 'scratch')
    mkdirSync(project)
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }))
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', ...tarballs.values()], {
      cwd: project,
      stdio: 'pipe',
    })
  })

  it.each(packages)('$name imports from ESM and CJS', ({ name, exportName }) => {
    const esm = execFileSync(
      'node',
      ['--input-type=module', '-e', `const m = await import('${name}'); console.log(typeof m.${exportName})`],
      {
        cwd: project,
        encoding: 'utf8',
      },
    )
    expect(esm.trim()).not.toBe('undefined')
    const cjs = execFileSync('node', ['-e', `console.log(typeof require('${name}').${exportName})`], {
      cwd: project,
      encoding: 'utf8',
    })
    expect(cjs.trim()).not.toBe('undefined')
  })

  it('runs Lua through the installed CLI on the default backend', () => {
    const out = execFileSync(join(project, 'node_modules/.bin/bioxen-luavm'), ['run', '-e', 'print(("ab"):rep(3))'], {
      cwd: project,
      encoding: 'utf8',
    })
    expect(out).toBe('ababab\n')
  })
})
