import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const repoRoot = join(import.meta.dirname, '..', '..')

/** A local rock server built at test time: a directory with rocks and a luarocks manifest. */
export interface RockRepository {
  /** Directory to pass as a rock server (`--only-server=<dir>`). */
  dir: string
  /** Rock files by name, e.g. `bio_compute-0.1.0-1.src.rock`. */
  files: string[]
  /** Removes everything the builder made. */
  cleanup(): void
}

// Every fixture: its folder and rockspec. bio_compute is the real library.
const fixtures = [
  { folder: join(repoRoot, 'rocks', 'bio_compute'), rockspec: 'bio_compute-0.1.0-1.rockspec' },
  { folder: join(repoRoot, 'test', 'fixtures', 'rocks', 'seq_report'), rockspec: 'seq_report-0.1.0-1.rockspec' },
  {
    folder: join(repoRoot, 'test', 'fixtures', 'rocks', 'versioned_mod-1.0'),
    rockspec: 'versioned_mod-1.0-1.rockspec',
  },
  {
    folder: join(repoRoot, 'test', 'fixtures', 'rocks', 'versioned_mod-2.0'),
    rockspec: 'versioned_mod-2.0-1.rockspec',
  },
  { folder: join(repoRoot, 'test', 'fixtures', 'rocks', 'native_hello'), rockspec: 'native_hello-0.1.0-1.rockspec' },
]

/**
 * Builds an offline rock repository with real luarocks: for each fixture a
 * source tarball, a rockspec pointing at it (`file://`), a `.src.rock`
 * (`luarocks pack`) and, for pure-Lua rocks, an `.all.rock`; then
 * `luarocks-admin make_manifest`. Nothing touches the network.
 */
export async function buildRockRepository(): Promise<RockRepository> {
  const work = mkdtempSync(join(tmpdir(), 'luavm-rocks-'))
  const dir = join(work, 'repo')
  mkdirSync(dir)
  try {
    for (const { folder, rockspec } of fixtures) {
      const name = rockspec.replace(/\.rockspec$/, '')
      const src = join(work, 'src', name)
      mkdirSync(src, { recursive: true })
      for (const f of readdirSync(folder)) {
        if (!f.endsWith('.rockspec')) cpSync(join(folder, f), join(src, f), { recursive: true })
      }
      const tarball = join(work, `${name}.tar.gz`)
      await run('tar', ['-czf', tarball, '-C', join(work, 'src'), name])
      const spec = readFileSync(join(folder, rockspec), 'utf8').replace(
        /source\s*=\s*\{[^}]*\}/,
        `source = { url = "file://${tarball}", dir = "${name}" }`,
      )
      const specPath = join(work, rockspec)
      writeFileSync(specPath, spec)
      await run('luarocks', ['--lua-version', '5.4', 'pack', specPath], { cwd: dir })
      if (!rockspec.startsWith('native_')) {
        // An .all.rock holds the installed layout (lua/<module>.lua), which the
        // WASM installer can mount directly.
        const tree = join(work, 'tree', name)
        await run('luarocks', [
          '--lua-version',
          '5.4',
          '--tree',
          tree,
          'install',
          '--deps-mode=none',
          join(dir, `${name}.src.rock`),
        ])
        await run('luarocks', ['--lua-version', '5.4', '--tree', tree, 'pack', name.replace(/-[^-]+-\d+$/, '')], {
          cwd: dir,
        })
      }
    }
    await run('luarocks-admin', ['--lua-version', '5.4', 'make_manifest', dir])
  } catch (error) {
    rmSync(work, { recursive: true, force: true })
    throw error
  }
  return {
    dir,
    files: readdirSync(dir).filter((f) => f.endsWith('.rock')),
    cleanup: () => rmSync(work, { recursive: true, force: true }),
  }
}

/** The fixture rockspec names, for tests that check what was built. */
export const fixtureRocks = fixtures.map((f) => basename(f.rockspec, '.rockspec'))
