import { describe, expect, it } from 'vitest'
import { BaseLuaVM, type ResolvedExecOptions } from '../src/contract/base-vm.js'
import type { BackendCapabilities, ExecResult, VMState } from '../src/contract/types.js'
import { canTransition } from '../src/contract/vm-state.js'
import {
  BackendUnavailableError,
  ConfigError,
  ExecutionKilledError,
  InvalidArgumentError,
  LuaRuntimeError,
  LuaSyntaxError,
  OutputLimitError,
  PackageError,
  VMStateError,
  VMTimeoutError,
} from '../src/errors/index.js'

const caps: BackendCapabilities = {
  sandboxed: true,
  persistentState: true,
  sessions: true,
  packages: false,
  networking: false,
  memoryLimit: false,
  hardTimeout: false,
  remote: false,
}

interface Deferred<T> {
  promise: Promise<T>
  resolve(value: T): void
  reject(error: unknown): void
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/**
 * An in-memory backend whose executions finish only when the test says so,
 * so queueing and state changes are observable without timing.
 */
class ScriptedVM extends BaseLuaVM {
  readonly capabilities = caps
  readonly ran: string[] = []
  readonly seen: ResolvedExecOptions[] = []
  readonly gates = new Map<string, Deferred<void>>()
  failStart = false
  failStop = false

  constructor(id = 'scripted') {
    super({ id, type: 'scripted', config: {}, limits: { timeoutMs: 1234 } })
  }
  protected async doStart(): Promise<void> {
    if (this.failStart) throw new BackendUnavailableError('cannot start: scripted failure')
    this.setLuaVersion('Lua 5.4')
  }
  protected async doStop(): Promise<void> {
    if (this.failStop) throw new Error('stop failed')
  }
  protected async runCode(code: string, options: ResolvedExecOptions): Promise<ExecResult> {
    this.ran.push(code)
    this.seen.push(options)
    const gate = this.gates.get(code)
    if (gate) await gate.promise
    if (code.startsWith('status:')) return this.result({ status: code.slice(7) as ExecResult['status'] })
    if (code === 'syntax')
      return this.result({ status: 'error', error: { message: 'chunk:1: bad', kind: 'syntax', line: 1 } })
    if (code === 'runtime')
      return this.result({ status: 'error', error: { message: 'chunk:2: boom', kind: 'runtime', line: 2 } })
    return this.result({ status: 'ok', stdout: `${code}\n` })
  }
  fail(): void {
    this.markFailed()
  }
}

describe('BaseLuaVM lifecycle', () => {
  it('moves created → starting → running → stopping → stopped and reports each change', async () => {
    const vm = new ScriptedVM()
    const states: VMState[] = []
    vm.onStateChange((s) => states.push(s))
    expect(vm.state).toBe('created')
    await vm.start()
    await vm.stop()
    expect(states).toEqual(['starting', 'running', 'stopping', 'stopped'])
    expect(vm.state).toBe('stopped')
  })

  it('rejects execute before start and after stop with VMStateError naming the VM', async () => {
    const vm = new ScriptedVM('vm-x')
    await expect(vm.execute('a')).rejects.toThrow(VMStateError)
    await expect(vm.execute('a')).rejects.toThrow(/vm-x.*start\(\)/)
    await vm.start()
    await vm.stop()
    const error = await vm.execute('a').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(VMStateError)
    expect((error as VMStateError)._tag).toBe('VMStateError')
  })

  it('start is idempotent while running; stop is idempotent; a stopped VM can start again', async () => {
    const vm = new ScriptedVM()
    await vm.start()
    await vm.start()
    expect(vm.state).toBe('running')
    await Promise.all([vm.stop(), vm.stop()])
    await vm.stop()
    expect(vm.state).toBe('stopped')
    await vm.start()
    expect((await vm.execute('again')).stdout).toBe('again\n')
    await vm.stop()
  })

  it('a failed start leaves the VM failed and rethrows', async () => {
    const vm = new ScriptedVM()
    vm.failStart = true
    await expect(vm.start()).rejects.toThrow(BackendUnavailableError)
    expect(vm.state).toBe('failed')
    await expect(vm.execute('a')).rejects.toThrow(VMStateError)
    vm.failStart = false
    await vm.start()
    expect(vm.state).toBe('running')
    await vm.stop()
  })

  it('a failing doStop still ends stopped', async () => {
    const vm = new ScriptedVM()
    await vm.start()
    vm.failStop = true
    await expect(vm.stop()).rejects.toThrow('stop failed')
    expect(vm.state).toBe('stopped')
  })

  it('markFailed moves a running VM to failed', async () => {
    const vm = new ScriptedVM()
    await vm.start()
    vm.fail()
    expect(vm.state).toBe('failed')
    await vm.stop()
    expect(vm.state).toBe('stopped')
  })

  it('illegal transitions are refused', () => {
    expect(canTransition('created', 'running')).toBe(false)
    expect(canTransition('stopped', 'running')).toBe(false)
    expect(canTransition('running', 'starting')).toBe(false)
    expect(canTransition('running', 'stopping')).toBe(true)
    expect(canTransition('failed', 'starting')).toBe(true)
  })

  it('await using stops the VM', async () => {
    const outer = new ScriptedVM()
    {
      await using vm = outer
      await vm.start()
      expect(vm.state).toBe('running')
    }
    expect(outer.state).toBe('stopped')
  })

  it('a throwing state listener does not break the lifecycle', async () => {
    const vm = new ScriptedVM()
    vm.onStateChange(() => {
      throw new Error('listener bug')
    })
    await vm.start()
    expect(vm.state).toBe('running')
    await vm.stop()
  })
})

describe('BaseLuaVM options', () => {
  it('rejects empty or non-string code with InvalidArgumentError', async () => {
    const vm = new ScriptedVM()
    await vm.start()
    await expect(vm.execute('')).rejects.toThrow(InvalidArgumentError)
    await expect(vm.execute(' \n\t ')).rejects.toThrow(InvalidArgumentError)
    await expect(vm.execute(42 as unknown as string)).rejects.toThrow(InvalidArgumentError)
    expect(vm.ran).toEqual([])
    await vm.stop()
  })

  it('rejects bad limits and chunk names, naming the option', async () => {
    const vm = new ScriptedVM()
    await vm.start()
    await expect(vm.execute('a', { timeoutMs: 0 })).rejects.toThrow(/timeoutMs/)
    await expect(vm.execute('a', { timeoutMs: -5 })).rejects.toThrow(ConfigError)
    await expect(vm.execute('a', { timeoutMs: Number.NaN })).rejects.toThrow(/timeoutMs/)
    await expect(vm.execute('a', { maxOutputBytes: -1 })).rejects.toThrow(/maxOutputBytes/)
    await expect(vm.execute('a', { memoryLimitBytes: 0 })).rejects.toThrow(/memoryLimitBytes/)
    await expect(vm.execute('a', { chunkName: 'two\nlines' })).rejects.toThrow(/chunkName/)
    await expect(vm.execute('a', { chunkName: 'x'.repeat(201) })).rejects.toThrow(/chunkName/)
    expect(vm.ran).toEqual([])
    await vm.stop()
  })

  it('fills defaults from the VM limits and passes explicit options through', async () => {
    const vm = new ScriptedVM()
    await vm.start()
    await vm.execute('a')
    await vm.execute('b', { timeoutMs: 50, maxOutputBytes: 0, chunkName: 'x.lua', echoReturnValues: false, repl: true })
    const [first, second] = vm.seen
    expect(first).toMatchObject({
      timeoutMs: 1234,
      maxOutputBytes: 8 * 1024 * 1024,
      chunkName: 'chunk',
      echoReturnValues: true,
      repl: false,
    })
    expect(second).toMatchObject({
      timeoutMs: 50,
      maxOutputBytes: 0,
      chunkName: 'x.lua',
      echoReturnValues: false,
      repl: true,
    })
    await vm.stop()
  })

  it('rejects an empty VM id', () => {
    expect(() => new ScriptedVM('  ')).toThrow(InvalidArgumentError)
  })

  it('fills result fields: success, exitCode, backend, luaVersion', async () => {
    const vm = new ScriptedVM()
    await vm.start()
    const ok = await vm.execute('x')
    expect(ok).toMatchObject({ status: 'ok', success: true, exitCode: 0, backend: 'scripted', luaVersion: 'Lua 5.4' })
    const err = await vm.execute('runtime')
    expect(err).toMatchObject({ status: 'error', success: false, exitCode: 1 })
    const timeout = await vm.execute('status:timeout')
    expect(timeout).toMatchObject({ status: 'timeout', success: false, exitCode: 3 })
    await vm.stop()
  })

  it('throwOnError turns each non-ok status into its typed error', async () => {
    const vm = new ScriptedVM()
    await vm.start()
    await expect(vm.execute('x', { throwOnError: true })).resolves.toMatchObject({ status: 'ok' })
    await expect(vm.execute('syntax', { throwOnError: true })).rejects.toBeInstanceOf(LuaSyntaxError)
    const runtime = await vm.execute('runtime', { throwOnError: true }).catch((e: unknown) => e)
    expect(runtime).toBeInstanceOf(LuaRuntimeError)
    expect((runtime as LuaRuntimeError).line).toBe(2)
    await expect(vm.execute('status:timeout', { throwOnError: true })).rejects.toBeInstanceOf(VMTimeoutError)
    await expect(vm.execute('status:output-limit', { throwOnError: true })).rejects.toBeInstanceOf(OutputLimitError)
    await expect(vm.execute('status:killed', { throwOnError: true })).rejects.toBeInstanceOf(ExecutionKilledError)
    await vm.stop()
  })

  it('a memory cap the backend cannot enforce is refused, never dropped', async () => {
    const vm = new ScriptedVM() // capabilities.memoryLimit is false
    await vm.start()
    const refused = vm.execute('x', { memoryLimitBytes: 1 << 25 })
    await expect(refused).rejects.toBeInstanceOf(ConfigError)
    await expect(refused).rejects.toThrow(/memoryLimitBytes was asked for, but backend 'scripted' cannot enforce/)
    expect(vm.ran, 'the execution never reached runCode').toEqual([])
    await vm.stop()

    class CappedByDefault extends ScriptedVM {
      constructor() {
        super('capped')
        this.limits.memoryLimitBytes = 1 << 25
      }
    }
    const capped = new CappedByDefault()
    const startFailure = capped.start()
    await expect(startFailure).rejects.toThrow(/VM 'capped' has a default memoryLimitBytes, but backend/)
    expect(capped.state, 'refused before doStart: nothing to clean up').toBe('created')
  })

  it('installPackage and executeFile say the backend cannot do them', async () => {
    const vm = new ScriptedVM()
    await vm.start()
    await expect(vm.installPackage('lpeg')).rejects.toThrow(PackageError)
    await expect(vm.executeFile('/tmp/x.lua')).rejects.toThrow(BackendUnavailableError)
    await vm.stop()
  })
})

describe('BaseLuaVM queueing', () => {
  it('runs executions one at a time in arrival order', async () => {
    const vm = new ScriptedVM()
    await vm.start()
    const gate = deferred<void>()
    vm.gates.set('first', gate)
    const first = vm.execute('first')
    const second = vm.execute('second')
    await Promise.resolve()
    await Promise.resolve()
    expect(vm.ran).toEqual(['first'])
    expect((await vm.getStatus()).running).toBe(2)
    gate.resolve()
    expect((await first).stdout).toBe('first\n')
    expect((await second).stdout).toBe('second\n')
    expect(vm.ran).toEqual(['first', 'second'])
    await vm.stop()
  })

  it('an execution aborted while queued resolves killed without running', async () => {
    const vm = new ScriptedVM()
    await vm.start()
    const gate = deferred<void>()
    vm.gates.set('busy', gate)
    const busy = vm.execute('busy')
    const controller = new AbortController()
    const queued = vm.execute('never', { signal: controller.signal })
    controller.abort()
    const result = await queued
    expect(result.status).toBe('killed')
    expect(result.exitCode).toBe(3)
    gate.resolve()
    await busy
    expect(vm.ran).toEqual(['busy'])
    await vm.stop()
  })

  it('an already-aborted signal resolves killed at once', async () => {
    const vm = new ScriptedVM()
    await vm.start()
    const result = await vm.execute('never', { signal: AbortSignal.abort() })
    expect(result.status).toBe('killed')
    expect(vm.ran).toEqual([])
    await vm.stop()
  })

  it('counts executions in getStatus', async () => {
    const vm = new ScriptedVM()
    await vm.start()
    await vm.execute('a')
    await vm.execute('b')
    const status = await vm.getStatus()
    expect(status).toMatchObject({
      id: 'scripted',
      type: 'scripted',
      state: 'running',
      executions: 2,
      running: 0,
      restarts: 0,
    })
    expect(status.luaVersion).toBe('Lua 5.4')
    await vm.stop()
    expect((await vm.getStatus()).uptimeMs).toBe(0)
  })
})

describe('BaseLuaVM sessions', () => {
  it('openSession gives a REPL session that stop() closes', async () => {
    const vm = new ScriptedVM()
    await vm.start()
    const session = await vm.openSession()
    expect(session.vmId).toBe('scripted')
    expect(session.state).toBe('open')
    await vm.stop()
    expect(session.state).not.toBe('open')
    await expect(session.sendInput('x')).rejects.toThrow(/session/)
  })

  it('openSession before start is a VMStateError', async () => {
    const vm = new ScriptedVM()
    await expect(vm.openSession()).rejects.toThrow(VMStateError)
  })
})
