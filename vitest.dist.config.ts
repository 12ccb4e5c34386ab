import { defineConfig } from 'vitest/config'

// Runs against what users get: each package's built dist/ (no source
// condition) and the tarballs `pnpm pack` produces.
export default defineConfig({
  test: {
    name: 'dist',
    root: 'test/dist-smoke',
    include: ['**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 240_000,
  },
})
