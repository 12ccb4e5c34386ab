import { defineConfig } from 'vitest/config'

// Tests run from TypeScript sources: the custom condition points every
// workspace package at its src/ (see each package.json's exports map).
const source = {
  resolve: { conditions: ['@bioxen-luavm/source'] },
  ssr: { resolve: { conditions: ['@bioxen-luavm/source'] } },
}

export default defineConfig({
  ...source,
  test: {
    projects: [
      { extends: true, test: { name: 'core', root: 'packages/core', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'backend-wasm', root: 'packages/backend-wasm', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'backend-process', root: 'packages/backend-process', include: ['test/**/*.test.ts'] },
      },
      {
        extends: true,
        test: { name: 'backend-xcpng', root: 'packages/backend-xcpng', include: ['test/**/*.test.ts'] },
      },
      { extends: true, test: { name: 'cli', root: 'packages/cli', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          root: 'test',
          include: ['**/*.test.ts'],
          exclude: ['**/node_modules/**', 'dist-smoke/**'],
        },
      },
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    passWithNoTests: false,
  },
})
