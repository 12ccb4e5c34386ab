import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { lowerInitialMemory } from '../src/initial-memory.js'
import { brief, vmFactory } from './helpers.js'

const require = createRequire(import.meta.url)
const glue = () => new Uint8Array(readFileSync(require.resolve('wasmoon/dist/glue.wasm')))
const makeVM = vmFactory()

/** The memory a module defines: [min pages, max pages], read from a fresh instance-free parse. */
function memoryLimits(bytes: Uint8Array): [number, number | undefined] {
  let p = 8
  const leb = () => {
    let r = 0
    let s = 0
    let b: number
    do {
      b = bytes[p++] as number
      r += (b & 0x7f) * 2 ** s
      s += 7
    } while (b & 0x80)
    return r
  }
  while (p < bytes.length) {
    const id = bytes[p++]
    const size = leb()
    const end = p + size
    if (id === 5) {
      leb()
      const flags = bytes[p++] as number
      const min = leb()
      return [min, flags & 1 ? leb() : undefined]
    }
    p = end
  }
  throw new Error('no memory section')
}

describe('lowerInitialMemory', () => {
  it("lowers glue.wasm's 16 MiB minimum and keeps its maximum", async () => {
    const original = glue()
    const lowered = lowerInitialMemory(original)
    const [min, max] = memoryLimits(lowered)
    expect(memoryLimits(original)).toEqual([256, max])
    expect(min).toBeLessThanOrEqual(48)
    // Static data and the C stack (~1.03 MiB) must still fit.
    expect(min * 65536).toBeGreaterThan(1_100_000)
    const module = await WebAssembly.compile(lowered)
    expect(WebAssembly.Module.exports(module).length).toBe(
      WebAssembly.Module.exports(await WebAssembly.compile(original)).length,
    )
  })

  it('leaves modules it cannot or need not change as they are', () => {
    const noMemory = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])
    expect(lowerInitialMemory(noMemory)).toBe(noMemory)
    // One memory of 1 page, nothing to lower.
    const small = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01])
    expect(lowerInitialMemory(small)).toBe(small)
    const garbage = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x7f, 0x01])
    expect(lowerInitialMemory(garbage)).toBe(garbage)
  })
})

describe('a wasm VM on the lowered module', () => {
  it('starts small and grows its memory on demand', async () => {
    const vm = await makeVM({ type: 'wasm', isolation: 'inline' }, { memoryLimitBytes: 256 * 1024 * 1024 })
    const before = (await vm.getStatus()).details?.wasmHeapBytes as number
    expect(before).toBeLessThanOrEqual(4 * 1024 * 1024)
    const r = await vm.execute('local t = {} for i = 1, 2e5 do t[i] = ("x"):rep(100) .. i end return #t')
    expect(r.values, brief(r)).toEqual([200000])
    const after = (await vm.getStatus()).details?.wasmHeapBytes as number
    expect(after).toBeGreaterThan(16 * 1024 * 1024)
  })
})
