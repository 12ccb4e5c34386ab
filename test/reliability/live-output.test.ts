import type { BaseLuaVM } from '@bioxen-luavm/core'
import { afterEach, describe, expect, it } from 'vitest'
import { HOSTILE_KINDS, startVM } from '../hostile/support/host-guard.js'

// Output reaches onStdout as it is written, not when the chunk ends: a chunk
// that prints, computes for ~1.5 s and prints again delivers its first line
// long before its result. Worker and process modes post it within tens of
// milliseconds; inline mode runs Lua on the caller's thread, where "live"
// means onStdout is called synchronously from the write's flush (still
// before the chunk goes on computing).

const PRINT_THEN_COMPUTE = `
print("first")
io.stdout:flush()
local t = os.clock()
while os.clock() - t < 1.5 do end
print("last")
`

let vm: BaseLuaVM | undefined
afterEach(async () => {
  await vm?.stop()
  vm = undefined
})

describe.each(HOSTILE_KINDS)('live output: $name', (kind) => {
  it('the first line reaches onStdout well before the result', async () => {
    vm = await startVM(kind)
    const arrivals: Array<{ at: number; text: string }> = []
    const r = await vm.execute(PRINT_THEN_COMPUTE, {
      timeoutMs: 30_000,
      onStdout: (text) => arrivals.push({ at: performance.now(), text }),
    })
    const done = performance.now()
    expect(r.status).toBe('ok')
    expect(arrivals.map((a) => a.text).join('')).toBe('first\nlast\n')
    const first = arrivals[0]
    expect(first?.text.startsWith('first')).toBe(true)
    expect(first?.text, 'the first delivery holds only the early line').not.toContain('last')
    expect(done - (first?.at ?? done), 'ms between the first output and the result').toBeGreaterThanOrEqual(500)
  }, 60_000)
})
