import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Catalog, type CatalogData } from '@bioxen-luavm/core'

// Captured before any test swaps TMPDIR.
const systemTmp = tmpdir()

/**
 * A private temp directory that this test file's process uses as TMPDIR,
 * so "no temp dirs left behind" can be checked exactly (other test files
 * run at the same time and use the real one). Call `leftovers()` after
 * everything stopped; `dispose()` restores TMPDIR and removes it.
 */
export function privateTmp(): { dir: string; leftovers(): string[]; dispose(): void } {
  const previous = process.env.TMPDIR
  const dir = mkdtempSync(join(systemTmp, 'luavm-pkgtest-tmp-'))
  process.env.TMPDIR = dir
  return {
    dir,
    leftovers: () => readdirSync(dir),
    dispose: () => {
      if (previous === undefined) delete process.env.TMPDIR
      else process.env.TMPDIR = previous
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A scratch directory outside the private TMPDIR (roots of environments, CWDs). */
export function scratchDir(label: string): { dir: string; dispose(): void } {
  const dir = mkdtempSync(join(systemTmp, `luavm-pkgtest-${label}-`))
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Catalog JSON of only the fixture rocks the rock repository harness builds (plus two that fail). */
export const fixtureCatalogData: CatalogData = {
  version: 1,
  packages: [
    { name: 'bio_compute', pure: true, priority: 9, category: 'bio', modules: ['bio_compute'] },
    { name: 'seq_report', pure: true, dependencies: ['bio_compute'], modules: ['seq_report'] },
    { name: 'versioned_mod', pure: true, modules: ['versioned_mod'] },
    { name: 'native_hello', pure: false, modules: ['native_hello'] },
    { name: 'not_in_repo', pure: true, modules: ['not_in_repo'] },
    { name: 'needs_missing', pure: true, dependencies: ['not_in_repo'] },
  ],
  profiles: {
    bio: { description: 'fixture bio profile', packages: ['seq_report', 'bio_compute'] },
    native: { packages: ['native_hello', 'bio_compute'] },
    partly_broken: { packages: ['bio_compute', 'needs_missing', 'versioned_mod'] },
  },
}

/** {@link fixtureCatalogData} as a `Catalog`. */
export function fixtureCatalog(): Catalog {
  return Catalog.fromJSON(fixtureCatalogData, 'fixture catalog')
}
