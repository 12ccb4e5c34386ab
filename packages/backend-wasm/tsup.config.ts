import { copyFileSync, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Plugin } from 'esbuild'
import { defineConfig } from 'tsup'

const require = createRequire(import.meta.url)

// wasmoon and fengari require Node built-ins (fs, child_process, ...) on
// code paths that never run in a browser. The browser build bundles both
// with those imports replaced by empty modules, so no Node built-in reaches
// a host app's bundle and its bundler has nothing to warn about.
const NODE_ONLY = /^(node:)?(fs|path|os|url|module|child_process|crypto|worker_threads)$|^(tmp|readline-sync)$/
// fengari reads process.env.FENGARICONF when it loads (its other uses of
// `process` are guarded): without this, a page that loads fengari fails
// with "process is not defined" wherever the bundler does not define it.
const define = { 'process.env.FENGARICONF': 'undefined' }

const stubNodeBuiltins: Plugin = {
  name: 'stub-node-builtins',
  setup(build) {
    build.onResolve({ filter: NODE_ONLY }, (args) => ({ path: args.path, namespace: 'node-stub' }))
    build.onLoad({ filter: /.*/, namespace: 'node-stub' }, () => ({ contents: 'module.exports = {}', loader: 'js' }))
  },
}

export default defineConfig([
  {
    // Node: ESM + CJS. Engines, platform and implementation are lazy chunks.
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    target: 'node20',
    platform: 'node',
    sourcemap: true,
    splitting: true,
    shims: true,
    external: ['esbuild'],
  },
  {
    // The worker_threads entry, next to the chunk that starts it (dist/node-worker.js).
    entry: { 'node-worker': 'src/platform/node-worker.ts' },
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    sourcemap: true,
    splitting: false,
  },
  {
    // Browsers: its own directory so `new URL('./wasm-worker.js' |
    // './fengari-worker.js' | './glue.wasm', import.meta.url)` resolve to
    // files shipped beside it.
    entry: { index: 'src/index.browser.ts' },
    outDir: 'dist/browser',
    format: ['esm'],
    target: 'es2022',
    platform: 'browser',
    splitting: true,
    noExternal: ['wasmoon', 'fengari'],
    external: ['@bioxen-luavm/core'],
    esbuildPlugins: [stubNodeBuiltins],
    define,
    onSuccess: async () => {
      mkdirSync('dist/browser', { recursive: true })
      copyFileSync(require.resolve('wasmoon/dist/glue.wasm'), 'dist/browser/glue.wasm')
    },
  },
  {
    // The Web Workers, one per engine: each a self-contained file (no
    // chunks, no dynamic imports), so bundlers can emit it with their
    // default worker format, and a page downloads only its engine.
    entry: { 'wasm-worker': 'src/platform/wasm-worker.ts', 'fengari-worker': 'src/platform/fengari-worker.ts' },
    outDir: 'dist/browser',
    format: ['esm'],
    target: 'es2022',
    platform: 'browser',
    splitting: false,
    // Core too (it is browser-safe): a worker script imports nothing, so it
    // runs as it is when copied by hand next to an esbuild bundle.
    noExternal: ['wasmoon', 'fengari', '@bioxen-luavm/core'],
    esbuildPlugins: [stubNodeBuiltins],
    define,
  },
])
