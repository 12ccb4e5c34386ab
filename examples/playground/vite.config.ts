import { fileURLToPath } from 'node:url'
import { defaultClientConditions, defineConfig } from 'vite'

// COOP/COEP make the page cross-origin isolated (SharedArrayBuffer), which
// the wasm backend needs for host functions; harmless without them.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
}

// Monorepo wiring only. An app that installs the packages from npm needs
// none of it: Vite picks the `browser` export of @bioxen-luavm/backend-wasm
// by itself. Here core comes from its TypeScript sources (browser-safe) and
// backend-wasm from its built browser bundle (the `dev`/`build` scripts
// build it first), whose worker and glue.wasm Vite emits as assets.
const backendWasm = fileURLToPath(new URL('../../packages/backend-wasm/dist/browser/index.js', import.meta.url))

export default defineConfig({
  base: './',
  resolve: {
    conditions: ['@bioxen-luavm/source', ...defaultClientConditions],
    alias: { '@bioxen-luavm/backend-wasm': backendWasm },
  },
  optimizeDeps: { exclude: ['@bioxen-luavm/backend-wasm', '@bioxen-luavm/core'] },
  server: { headers: isolation },
  preview: { headers: isolation },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
})
