import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  target: 'es2022',
  platform: 'node',
  sourcemap: true,
  clean: true,
  // The descriptor must stay cheap to import: the implementation behind
  // `import('./impl/index.js')` (XAPI client, ssh2, effect) becomes its own
  // chunk, loaded on the first VM.
  splitting: true,
})
