#!/usr/bin/env node
// Runs a TypeScript entry from source with the repo's own toolchain: there
// is no tsx here, so esbuild (a root devDependency) bundles the entry with
// the workspace's `@bioxen-luavm/source` condition into a temporary .mjs,
// which is imported and then deleted.
//
//   node packages/backend-process/bench/run-ts.mjs packages/backend-process/bench/process.bench.ts [args]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const entry = process.argv[2]
if (!entry) {
  console.error('usage: node run-ts.mjs <entry.ts> [args...]')
  process.exit(2)
}
const dir = mkdtempSync(join(tmpdir(), 'luavm-run-'))
const outfile = join(dir, 'entry.mjs')
// The entry may end the process itself (process.exit, a crash), skipping
// `finally`: the bundle must not outlive it either way.
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
try {
  await build({
    entryPoints: [resolve(entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@bioxen-luavm/source'],
    packages: 'bundle',
    external: ['execa'],
    logLevel: 'warning',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  })
  process.argv.splice(2, 1)
  await import(pathToFileURL(outfile).href)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
