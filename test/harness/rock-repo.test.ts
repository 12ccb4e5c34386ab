import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildRockRepository, type RockRepository } from './rock-repo.js'

// The harness itself must work before package tests can trust it.
describe('offline rock repository harness', () => {
  let repo: RockRepository
  let tree: string
  beforeAll(async () => {
    repo = await buildRockRepository()
    tree = mkdtempSync(join(tmpdir(), 'luavm-tree-'))
  }, 120_000)
  afterAll(() => {
    repo?.cleanup()
    if (tree) rmSync(tree, { recursive: true, force: true })
  })

  it('builds source and all rocks plus a manifest', () => {
    expect(repo.files).toEqual(
      expect.arrayContaining([
        'bio_compute-0.1.0-1.src.rock',
        'bio_compute-0.1.0-1.all.rock',
        'seq_report-0.1.0-1.src.rock',
        'versioned_mod-1.0-1.all.rock',
        'versioned_mod-2.0-1.all.rock',
        'native_hello-0.1.0-1.src.rock',
      ]),
    )
  })

  it('lets real luarocks install from it offline, dependencies included', () => {
    const luarocks = (...args: string[]) =>
      execFileSync('luarocks', ['--lua-version', '5.4', '--tree', tree, `--only-server=${repo.dir}`, ...args], {
        encoding: 'utf8',
      })
    luarocks('install', 'seq_report')
    const list = luarocks('list', '--porcelain')
    expect(list).toMatch(/^bio_compute\t0\.1\.0-1\t/m)
    expect(list).toMatch(/^seq_report\t0\.1\.0-1\t/m)
    const path = execFileSync('luarocks', ['--lua-version', '5.4', '--tree', tree, 'path', '--lr-path'], {
      encoding: 'utf8',
    }).trim()
    const out = execFileSync('lua5.4', ['-e', 'print(require("seq_report").report("ATGC"))'], {
      env: { ...process.env, LUA_PATH: `${path};;` },
      encoding: 'utf8',
    })
    expect(out).toBe('len=4 gc=0.50 revcomp=GCAT\n')
  })
})
