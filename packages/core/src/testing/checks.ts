import { expect } from 'vitest'
import type { BaseLuaVM } from '../contract/base-vm.js'
import type { BackendCapabilities, ExecResult } from '../contract/types.js'
import type { BackendDescriptor } from '../registry/backend-descriptor.js'
import type { ConformanceContext } from './context.js'

/**
 * When a check applies: a list of capabilities that must all be true, or a
 * predicate returning `true` to run or a reason to skip.
 */
export type ConformanceRequirement =
  | readonly (keyof BackendCapabilities)[]
  | ((descriptor: BackendDescriptor<never> | BackendDescriptor) => true | string)

/** One named conformance check. `run` throws (a vitest assertion) when the backend does not conform. */
export interface ConformanceCheck {
  /** Unique, human-readable name; also the test title. */
  name: string
  /** What must hold for the check to apply. A missing capability runs its absence check instead (see {@link absenceChecks}). */
  requires?: ConformanceRequirement
  run(ctx: ConformanceContext): Promise<void>
}

/** Why a check does not apply to a backend, or undefined when it does. */
export function skipReason(
  check: ConformanceCheck,
  descriptor: BackendDescriptor<never> | BackendDescriptor,
): string | undefined {
  const req = check.requires
  if (!req) return undefined
  if (typeof req === 'function') {
    const verdict = req(descriptor)
    return verdict === true ? undefined : verdict || 'requirement not met'
  }
  const missing = req.filter((cap) => !descriptor.capabilities[cap])
  return missing.length ? `capability ${missing.map((c) => `'${c}'`).join(', ')} is false` : undefined
}

const RESULT_FIELDS = [
  'stdout',
  'stderr',
  'values',
  'exitCode',
  'success',
  'status',
  'truncated',
  'durationMs',
  'backend',
  'luaVersion',
] as const

async function tagOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    return String((error as { _tag?: unknown })._tag ?? (error as Error)?.name ?? error)
  }
  return '(resolved)'
}

function brief(result: ExecResult): string {
  return JSON.stringify({
    status: result.status,
    stdout: result.stdout.slice(0, 200),
    stderr: result.stderr.slice(0, 200),
    values: result.values,
    error: result.error,
  })
}

async function run(
  vm: BaseLuaVM,
  code: string | Uint8Array,
  options: Parameters<BaseLuaVM['execute']>[1] = {},
): Promise<ExecResult> {
  return vm.execute(code, { timeoutMs: 10_000, ...options })
}

const resultShape: ConformanceCheck = {
  name: 'result shape',
  async run(ctx) {
    const vm = await ctx.createVM()
    const ok = await run(vm, 'return 1')
    for (const field of RESULT_FIELDS) expect(ok, `ExecResult must have '${field}'`).toHaveProperty(field)
    expect(typeof ok.stdout, 'stdout is a string').toBe('string')
    expect(typeof ok.stderr, 'stderr is a string').toBe('string')
    expect(Array.isArray(ok.values), 'values is an array').toBe(true)
    expect(ok, brief(ok)).toMatchObject({ status: 'ok', success: true, exitCode: 0, truncated: false, values: [1] })
    expect(ok.error, 'an ok result has no error').toBeUndefined()
    expect(Number.isFinite(ok.durationMs) && ok.durationMs >= 0, 'durationMs is a finite non-negative number').toBe(
      true,
    )
    expect(ok.backend, 'backend names the backend type').toBe(ctx.descriptor.type)
    expect(ok.luaVersion, 'luaVersion names the interpreter').toMatch(ctx.luaVersion)
    const bad = await run(vm, 'error("shape")')
    expect(bad, brief(bad)).toMatchObject({ status: 'error', success: false, exitCode: 1 })
    expect(typeof bad.error?.message, 'error.message is a string').toBe('string')
    expect(['syntax', 'runtime'], 'error.kind').toContain(bad.error?.kind)
    expect(bad.backend).toBe(ctx.descriptor.type)
  },
}

const stdoutExact: ConformanceCheck = {
  name: 'stdout is exact',
  async run(ctx) {
    const vm = await ctx.createVM()
    const spaces = await run(vm, 'io.write("  x  \\n\\n")')
    expect(spaces.stdout, 'leading/trailing whitespace and newlines are kept').toBe('  x  \n\n')
    const printed = await run(vm, 'print(" a ", 1, nil)')
    expect(printed.stdout, 'print separates with tabs and ends with a newline').toBe(' a \t1\tnil\n')
    const utf8 = await run(vm, 'print("héllo ✓ 🧬")')
    expect(utf8.stdout, 'UTF-8 survives').toBe('héllo ✓ 🧬\n')
    const crlf = await run(vm, 'io.write("a\\r\\nb\\r\\n")')
    expect(crlf.stdout, '\\r\\n is kept').toBe('a\r\nb\r\n')
    const order = await run(vm, 'print(1) io.write("two ") print("three")')
    expect(order.stdout, 'writes keep their order').toBe('1\ntwo three\n')
    expect(order.stderr).toBe('')
  },
}

const stderrCaptured: ConformanceCheck = {
  name: 'stderr is captured',
  async run(ctx) {
    const vm = await ctx.createVM()
    const err = await run(vm, 'io.stderr:write("e")')
    expect(err.stderr, 'io.stderr:write goes to stderr').toBe('e')
    expect(err.stdout, 'and not to stdout').toBe('')
    const both = await run(vm, 'io.write("o") io.stderr:write("e1\\n", "e2")')
    expect(both.stdout).toBe('o')
    expect(both.stderr).toBe('e1\ne2')
    expect(both.status).toBe('ok')
  },
}

const streaming: ConformanceCheck = {
  name: 'onStdout and onStderr receive the output',
  async run(ctx) {
    const vm = await ctx.createVM()
    const out: string[] = []
    const err: string[] = []
    const result = await run(vm, 'print("one") io.stderr:write("two") print("three")', {
      onStdout: (c) => out.push(c),
      onStderr: (c) => err.push(c),
    })
    expect(out.join(''), 'streamed stdout equals result.stdout').toBe(result.stdout)
    expect(err.join(''), 'streamed stderr equals result.stderr').toBe(result.stderr)
    expect(result.stdout).toBe('one\nthree\n')
    expect(result.stderr).toBe('two')
  },
}

const returnedValues: ConformanceCheck = {
  name: 'returned values are converted and echoed',
  async run(ctx) {
    const vm = await ctx.createVM()
    const four = await run(vm, 'return 2 + 2')
    expect(four.values, brief(four)).toEqual([4])
    expect(four.stdout, 'returned values are echoed like the REPL').toBe('4\n')
    const quiet = await run(vm, 'return 2 + 2', { echoReturnValues: false })
    expect(quiet.values).toEqual([4])
    expect(quiet.stdout, 'echoReturnValues: false prints nothing').toBe('')
    const many = await run(vm, 'return 1, "a", true, {1, 2}')
    expect(many.values, brief(many)).toEqual([1, 'a', true, [1, 2]])
    expect(many.stdout, 'several values echo tab-separated').toMatch(/^1\ta\ttrue\ttable: .+\n$/)
    const record = await run(vm, 'return {a = 1, b = "x"}, 1.5', { echoReturnValues: false })
    expect(record.values, brief(record)).toEqual([{ a: 1, b: 'x' }, 1.5])
    const nil = await run(vm, 'return nil')
    expect(nil.values, 'a returned nil is a value').toEqual([null])
    expect(nil.stdout).toBe('nil\n')
    const nothing = await run(vm, 'return')
    expect(nothing.values, 'a bare return has no values').toEqual([])
    expect(nothing.stdout).toBe('')
    const statement = await run(vm, 'local x = 1')
    expect(statement.values).toEqual([])
    expect(statement.stdout).toBe('')
  },
}

const syntaxErrors: ConformanceCheck = {
  name: 'syntax errors report kind and line',
  async run(ctx) {
    const vm = await ctx.createVM()
    const r = await run(vm, 'x = = 1')
    expect(r, brief(r)).toMatchObject({ status: 'error', success: false, exitCode: 1 })
    expect(r.error?.kind, brief(r)).toBe('syntax')
    expect(r.error?.line, brief(r)).toBe(1)
    const later = await run(vm, 'local a = 1\nlocal b = 2\nlocal c = = 3')
    expect(later.error?.kind).toBe('syntax')
    expect(later.error?.line, brief(later)).toBe(3)
  },
}

const runtimeErrors: ConformanceCheck = {
  name: 'runtime errors report kind, line and message',
  async run(ctx) {
    const vm = await ctx.createVM()
    const r = await run(vm, 'local a = 1\nerror("boom")')
    expect(r, brief(r)).toMatchObject({ status: 'error', success: false, exitCode: 1 })
    expect(r.error?.kind, brief(r)).toBe('runtime')
    expect(r.error?.line, brief(r)).toBe(2)
    expect(r.error?.message, brief(r)).toContain('boom')
    const index = await run(vm, 'local t = nil\nlocal y = 1\nreturn t.x')
    expect(index.error?.kind).toBe('runtime')
    expect(index.error?.line, brief(index)).toBe(3)
    const printedFirst = await run(vm, 'print("before")\nerror("after")')
    expect(printedFirst.stdout, 'output before an error is kept').toBe('before\n')
    expect(printedFirst.status).toBe('error')
  },
}

const chunkNames: ConformanceCheck = {
  name: 'chunkName appears in error messages',
  async run(ctx) {
    const vm = await ctx.createVM()
    const named = await run(vm, 'error("boom")', { chunkName: 'my_script.lua' })
    expect(named.error?.message, brief(named)).toContain('my_script.lua:1:')
    const syntax = await run(vm, 'x = = 1', { chunkName: 'other.lua' })
    expect(syntax.error?.message, brief(syntax)).toContain('other.lua:1:')
    const plain = await run(vm, 'error("boom")')
    expect(plain.error?.message, 'the default chunk name is not "(command line)"').not.toContain('(command line)')
  },
}

const emptyCode: ConformanceCheck = {
  name: 'empty code is rejected',
  async run(ctx) {
    const vm = await ctx.createVM()
    expect(await tagOf(vm.execute('')), 'empty code').toBe('InvalidArgumentError')
    expect(await tagOf(vm.execute(' \n\t ')), 'whitespace-only code').toBe('InvalidArgumentError')
    const after = await run(vm, 'return 1')
    expect(after.values).toEqual([1])
  },
}

const throwOnError: ConformanceCheck = {
  name: 'throwOnError rejects with typed errors',
  async run(ctx) {
    const vm = await ctx.createVM()
    let runtime: unknown
    await vm.execute('error("boom")', { throwOnError: true }).catch((e: unknown) => {
      runtime = e
    })
    expect((runtime as { _tag?: string })?._tag, 'a runtime error rejects with LuaRuntimeError').toBe('LuaRuntimeError')
    expect((runtime as Error).message).toContain('boom')
    expect(await tagOf(vm.execute('x = = 1', { throwOnError: true })), 'a syntax error').toBe('LuaSyntaxError')
    expect(await tagOf(vm.execute('while true do end', { throwOnError: true, timeoutMs: 200 })), 'a timeout').toBe(
      'VMTimeoutError',
    )
    const ok = await vm.execute('return 7', { throwOnError: true })
    expect(ok.values).toEqual([7])
  },
}

const timeouts: ConformanceCheck = {
  name: 'timeouts stop a busy loop',
  async run(ctx) {
    const vm = await ctx.createVM()
    const r = await vm.execute('while true do end', { timeoutMs: 200 })
    expect(r, brief(r)).toMatchObject({ status: 'timeout', exitCode: 3, success: false })
    const partial = await vm.execute('print("started") while true do end', { timeoutMs: 200 })
    expect(partial.status).toBe('timeout')
    expect(partial.stdout, 'output before the timeout is kept').toBe('started\n')
    const after = await run(vm, 'return 1 + 1')
    expect(after.values, 'the VM still executes after a timeout').toEqual([2])
  },
}

const pcallTimeouts: ConformanceCheck = {
  name: 'timeouts cannot be caught by pcall',
  async run(ctx) {
    const vm = await ctx.createVM()
    const caught = await vm.execute('local ok = pcall(function() while true do end end)\nprint("escaped", ok)', {
      timeoutMs: 200,
    })
    expect(caught.status, brief(caught)).toBe('timeout')
    expect(caught.stdout, 'code after the pcall never runs').not.toContain('escaped')
    const loop = await vm.execute('while true do pcall(function() while true do end end) end', { timeoutMs: 200 })
    expect(loop.status, brief(loop)).toBe('timeout')
    const errorHandler = await vm.execute(
      'while true do xpcall(function() while true do end end, function(e) return e end) end',
      { timeoutMs: 200 },
    )
    expect(errorHandler.status, brief(errorHandler)).toBe('timeout')
    const coroutine = await vm.execute('coroutine.wrap(function() while true do end end)()', { timeoutMs: 200 })
    expect(coroutine.status, 'the deadline follows coroutines').toBe('timeout')
    const after = await run(vm, 'return 3')
    expect(after.values).toEqual([3])
  },
}

const outputCap: ConformanceCheck = {
  name: 'output is capped to the byte',
  async run(ctx) {
    const vm = await ctx.createVM()
    const r = await run(vm, 'print(("0123456789"):rep(100))', { maxOutputBytes: 10 })
    expect(r.stdout, 'stdout is exactly the first maxOutputBytes bytes').toBe('0123456789')
    expect(r.truncated, 'truncated is set').toBe(true)
    expect(r.status, brief(r)).toBe('output-limit')
    expect(r.exitCode).toBe(3)
    const flood = await run(vm, 'while true do io.write("abc") end', { maxOutputBytes: 100 })
    expect(flood.status, 'an endless writer is stopped at the cap').toBe('output-limit')
    expect(flood.stdout.length + flood.stderr.length).toBeLessThanOrEqual(100)
    const under = await run(vm, 'io.write("12345")', { maxOutputBytes: 10 })
    expect(under, brief(under)).toMatchObject({ status: 'ok', truncated: false, stdout: '12345' })
  },
}

const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0))

const bytesExact: ConformanceCheck = {
  name: 'bytes are bytes: code, output, values and errors round-trip exactly',
  async run(ctx) {
    const vm = await ctx.createVM()
    // A raw E9 byte in a string literal (a Latin-1 source), given as bytes.
    const code = await run(vm, latin1('io.write("caf\xe9") return "caf\xe9"'), { echoReturnValues: false })
    expect(code.status, brief(code)).toBe('ok')
    expect(code.stdoutBytes, 'stdoutBytes holds the raw byte').toEqual(latin1('caf\xe9'))
    expect(code.values, 'a string that is not UTF-8 is a Uint8Array of its bytes').toEqual([latin1('caf\xe9')])
    const io = await run(vm, 'io.write("\\255\\0\\128") io.stderr:write("\\233") return "caf\\195\\169"', {
      echoReturnValues: false,
    })
    expect(io.stdoutBytes, 'io.write of \\255\\0\\128').toEqual(Uint8Array.from([255, 0, 128]))
    expect(io.stderrBytes, 'stderr bytes').toEqual(Uint8Array.from([233]))
    expect(io.stdout, 'stdout is the UTF-8 view (U+FFFD for the stray bytes)').toBe('\ufffd\0\ufffd')
    expect(io.values, 'a valid UTF-8 string is a string').toEqual(['café'])
    const packed = await run(vm, 'return string.char(0, 255, 128), { k = string.char(254) }', {
      echoReturnValues: false,
    })
    expect(packed.values, 'binary strings, also inside tables').toEqual([
      Uint8Array.from([0, 255, 128]),
      { k: Uint8Array.from([254]) },
    ])
    const err = await run(vm, 'error("bad \\255 byte", 0)')
    expect(err.status, brief(err)).toBe('error')
    expect(err.error?.messageBytes, 'error.messageBytes holds the exact message').toEqual(latin1('bad \xff byte'))
    expect(err.error?.message, 'error.message is its UTF-8 view').toBe('bad \ufffd byte')
    const cap = await run(vm, 'io.write(string.rep("é", 100))', { maxOutputBytes: 11 })
    expect(cap.stdoutBytes.length, 'the cap counts bytes, not characters').toBe(11)
    expect(cap.stdout, 'a character cut by the cap is dropped from the text').toBe('é'.repeat(5))
  },
}

const abortSignal: ConformanceCheck = {
  name: 'AbortSignal cancels an execution',
  async run(ctx) {
    const vm = await ctx.createVM()
    const controller = new AbortController()
    // Abort once the chunk is known to run (its first output), or after a
    // moment for backends that do not stream.
    const fallback = setTimeout(() => controller.abort(), 300)
    const r = await vm.execute('print("running") while true do end', {
      timeoutMs: 20_000,
      signal: controller.signal,
      onStdout: () => controller.abort(),
    })
    clearTimeout(fallback)
    expect(r.status, brief(r)).toBe('killed')
    expect(r.success).toBe(false)
    expect(r.exitCode).toBe(3)
    const pre = await vm.execute('return 1', { signal: AbortSignal.abort() })
    expect(pre.status, 'an already-aborted signal never runs').toBe('killed')
    const after = await run(vm, 'return 5')
    expect(after.values, 'the VM is usable after a cancel').toEqual([5])
  },
}

const persistence: ConformanceCheck = {
  name: 'state persists between executions',
  requires: ['persistentState'],
  async run(ctx) {
    const vm = await ctx.createVM()
    await run(vm, 'x = 41')
    const r = await run(vm, 'return x + 1')
    expect(r.values, brief(r)).toEqual([42])
    await run(vm, 'function inc(n) return n + 1 end')
    expect((await run(vm, 'return inc(1)')).values).toEqual([2])
  },
}

const sessionExpressions: ConformanceCheck = {
  name: 'sessions: expressions echo their value',
  requires: ['sessions'],
  async run(ctx) {
    const vm = await ctx.createVM()
    const session = await vm.openSession()
    try {
      const two = await session.sendInput('1 + 1')
      expect(two, JSON.stringify(two)).toMatchObject({ status: 'complete', output: '2\n' })
      const printed = await session.sendInput('print("hi")')
      expect(printed.output).toBe('hi\n')
      await session.sendInput('y = 5')
      expect((await session.sendInput('y')).output, 'globals persist within a session').toBe('5\n')
      expect((await session.sendInput('return y * 2')).output).toBe('10\n')
    } finally {
      await session.close()
    }
  },
}

const sessionMultiline: ConformanceCheck = {
  name: 'sessions: multi-line input waits for more lines',
  requires: ['sessions'],
  async run(ctx) {
    const vm = await ctx.createVM()
    const session = await vm.openSession()
    try {
      const first = await session.sendInput('function double(a)')
      expect(first.status, 'an unfinished chunk is incomplete, not an error').toBe('incomplete')
      expect(first.output).toBe('')
      const second = await session.sendInput('return a * 2 end')
      expect(second.status, JSON.stringify(second)).toBe('complete')
      expect((await session.sendInput('double(21)')).output).toBe('42\n')
    } finally {
      await session.close()
    }
  },
}

const sessionErrors: ConformanceCheck = {
  name: 'sessions: errors keep the session alive',
  requires: ['sessions'],
  async run(ctx) {
    const vm = await ctx.createVM()
    const session = await vm.openSession()
    try {
      const boom = await session.sendInput('error("boom")')
      expect(boom.status).toBe('error')
      expect(boom.output, 'the error is printed like lua.c prints it').toMatch(/:1: boom/)
      const syntax = await session.sendInput('x = = 1')
      expect(syntax.status, 'a syntax error is an error, not incomplete').toBe('error')
      expect(session.state).toBe('open')
      expect((await session.sendInput('1 + 1')).output, 'the session still works').toBe('2\n')
    } finally {
      await session.close()
    }
  },
}

const sessionClosed: ConformanceCheck = {
  name: 'sessions: a closed session rejects input',
  requires: ['sessions'],
  async run(ctx) {
    const vm = await ctx.createVM()
    const session = await vm.openSession()
    await session.close()
    expect(session.state).toBe('closed')
    expect(await tagOf(session.sendInput('1 + 1')), 'input to a closed session').toBe('InteractiveSessionError')
    await session.close()
    expect((await run(vm, 'return 1')).values, 'closing a session leaves the VM running').toEqual([1])
  },
}

const memoryLimit: ConformanceCheck = {
  name: 'memory limit is enforced',
  requires: ['memoryLimit'],
  async run(ctx) {
    const vm = await ctx.createVM()
    const r = await vm.execute('local t = {} for i = 1, 1e8 do t[i] = ("x"):rep(64) .. i end', {
      memoryLimitBytes: 32 * 1024 * 1024,
      timeoutMs: 20_000,
    })
    expect(r.status, brief(r)).toBe('memory')
    expect(r.success).toBe(false)
    expect(r.exitCode).toBe(3)
    expect((await run(vm, 'return 1')).values, 'the VM is usable after hitting the limit').toEqual([1])
  },
}

const stateMachine: ConformanceCheck = {
  name: 'lifecycle state machine',
  async run(ctx) {
    const vm = await ctx.createVM(undefined, { start: false })
    expect(vm.state).toBe('created')
    expect(await tagOf(vm.execute('return 1')), 'execute before start').toBe('VMStateError')
    await vm.start()
    expect(vm.state).toBe('running')
    await vm.stop()
    await vm.stop()
    expect(vm.state, 'stop is idempotent').toBe('stopped')
    expect(await tagOf(vm.execute('return 1')), 'execute after stop').toBe('VMStateError')
    const disposed = await ctx.createVM()
    {
      await using scoped = disposed
      expect((await scoped.execute('return 1')).values).toEqual([1])
    }
    expect(disposed.state, 'await using stops the VM').toBe('stopped')
  },
}

const concurrency: ConformanceCheck = {
  name: 'concurrent executes keep their own output',
  async run(ctx) {
    const vm = await ctx.createVM()
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => run(vm, `print("token-${i}") return ${i}`, { echoReturnValues: false })),
    )
    results.forEach((r, i) => {
      expect(r.stdout, `execution ${i} got its own output`).toBe(`token-${i}\n`)
      expect(r.values).toEqual([i])
    })
  },
}

const statusCounters: ConformanceCheck = {
  name: 'getStatus counts executions',
  async run(ctx) {
    const vm = await ctx.createVM()
    await run(vm, 'return 1')
    await run(vm, 'error("x")')
    await run(vm, 'print(1)')
    const status = await vm.getStatus()
    expect(status, JSON.stringify(status)).toMatchObject({
      id: vm.id,
      type: ctx.descriptor.type,
      state: 'running',
      executions: 3,
      running: 0,
    })
    expect(typeof status.restarts).toBe('number')
    expect(status.uptimeMs).toBeGreaterThanOrEqual(0)
    expect(status.luaVersion ?? '').toMatch(ctx.luaVersion)
  },
}

// What a backend must do instead when it does not claim a capability:
// behave as it declared, and refuse clearly rather than pretend.

const statelessAbsence: ConformanceCheck = {
  name: "without 'persistentState': executions do not share globals",
  async run(ctx) {
    const vm = await ctx.createVM()
    await run(vm, 'x = 41')
    const r = await run(vm, 'return x == nil')
    expect(r.values, `a global of one execution was seen by the next: ${brief(r)}`).toEqual([true])
  },
}

const sessionsAbsence: ConformanceCheck = {
  name: "without 'sessions': openSession rejects with BackendUnavailableError",
  async run(ctx) {
    const vm = await ctx.createVM()
    expect(await tagOf(vm.openSession()), 'openSession on a backend without sessions').toBe('BackendUnavailableError')
    expect((await run(vm, 'return 1')).values, 'the VM still runs').toEqual([1])
  },
}

const memoryLimitAbsence: ConformanceCheck = {
  name: "without 'memoryLimit': a memory cap is refused with ConfigError, not ignored",
  async run(ctx) {
    const vm = await ctx.createVM()
    expect(
      await tagOf(vm.execute('return 1', { memoryLimitBytes: 32 * 1024 * 1024 })),
      'an execution asking for a cap the backend cannot enforce',
    ).toBe('ConfigError')
    expect((await run(vm, 'return 1')).values, 'the VM still runs').toEqual([1])
  },
}

const packagesAbsence: ConformanceCheck = {
  name: "without 'packages': installPackage rejects with PackageError",
  async run(ctx) {
    const vm = await ctx.createVM()
    expect(await tagOf(vm.installPackage('lpeg')), 'installPackage on a backend without packages').toBe('PackageError')
    expect((await run(vm, 'return 1')).values, 'the VM still runs').toEqual([1])
  },
}

/**
 * What runs for each capability a backend does not claim, in place of the
 * checks that need it: it proves the backend behaves as declared (no shared
 * globals; sessions, memory caps and package installs refused with typed
 * errors).
 */
export const absenceChecks: Readonly<Partial<Record<keyof BackendCapabilities, ConformanceCheck>>> = Object.freeze({
  persistentState: statelessAbsence,
  sessions: sessionsAbsence,
  memoryLimit: memoryLimitAbsence,
  packages: packagesAbsence,
})

/**
 * The absence check that replaces `check` for this backend, when `check`
 * needs a capability the backend does not claim and that capability has one.
 */
export function absenceCheck(
  check: ConformanceCheck,
  descriptor: BackendDescriptor<never> | BackendDescriptor,
): ConformanceCheck | undefined {
  const req = check.requires
  if (!req || typeof req === 'function') return undefined
  const missing = req.find((cap) => !descriptor.capabilities[cap])
  return missing === undefined ? undefined : absenceChecks[missing]
}

/** Every conformance check, in the order `runConformance` registers them. */
export const conformanceChecks: readonly ConformanceCheck[] = Object.freeze([
  resultShape,
  stdoutExact,
  stderrCaptured,
  streaming,
  returnedValues,
  syntaxErrors,
  runtimeErrors,
  chunkNames,
  emptyCode,
  throwOnError,
  timeouts,
  pcallTimeouts,
  outputCap,
  bytesExact,
  abortSignal,
  persistence,
  sessionExpressions,
  sessionMultiline,
  sessionErrors,
  sessionClosed,
  memoryLimit,
  stateMachine,
  concurrency,
  statusCounters,
])

/** A check by name, absence checks included; throws when there is none (so a typo fails loudly). */
export function getConformanceCheck(name: string): ConformanceCheck {
  const all = [...conformanceChecks, ...Object.values(absenceChecks)]
  const check = all.find((c) => c.name === name)
  if (!check) throw new Error(`no conformance check named '${name}'; known: ${all.map((c) => c.name).join(', ')}`)
  return check
}
