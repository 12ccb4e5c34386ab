import { defineConfig } from 'tsup'

// The shape of the repository's own packages: ESM + CJS + declarations.
export default defineConfig({
  // `index` is the backend (core is its only import); `server` is the runner,
  // a separate entry so that hosts loading the backend never load the wasm backend.
  entry: ['src/index.ts', 'src/server.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  target: 'es2022',
  platform: 'node',
  sourcemap: true,
  clean: true,
  // The VM implementation stays a separate chunk that the descriptor's load() imports on first use.
  splitting: true,
})
