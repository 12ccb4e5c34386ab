import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  target: 'es2022',
  platform: 'node',
  sourcemap: true,
  clean: true,
  // The implementation stays a separate chunk that the descriptor's load() imports on first use.
  splitting: true,
})
