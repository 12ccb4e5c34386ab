import { afterEach, describe, expect, it, vi } from 'vitest'
import { ConfigManager } from '../src/config/config-manager.js'
import { BaseLuaVM, type ResolvedExecOptions } from '../src/contract/base-vm.js'
import { checkByteLimit, checkLimits, checkTimeoutMs, MAX_LIMIT_BYTES, MAX_TIMEOUT_MS } from '../src/contract/limits.js'
import type { BackendCapabilities, ExecResult } from '../src/contract/types.js'
import { ConfigError } from '../src/errors/index.js'
import { VMManager } from '../src/manager/vm-manager.js'
import { BackendRegistry } from '../src/registry/backend-registry.js'
import { MAX_TIMER_MS, startTimer } from '../src/util/timer.js'

const BAD_TIMEOUTS: unknown[] = [
  2 ** 31,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.NaN,
  -1,
  0,
  -0.5,
  '100',
  null,
  true,
  {},
  10n,
]
const BAD_BYTES: unknown[] = [
  -1,
  Number.NaN,
  1.5,
  Number.POSITIVE_INFINITY,
  2 ** 53,
  Number.MAX_VALUE,
  '1024',
  null,
  {},
]

describe('checkTimeoutMs', () => {
  it.each(BAD_TIMEOUTS.map((v) => [v]))('refuses %s with a ConfigError naming the option and the value', (value) => {
    const thrown = (() => {
      try {
        checkTimeoutMs(value, 'timeoutMs')
      } catch (error) {
        return error
      }
    })()
    expect(thrown).toBeInstanceOf(ConfigError)
    expect((thrown as Error).message).toMatch(/^timeoutMs must be .* got /)
    const shown = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'object' ? '' : String(value)
    expect((thrown as Error).message).toContain(shown)
  })

  it('takes (0, 2^31 - 1]; a fraction is rounded up to a whole millisecond', () => {
    expect(checkTimeoutMs(1)).toBe(1)
    expect(checkTimeoutMs(MAX_TIMEOUT_MS)).toBe(2 ** 31 - 1)
    expect(checkTimeoutMs(0.001)).toBe(1)
    expect(checkTimeoutMs(1.5)).toBe(2)
    expect(checkTimeoutMs(MAX_TIMEOUT_MS - 0.5)).toBe(MAX_TIMEOUT_MS)
  })
})

describe('checkByteLimit', () => {
  it.each(BAD_BYTES.map((v) => [v]))('refuses %s for both caps', (value) => {
    expect(() => checkByteLimit(value, 'memoryLimitBytes', 1)).toThrow(/^memoryLimitBytes must be a whole number/)
    expect(() => checkByteLimit(value, 'maxOutputBytes', 0)).toThrow(ConfigError)
  })

  it('a memory cap starts at 1 byte, an output cap at 0 (nothing may be printed); both end at 2^53 - 1', () => {
    expect(() => checkByteLimit(0, 'memoryLimitBytes', 1)).toThrow(/from 1 to 9007199254740991, got 0/)
    expect(checkByteLimit(0, 'maxOutputBytes', 0)).toBe(0)
    expect(checkByteLimit(MAX_LIMIT_BYTES, 'maxOutputBytes', 0)).toBe(MAX_LIMIT_BYTES)
  })
})

describe('checkLimits', () => {
  it('checks what is set, drops what is not, prefixes the names', () => {
    expect(checkLimits({ timeoutMs: 2.2, maxOutputBytes: undefined })).toEqual({ timeoutMs: 3 })
    expect(() => checkLimits({ memoryLimitBytes: -1 }, 'limits.')).toThrow(/^limits\.memoryLimitBytes must/)
    expect(() => checkLimits(null as never)).toThrow(ConfigError)
  })
})

const caps: BackendCapabilities = {
  sandboxed: true,
  persistentState: true,
  sessions: true,
  packages: false,
  networking: false,
  memoryLimit: true,
  hardTimeout: false,
  remote: false,
}

class RecordingVM extends BaseLuaVM {
  readonly capabilities = caps
  readonly seen: ResolvedExecOptions[] = []
  protected async doStart(): Promise<void> {}
  protected async doStop(): Promise<void> {}
  protected async runCode(_code: string, options: ResolvedExecOptions): Promise<ExecResult> {
    this.seen.push(options)
    return this.result({ status: 'ok' })
  }
}

describe('one rule wherever a limit is given', () => {
  it('executions and sessions: bad values are ConfigErrors before anything runs', async () => {
    const vm = new RecordingVM({ id: 'r', type: 'rec', config: {} })
    await vm.start()
    for (const timeoutMs of BAD_TIMEOUTS) {
      await expect(vm.execute('x', { timeoutMs: timeoutMs as number })).rejects.toThrow(ConfigError)
      await expect(vm.openSession({ timeoutMs: timeoutMs as number })).rejects.toThrow(ConfigError)
    }
    for (const bytes of BAD_BYTES) {
      await expect(vm.execute('x', { maxOutputBytes: bytes as number })).rejects.toThrow(ConfigError)
      await expect(vm.execute('x', { memoryLimitBytes: bytes as number })).rejects.toThrow(ConfigError)
      await expect(vm.openSession({ maxOutputBytes: bytes as number })).rejects.toThrow(ConfigError)
    }
    await expect(vm.installPackage('p', { timeoutMs: 2 ** 31 })).rejects.toThrow(/^timeoutMs must/)
    expect(vm.seen).toEqual([])
    await vm.execute('x', { timeoutMs: MAX_TIMEOUT_MS, maxOutputBytes: 0, memoryLimitBytes: MAX_LIMIT_BYTES })
    await vm.execute('x', { timeoutMs: 0.25 })
    expect(vm.seen.map((o) => o.timeoutMs)).toEqual([MAX_TIMEOUT_MS, 1])
    await vm.stop()
  })

  it("a VM's default limits are checked when it is made", () => {
    for (const limits of [{ timeoutMs: 2 ** 31 }, { maxOutputBytes: -1 }, { memoryLimitBytes: 0.5 }]) {
      expect(() => new RecordingVM({ id: 'r', type: 'rec', config: {}, limits })).toThrow(/^limits\.\w+ must/)
    }
  })

  it("the manager's limits, a createVM's limits and the config's are checked too", async () => {
    expect(() => new VMManager({ limits: { timeoutMs: Number.POSITIVE_INFINITY } })).toThrow(ConfigError)
    const bad = new ConfigManager({ env: {}, file: { limits: { timeoutMs: 'soon' } }, fileName: 'luavm.json' })
    expect(() => new VMManager({ config: bad })).toThrow(
      /^config file 'luavm\.json': limits\.timeoutMs must be .* got "soon"/,
    )
    expect(bad.validate(new BackendRegistry())).toEqual([expect.stringMatching(/limits\.timeoutMs/)])
    expect(() => new ConfigManager({ env: { LUAVM_TIMEOUT_MS: '2147483648' } }).limits).toThrow(
      /^LUAVM_TIMEOUT_MS must be/,
    )
    expect(() => new ConfigManager({ env: { LUAVM_MAX_OUTPUT_BYTES: '0x10' } }).limits).toThrow(
      /^LUAVM_MAX_OUTPUT_BYTES must/,
    )
    expect(new ConfigManager({ env: { LUAVM_MAX_OUTPUT_BYTES: '0' } }).limits).toEqual({ maxOutputBytes: 0 })
    const registry = new BackendRegistry().register({
      type: 'rec',
      description: 'recording',
      capabilities: caps,
      detect: async () => ({ available: true }),
      load: async () => ({ createVM: (init) => new RecordingVM(init) }),
    })
    const manager = new VMManager({ registry, defaultBackend: 'rec' })
    await expect(manager.createVM('v', { limits: { maxOutputBytes: 2 ** 60 } })).rejects.toThrow(
      /^limits\.maxOutputBytes must/,
    )
    expect(manager.listVMs()).toEqual([])
    await manager.shutdownAll()
  })
})

describe('startTimer', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('waits out a delay longer than setTimeout can hold instead of firing at once', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const fired = vi.fn()
    startTimer(MAX_TIMER_MS + 100, fired)
    vi.advanceTimersByTime(1_000)
    expect(fired).not.toHaveBeenCalled()
    vi.advanceTimersByTime(MAX_TIMER_MS - 1_000)
    expect(fired).not.toHaveBeenCalled()
    vi.advanceTimersByTime(200)
    expect(fired).toHaveBeenCalledTimes(1)
  })

  it('Infinity never fires; cancel() stops a chained timer; NaN and negatives fire on the next turn', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const never = vi.fn()
    startTimer(Number.POSITIVE_INFINITY, never)
    const cancelled = vi.fn()
    startTimer(MAX_TIMER_MS * 2, cancelled).cancel()
    const soon = vi.fn()
    startTimer(Number.NaN, soon)
    startTimer(-5, soon)
    vi.advanceTimersByTime(1)
    expect(soon).toHaveBeenCalledTimes(2)
    vi.advanceTimersByTime(MAX_TIMER_MS * 3)
    expect(never).not.toHaveBeenCalled()
    expect(cancelled).not.toHaveBeenCalled()
  })
})
