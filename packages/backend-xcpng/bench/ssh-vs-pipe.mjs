#!/usr/bin/env node
// Benchmark: the Lua driver over an SSH exec channel (the xcpng backend's
// transport) versus the same driver over a local pipe (the process
// backend's). Goal: SSH within 3x of the pipe.
//
//   node packages/backend-xcpng/bench/ssh-vs-pipe.mjs [--rounds 5] [--n 1000]
//
// Needs /usr/sbin/sshd and lua5.4; as root it creates (and removes) a
// throwaway /bin/sh user, like the tests. The TypeScript half is bundled on
// the fly with esbuild from the workspace sources.
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const outDir = join(here, '..', 'node_modules', '.cache', 'bench')
mkdirSync(outDir, { recursive: true })
const outfile = join(outDir, `ssh-vs-pipe-${process.pid}.mjs`)
await build({
  entryPoints: [join(here, 'ssh-vs-pipe.bench.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile,
  conditions: ['@bioxen-luavm/source'],
  external: ['ssh2', 'xmlrpc', 'xmlrpc/*', 'effect', 'effect/*', 'cpu-features'],
  logLevel: 'warning',
})
const { main } = await import(pathToFileURL(outfile).href)
await main(process.argv.slice(2))
