#!/usr/bin/env node
// Runs a TypeScript bench from sources: bundles it with esbuild (the
// monorepo's dev dependency) and executes it with --expose-gc.
//
//   node packages/backend-wasm/bench/run.mjs million   [runs]
//   node packages/backend-wasm/bench/run.mjs costs
import { spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const [name = 'million', ...args] = process.argv.slice(2)
const outdir = join(here, '..', '.tmp', 'bench')
mkdirSync(outdir, { recursive: true })
const outfile = join(outdir, `${name}.js`)
// The worker entry goes beside the bench: the bundled code looks for
// ./node-worker.js next to itself, as it does in dist/.
await build({
  entryPoints: { [name]: join(here, `${name}.ts`), 'node-worker': join(here, '../src/platform/node-worker.ts') },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir,
  outExtension: { '.js': '.js' },
  conditions: ['@bioxen-luavm/source'],
  external: ['wasmoon', 'fengari', 'esbuild'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
})
const r = spawnSync(process.execPath, ['--expose-gc', outfile, ...args], { stdio: 'inherit' })
process.exit(r.status ?? 1)
