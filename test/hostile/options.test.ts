import { processBackend } from '@bioxen-luavm/backend-process'
import { fengariBackend, wasmBackend } from '@bioxen-luavm/backend-wasm'
import { BackendRegistry, type BaseLuaVM, ConfigError, MAX_LIMIT_BYTES, MAX_TIMEOUT_MS } from '@bioxen-luavm/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { guardHost, HOSTILE_KINDS, startVM } from './support/host-guard.js'

// Option values are checked once, in core, by one rule on every backend:
// a bad one is a ConfigError naming the option, before anything runs.
const BAD_TIMEOUTS: unknown[] = [2 ** 31, 2 ** 53, Infinity, -Infinity, NaN, -1, 0, '1000', null, {}]
const BAD_BYTES: unknown[] = [-1, NaN, 1.5, Infinity, 2 ** 53, '1024', {}]

const registry = new BackendRegistry().register(processBackend).register(wasmBackend).register(fengariBackend)

describe.each(HOSTILE_KINDS)('option values on $name', (kind) => {
  let vm: BaseLuaVM
  beforeAll(async () => {
    vm = await startVM(kind)
  })
  afterAll(() => vm?.stop())

  // Each refused call would bump `ran` had it run.
  const code = 'ran = (ran or 0) + 1 return ran'
  const ranCount = async () => (await vm.execute('return ran or 0')).values[0]

  it.each([
    ...BAD_TIMEOUTS.map((v) => ['timeoutMs', v] as const),
    ...BAD_BYTES.map((v) => ['maxOutputBytes', v] as const),
    ...BAD_BYTES.map((v) => ['memoryLimitBytes', v] as const),
  ])('execute with %s = %s is a ConfigError naming it; nothing runs', async (option, value) => {
    const before = await ranCount()
    const refused = vm.execute(code, { [option]: value as number })
    await expect(refused).rejects.toBeInstanceOf(ConfigError)
    await expect(refused).rejects.toThrow(new RegExp(`^${option} must be`))
    expect(await ranCount()).toBe(before)
  })

  it.each([
    ...BAD_TIMEOUTS.map((v) => ['timeoutMs', v] as const),
    ...BAD_BYTES.map((v) => ['maxOutputBytes', v] as const),
  ])('openSession with %s = %s is a ConfigError', async (option, value) => {
    await expect(vm.openSession({ [option]: value as number })).rejects.toThrow(new RegExp(`^${option} must be`))
  })

  it.each([
    ['timeoutMs', { timeoutMs: 2 ** 31 }],
    ['timeoutMs', { timeoutMs: Infinity }],
    ['maxOutputBytes', { maxOutputBytes: -1 }],
    ['memoryLimitBytes', { memoryLimitBytes: 0.5 }],
  ])('default limits with a bad %s are refused when the VM is made', async (option, limits) => {
    const made = registry.create(kind.type, undefined, { ...kind.config }, { autoStart: false, limits })
    await expect(made).rejects.toThrow(new RegExp(`^limits\\.${option} must be`))
  })

  it('the largest deadline, 2^31 - 1 ms, works: no timer fires at once, the chunk runs to its end', async () => {
    const guard = guardHost()
    // 300 ms of work: a deadline timer that overflowed would have fired long before.
    const r = await vm.execute('local t = os.clock() while os.clock() - t < 0.3 do end return "done"', {
      timeoutMs: MAX_TIMEOUT_MS,
    })
    expect(r.status, JSON.stringify(r.error)).toBe('ok')
    expect(r.values).toEqual(['done'])
    const fractional = await vm.execute('return 1', { timeoutMs: 999.5 })
    expect(fractional.status).toBe('ok')
    expect(guard.stop().maxLoopDelayMs).toBeLessThan(1_000)
  })

  it('the largest byte caps work', async () => {
    const r = await vm.execute('print("hi")', {
      maxOutputBytes: MAX_LIMIT_BYTES,
      ...(vm.capabilities.memoryLimit ? { memoryLimitBytes: MAX_LIMIT_BYTES } : {}),
    })
    expect(r.status, JSON.stringify(r.error)).toBe('ok')
    expect(r.stdout).toBe('hi\n')
    const silent = await vm.execute('print("hi")', { maxOutputBytes: 0 })
    expect(silent).toMatchObject({ status: 'output-limit', stdout: '', truncated: true })
  })
})
