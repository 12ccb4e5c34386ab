import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { packages, root } from './packages.js'

// Imports each package's built entry points directly (ESM and CJS), so a
// broken build fails here even when the tests from source pass.
describe.each(packages)('built $name', ({ folder, exportName }) => {
  const dist = join(root, 'packages', folder, 'dist')

  it('imports as ESM', async () => {
    const mod = await import(pathToFileURL(join(dist, 'index.js')).href)
    expect(mod[exportName]).toBeDefined()
  })

  it('requires as CJS', () => {
    const require = createRequire(join(dist, 'index.cjs'))
    const mod = require(join(dist, 'index.cjs'))
    expect(mod[exportName]).toBeDefined()
  })
})

describe('built core runs Lua through a built backend', () => {
  it('executes on the wasm backend from dist', async () => {
    const core = await import(pathToFileURL(join(root, 'packages/core/dist/index.js')).href)
    const wasm = await import(pathToFileURL(join(root, 'packages/backend-wasm/dist/index.js')).href)
    const registry = new core.BackendRegistry().register(wasm.wasmBackend)
    await using vm = await registry.create('wasm', 'dist-smoke')
    const result = await vm.execute('return 6 * 7')
    expect(result.values).toEqual([42])
    expect(result.stdout).toBe('42\n')
  })
})
