import { afterEach, describe, expect, it } from 'vitest'
import type { ResolvedExecOptions } from '../src/contract/base-vm.js'
import type { ExecResult } from '../src/contract/types.js'
import type { BackendDescriptor } from '../src/registry/backend-descriptor.js'
import {
  absenceCheck,
  absenceChecks,
  type ConformanceContext,
  conformanceChecks,
  createConformanceContext,
  getConformanceCheck,
  skipReason,
} from '../src/testing/index.js'
import { DriverTestVM, driverTestBackend, liveDriverPids, makeDriverBackend } from './fixtures/driver-backend.js'

const absenceName = (capability: keyof typeof absenceChecks): string => {
  const check = absenceChecks[capability]
  if (!check) throw new Error(`no absence check for ${capability}`)
  return check.name
}

// Deliberately broken variants of the real test backend. Each breaks one
// promise of the contract; the matching check must throw, which proves the
// kit can fail. A check unrelated to the breakage must still pass, which
// proves the failure is specific, not a broken harness.

class TrimmingVM extends DriverTestVM {
  protected override async runCode(code: string, options: ResolvedExecOptions): Promise<ExecResult> {
    const r = await super.runCode(code, options)
    return { ...r, stdout: r.stdout.trim() }
  }
}

class ValueDroppingVM extends DriverTestVM {
  protected override async runCode(code: string, options: ResolvedExecOptions): Promise<ExecResult> {
    return { ...(await super.runCode(code, options)), values: [] }
  }
}

class TimeoutIgnoringVM extends DriverTestVM {
  protected override async runCode(code: string, options: ResolvedExecOptions): Promise<ExecResult> {
    const r = await super.runCode(code, options)
    if (r.status !== 'timeout') return r
    const { error: _dropped, ...rest } = r
    return { ...rest, status: 'ok', success: true, exitCode: 0 }
  }
}

class WrongLineVM extends DriverTestVM {
  protected override async runCode(code: string, options: ResolvedExecOptions): Promise<ExecResult> {
    const r = await super.runCode(code, options)
    return r.error?.line === undefined ? r : { ...r, error: { ...r.error, line: r.error.line + 1 } }
  }
}

class UntruncatedVM extends DriverTestVM {
  protected override async runCode(code: string, options: ResolvedExecOptions): Promise<ExecResult> {
    return super.runCode(code, { ...options, maxOutputBytes: 1 << 20 })
  }
}

class StderrDroppingVM extends DriverTestVM {
  protected override async runCode(code: string, options: ResolvedExecOptions): Promise<ExecResult> {
    return { ...(await super.runCode(code, options)), stderr: '' }
  }
}

let contexts: ConformanceContext[] = []
afterEach(async () => {
  await Promise.all(contexts.map((c) => c.dispose()))
  contexts = []
})

function contextFor(descriptor: BackendDescriptor<never> | BackendDescriptor): ConformanceContext {
  const ctx = createConformanceContext(descriptor)
  contexts.push(ctx)
  return ctx
}

async function failureOf(checkName: string, descriptor: BackendDescriptor<never> | BackendDescriptor): Promise<Error> {
  let failure: unknown
  try {
    await getConformanceCheck(checkName).run(contextFor(descriptor))
  } catch (error) {
    failure = error
  }
  expect(failure, `check '${checkName}' should have failed against ${descriptor.type}`).toBeInstanceOf(Error)
  return failure as Error
}

describe('conformance kit self-test: broken backends fail the matching check', () => {
  it('a backend that trims stdout fails "stdout is exact"', async () => {
    const trimming = makeDriverBackend('broken-trim', TrimmingVM)
    const failure = await failureOf('stdout is exact', trimming)
    expect(failure.message).toMatch(/whitespace|newline|expected/i)
    await getConformanceCheck('syntax errors report kind and line').run(contextFor(trimming))
  })

  it('a backend that drops returned values fails "returned values are converted and echoed"', async () => {
    const dropping = makeDriverBackend('broken-values', ValueDroppingVM)
    await failureOf('returned values are converted and echoed', dropping)
    await failureOf('result shape', dropping)
    await getConformanceCheck('stdout is exact').run(contextFor(dropping))
  })

  it('a backend that reports timeouts as ok fails both timeout checks', async () => {
    const ignoring = makeDriverBackend('broken-timeout', TimeoutIgnoringVM)
    const failure = await failureOf('timeouts stop a busy loop', ignoring)
    expect(failure.message).toMatch(/status/)
    await failureOf('timeouts cannot be caught by pcall', ignoring)
    await getConformanceCheck('runtime errors report kind, line and message').run(contextFor(ignoring))
  })

  it('a backend that reports wrong line numbers fails both error-line checks', async () => {
    const wrong = makeDriverBackend('broken-lines', WrongLineVM)
    await failureOf('syntax errors report kind and line', wrong)
    await failureOf('runtime errors report kind, line and message', wrong)
    await getConformanceCheck('stdout is exact').run(contextFor(wrong))
  })

  it('a backend that ignores maxOutputBytes fails "output is capped to the byte"', async () => {
    await failureOf('output is capped to the byte', makeDriverBackend('broken-cap', UntruncatedVM))
  })

  it('a backend that loses stderr fails "stderr is captured"', async () => {
    await failureOf('stderr is captured', makeDriverBackend('broken-stderr', StderrDroppingVM))
  })

  it('a descriptor whose type differs from the results’ backend fails "result shape"', async () => {
    class Renamed extends DriverTestVM {
      protected override async runCode(code: string, options: ResolvedExecOptions): Promise<ExecResult> {
        return { ...(await super.runCode(code, options)), backend: 'something-else' }
      }
    }
    await failureOf('result shape', makeDriverBackend('broken-name', Renamed))
  })

  it('a backend that keeps globals while declaring no persistentState fails its absence check', async () => {
    class ClaimsStateless extends DriverTestVM {
      override readonly capabilities = { ...driverTestBackend.capabilities, persistentState: false }
    }
    const base = makeDriverBackend('broken-stateless', ClaimsStateless)
    const descriptor = { ...base, capabilities: { ...base.capabilities, persistentState: false } }
    const failure = await failureOf(absenceName('persistentState'), descriptor)
    expect(failure.message).toMatch(/seen by the next/)
  })

  it('a backend that drops a memory cap it cannot enforce fails its absence check', async () => {
    class IgnoresCaps extends DriverTestVM {
      protected override memoryLimitProblem(): string | undefined {
        return undefined
      }
    }
    await failureOf(absenceName('memoryLimit'), makeDriverBackend('broken-memory', IgnoresCaps))
  })

  it('a backend that opens sessions while declaring none fails its absence check', async () => {
    class ClaimsNoSessions extends DriverTestVM {
      override readonly capabilities = { ...driverTestBackend.capabilities, sessions: false }
      override async openSession(): Promise<never> {
        return {} as never
      }
    }
    const base = makeDriverBackend('broken-sessions', ClaimsNoSessions)
    const descriptor = { ...base, capabilities: { ...base.capabilities, sessions: false } }
    await failureOf(absenceName('sessions'), descriptor)
  })

  it('a backend that pretends to install packages while declaring none fails its absence check', async () => {
    class PretendsToInstall extends DriverTestVM {
      protected override async doInstallPackage(name: string): Promise<never> {
        return { name, installed: true } as never
      }
    }
    await failureOf(absenceName('packages'), makeDriverBackend('broken-packages', PretendsToInstall))
  })

  it('a stricter luaVersion pattern makes "result shape" fail', async () => {
    const ctx = createConformanceContext(makeDriverBackend('strict-version'), { luaVersion: /LuaJIT/ })
    contexts.push(ctx)
    await expect(getConformanceCheck('result shape').run(ctx)).rejects.toThrow(/luaVersion/)
  })
})

describe('conformance kit self-test: structure', () => {
  it('has unique check names and every check the brief lists', () => {
    const names = conformanceChecks.map((c) => c.name)
    expect(new Set(names).size).toBe(names.length)
    for (const expected of [
      'result shape',
      'stdout is exact',
      'stderr is captured',
      'returned values are converted and echoed',
      'syntax errors report kind and line',
      'runtime errors report kind, line and message',
      'chunkName appears in error messages',
      'empty code is rejected',
      'throwOnError rejects with typed errors',
      'timeouts stop a busy loop',
      'timeouts cannot be caught by pcall',
      'output is capped to the byte',
      'AbortSignal cancels an execution',
      'state persists between executions',
      'sessions: expressions echo their value',
      'sessions: multi-line input waits for more lines',
      'sessions: errors keep the session alive',
      'sessions: a closed session rejects input',
      'memory limit is enforced',
      'lifecycle state machine',
      'concurrent executes keep their own output',
      'getStatus counts executions',
    ]) {
      expect(names).toContain(expected)
    }
  })

  it('a missing capability swaps its checks for one absence check; the honest backend passes it', async () => {
    const backend = makeDriverBackend('caps') // memoryLimit: false
    expect(absenceCheck(getConformanceCheck('memory limit is enforced'), backend)).toBe(absenceChecks.memoryLimit)
    expect(absenceCheck(getConformanceCheck('state persists between executions'), backend)).toBeUndefined()
    expect(absenceCheck(getConformanceCheck('stdout is exact'), backend)).toBeUndefined()
    await absenceChecks.memoryLimit?.run(contextFor(backend))
  })

  it('capability requirements skip with the capability named', () => {
    const backend = makeDriverBackend('caps')
    expect(skipReason(getConformanceCheck('memory limit is enforced'), backend)).toBe(
      "capability 'memoryLimit' is false",
    )
    expect(skipReason(getConformanceCheck('sessions: a closed session rejects input'), backend)).toBeUndefined()
    const predicate = { name: 'custom', requires: () => 'needs a GPU', run: async () => {} }
    expect(skipReason(predicate, backend)).toBe('needs a GPU')
    expect(skipReason({ ...predicate, requires: () => true as const }, backend)).toBeUndefined()
  })

  it('getConformanceCheck fails loudly on an unknown name', () => {
    expect(() => getConformanceCheck('no such check')).toThrow(/known:/)
  })

  it('leaves no lua process behind', async () => {
    await Promise.all(contexts.map((c) => c.dispose()))
    contexts = []
    expect(liveDriverPids()).toEqual([])
  })
})
