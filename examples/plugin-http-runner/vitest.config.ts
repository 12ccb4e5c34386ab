import { defineConfig } from 'vitest/config'

// For `pnpm test` inside this package. Outside the bioxen-luavm monorepo
// drop `resolve`: @bioxen-luavm/core then comes from its published dist/.
// Inside it, the custom condition points core and backend-wasm at their
// TypeScript sources, so nothing has to be built first.
const source = { conditions: ['@bioxen-luavm/source'] }

export default defineConfig({
  resolve: source,
  ssr: { resolve: source },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
