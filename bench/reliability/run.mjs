#!/usr/bin/env node
// Runs a reliability bench from TypeScript sources: there is no tsx here, so
// esbuild (a root devDependency) bundles the entry with the workspace's
// `@bioxen-luavm/source` condition into bench/.out/reliability/ (git-ignored)
// and runs it with --expose-gc (the soak bench samples heap after a GC).
//
//   node bench/reliability/run.mjs load  [--executions 10000] [--concurrency 64] [--seed N]
//   node bench/reliability/run.mjs fuzz  [--programs 5000] [--seed N]
//   node bench/reliability/run.mjs soak  [--seconds 300]
//
// The bundle sits inside the repo, not in /tmp, so `wasmoon` (kept external:
// the wasm backend resolves glue.wasm next to it) resolves from
// bench/node_modules; backend-wasm's worker is bundled beside the entry as
// node-worker.js, where the bundled code looks for it (as in dist/).
import { spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const [name, ...args] = process.argv.slice(2)
if (!name || !/^[\w-]+$/.test(name)) {
  console.error('usage: node bench/reliability/run.mjs <load|fuzz|soak> [args...]')
  process.exit(2)
}
const outdir = join(here, '..', '.out', 'reliability')
mkdirSync(outdir, { recursive: true })
await build({
  entryPoints: {
    [name]: join(here, `${name}.ts`),
    'node-worker': join(here, '../../packages/backend-wasm/src/platform/node-worker.ts'),
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir,
  outExtension: { '.js': '.js' },
  conditions: ['@bioxen-luavm/source'],
  external: ['wasmoon', 'esbuild'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
})
const r = spawnSync(process.execPath, ['--expose-gc', join(outdir, `${name}.js`), ...args], { stdio: 'inherit' })
process.exit(r.status ?? 1)
