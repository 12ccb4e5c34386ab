/**
 * Hostile corpus, class "encoding" (guarantees issue, point 3): what a chunk
 * returns, and what it passes to a host function, crosses into the host
 * bounded in values and bytes and within the deadline, whatever its shape.
 * A table referenced twice is encoded twice (JSON has no sharing), so a DAG
 * of twenty levels is a million nodes unless the encoder stops it.
 */
import { createFengariVM, createWasmVM, shutdownWorkers } from '@bioxen-luavm/backend-wasm'
import type { BaseLuaVM } from '@bioxen-luavm/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { guardHost, HOSTILE_KINDS, SANDBOX_KINDS, startVM } from './support/host-guard.js'

// Generous: the suite must pass with both cores busy.
const STALL_MS = 1_000
const HEAP_MB = 64
const MB = 1024 * 1024

afterAll(async () => {
  await shutdownWorkers()
})

const dag = (levels: number, leaf = '{}') => `local t = ${leaf} for i = 1, ${levels} do t = {t, t} end`

describe.each(HOSTILE_KINDS)('encoding results: $name', (kind) => {
  let vm: BaseLuaVM
  beforeAll(async () => {
    vm = await startVM(kind)
  })
  afterAll(async () => {
    await vm?.stop()
  })

  it.each([20, 30])('a DAG %i levels deep is cut at 10000 values, within the deadline', async (levels) => {
    const guard = guardHost()
    const r = await vm.execute(`${dag(levels)} return t`, { timeoutMs: 5_000, echoReturnValues: false })
    const host = guard.stop()
    expect(r.status).toBe('ok')
    expect(r.truncated).toBe(true)
    const json = JSON.stringify(r.values)
    expect(json).toContain('<truncated>')
    expect(json.length).toBeLessThan(MB)
    expect(r.durationMs).toBeLessThan(5_000)
    expect(host.maxLoopDelayMs).toBeLessThan(STALL_MS)
    expect(host.heapGrowthBytes).toBeLessThan(HEAP_MB * MB)
  })

  it('a DAG whose leaves share a 1 MiB string ends output-limit naming its size, not gigabytes', async () => {
    const guard = guardHost()
    const r = await vm.execute(`${dag(30, '{string.rep("x", 2^20)}')} return t`, {
      timeoutMs: 10_000,
      echoReturnValues: false,
    })
    const host = guard.stop()
    expect(r.status).toBe('output-limit')
    expect(r.values).toEqual([])
    expect(r.error?.message).toMatch(
      /returned values too large: at least \d+ bytes as JSON, .*output limit of 8388608 bytes/,
    )
    expect(host.maxLoopDelayMs).toBeLessThan(STALL_MS)
    expect(host.heapGrowthBytes).toBeLessThan(HEAP_MB * MB)
  })

  it('a table with a million small entries is cut, not expanded', async () => {
    // fengari interprets Lua in JavaScript: building the table is what costs.
    const n = kind.type === 'fengari' ? 2e5 : 1e6
    const guard = guardHost()
    const r = await vm.execute(`local t = {} for i = 1, ${n} do t[i] = i end return t`, {
      timeoutMs: 30_000,
      echoReturnValues: false,
    })
    const host = guard.stop()
    expect(r.status).toBe('ok')
    expect(r.truncated).toBe(true)
    const values = r.values[0] as unknown[]
    expect(values.length).toBeLessThanOrEqual(10_001)
    expect(values[values.length - 1]).toBe('<truncated>')
    expect(host.maxLoopDelayMs).toBeLessThan(STALL_MS)
  })

  it('encoding a huge table stops at the deadline (status timeout) and the VM keeps working', async () => {
    // Built by one execution with a long deadline, returned by the next with
    // a short one: only the encoding can run past it.
    const built = await vm.execute('big = {} for i = 1, 2e6 do big[i] = i end', { timeoutMs: 60_000 })
    expect(built.status).toBe('ok')
    const guard = guardHost()
    const r = await vm.execute('return big, big', { timeoutMs: 5, echoReturnValues: false })
    const host = guard.stop()
    expect(r.status).toBe('timeout')
    expect(r.values).toEqual([])
    expect(host.maxLoopDelayMs).toBeLessThan(STALL_MS)
    const after = await vm.execute('big = nil return 1 + 1', { echoReturnValues: false })
    expect(after).toMatchObject({ status: 'ok', values: [2] })
  })

  it('a huge string under a small cap is refused before it is copied', async () => {
    const guard = guardHost()
    const r = await vm.execute('return string.rep("x", 2^24)', { maxOutputBytes: 1024, echoReturnValues: false })
    const host = guard.stop()
    expect(r.status).toBe('output-limit')
    expect(r.error?.message).toContain('output limit of 1024 bytes')
    expect(r.values).toEqual([])
    expect(host.heapGrowthBytes).toBeLessThan(HEAP_MB * MB)
  })

  it('values within the cap still come back whole', async () => {
    const r = await vm.execute('return {a = {1, 2, {x = "y"}}, s = string.rep("z", 100)}', {
      maxOutputBytes: 1024,
      echoReturnValues: false,
    })
    expect(r).toMatchObject({ status: 'ok', truncated: false, values: [{ a: [1, 2, { x: 'y' }], s: 'z'.repeat(100) }] })
  })
})

describe.each(SANDBOX_KINDS)('host-function arguments: $name', (kind) => {
  let vm: BaseLuaVM
  let calls = 0
  beforeAll(async () => {
    const create = kind.type === 'wasm' ? createWasmVM : createFengariVM
    vm = await create({
      isolation: kind.config.isolation,
      hostFunctions: {
        take: () => {
          calls++
          return true
        },
      },
    })
  })
  afterAll(async () => {
    await vm?.stop()
  })

  it.each([20, 30])(
    'a DAG %i levels deep is a Lua error naming the value limit; the host function never runs',
    async (levels) => {
      calls = 0
      const guard = guardHost()
      const r = await vm.execute(`${dag(levels)} local ok, e = pcall(host.take, 1, t) return ok, e`, {
        timeoutMs: 5_000,
        echoReturnValues: false,
      })
      const host = guard.stop()
      expect(r.status).toBe('ok')
      expect(r.values[0]).toBe(false)
      expect(r.values[1]).toMatch(/host\.take: argument 2 goes past the limit of 10000 values/)
      expect(calls).toBe(0)
      expect(host.maxLoopDelayMs).toBeLessThan(STALL_MS)
      expect(host.heapGrowthBytes).toBeLessThan(HEAP_MB * MB)
    },
  )

  it('a shared big string counts once per reference, against maxOutputBytes', async () => {
    calls = 0
    const guard = guardHost()
    const r = await vm.execute(
      'local s = string.rep("x", 2^20) local t = {} for i = 1, 64 do t[i] = s end return pcall(host.take, t)',
      { maxOutputBytes: 4 * MB, echoReturnValues: false },
    )
    const host = guard.stop()
    expect(r.status).toBe('ok')
    expect(r.values[0]).toBe(false)
    expect(r.values[1]).toMatch(/goes past the limit of 4194304 bytes of strings .*maxOutputBytes/)
    expect(calls).toBe(0)
    expect(host.heapGrowthBytes).toBeLessThan(HEAP_MB * MB)
  })

  it('ordinary arguments still pass', async () => {
    calls = 0
    const r = await vm.execute('return host.take({1, 2, {a = "b"}}, "s")', { echoReturnValues: false })
    expect(r).toMatchObject({ status: 'ok', values: [true] })
    expect(calls).toBe(1)
  })
})
