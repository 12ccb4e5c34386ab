import { describe, expect, it } from 'vitest'
import { vmFactory } from './helpers.js'

// wasmoon's own doString leaks one stack slot per call (ceifa/wasmoon#109)
// and crashes after ~60 calls on 1.16.0. Our engines reset the stack after
// every call; this proves it on 20,000 executions (bench/million.ts does a
// million).

const makeVM = vmFactory()
const RUNS = 20_000

describe.each([
  { type: 'wasm', isolation: 'inline' },
  { type: 'wasm', isolation: 'worker' },
  { type: 'fengari', isolation: 'inline' },
] as const)('no leak: $type / $isolation', (combo) => {
  it(`${RUNS} executions keep the Lua stack top constant`, async () => {
    const vm = await makeVM(combo)
    await vm.execute('n = 0')
    const before = (await vm.getStatus()).details ?? {}
    expect(before.stackTop).toBe(0)
    for (let i = 0; i < RUNS; i++) {
      const r = await vm.execute('n = n + 1 return n, "x", {i = n}', { echoReturnValues: false })
      if (r.status !== 'ok' || r.values[0] !== i + 1) {
        throw new Error(`execution ${i} went wrong: ${JSON.stringify(r)}`)
      }
    }
    const after = (await vm.getStatus()).details ?? {}
    expect(after.stackTop, 'stack top after all executions').toBe(0)
    if (combo.type === 'wasm') {
      // The Lua heap stays bounded (garbage is collected; nothing accumulates).
      expect(after.memoryUsedBytes as number).toBeLessThan((before.memoryUsedBytes as number) + 2 * 1024 * 1024)
    }
  }, 120_000)
})
