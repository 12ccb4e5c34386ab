import { errorFromResult } from '../errors/from-result.js'
import {
  BackendUnavailableError,
  ConfigError,
  InvalidArgumentError,
  PackageError,
  VMStateError,
} from '../errors/index.js'
import type { Logger } from '../logger/logger.js'
import { silentLogger } from '../logger/logger.js'
import { ReplSession } from '../manager/repl-session.js'
import { codeArgument } from '../util/bytes.js'
import { TaskQueue } from '../util/serial-queue.js'
import { checkByteLimit, checkLimits, checkTimeoutMs } from './limits.js'
import type { InteractiveSession, SessionOptions } from './session.js'
import type {
  BackendCapabilities,
  ExecOptions,
  ExecResult,
  InstallOptions,
  InstallResult,
  StartOptions,
  StopOptions,
  VMState,
  VMStatus,
} from './types.js'
import { assertTransition } from './vm-state.js'

/** Limits every VM applies when an execution does not set its own. */
export interface ExecDefaults {
  /** Default wall deadline of an execution (30 s). */
  timeoutMs: number
  /** Default cap on output bytes: stdout, stderr and the result's values or error message together (8 MiB). */
  maxOutputBytes: number
  /** Default memory cap, for backends that enforce one. */
  memoryLimitBytes?: number
}

/** The built-in defaults; backends and config may override them per VM. */
export const DEFAULT_EXEC_LIMITS: Readonly<ExecDefaults> = Object.freeze({
  timeoutMs: 30_000,
  maxOutputBytes: 8 * 1024 * 1024,
})

/** What a backend receives to build a VM. */
export interface VMInit<C = Record<string, unknown>> {
  /** VM id, unique within its manager. */
  id: string
  /** The backend type (never an alias). */
  type: string
  /** Backend config, already validated and merged with defaults. */
  config: C
  /** Limits applied when an execution sets none (checked: a bad one is a `ConfigError`). */
  limits?: Partial<ExecDefaults>
  logger?: Logger
}

/** Execution options after defaults were applied: what `runCode` receives. */
export interface ResolvedExecOptions extends ExecOptions {
  timeoutMs: number
  maxOutputBytes: number
  chunkName: string
  echoReturnValues: boolean
  repl: boolean
}

/**
 * The contract every backend implements. The base class owns what must not
 * differ between backends — lifecycle states, argument checks, defaults,
 * queueing, `throwOnError`, sessions and disposal — so a backend only
 * supplies `doStart`, `doStop` and `runCode`.
 *
 * `execute` resolves for everything the Lua program did (ok, Lua error,
 * timeout, memory, output limit, cancel) and rejects only when the SDK or
 * the backend itself failed.
 */
export abstract class BaseLuaVM implements AsyncDisposable {
  readonly id: string
  readonly type: string
  abstract readonly capabilities: BackendCapabilities
  protected readonly logger: Logger
  protected readonly limits: ExecDefaults

  #state: VMState = 'created'
  #stopping: Promise<void> | undefined
  #queue: TaskQueue | undefined
  #executions = 0
  #running = 0
  #restarts = 0
  #startedAt = 0
  #luaVersion: string | undefined
  readonly #sessions = new Set<InteractiveSession>()
  readonly #stateListeners = new Set<(state: VMState, vm: BaseLuaVM) => void>()

  constructor(init: VMInit<unknown>) {
    if (typeof init.id !== 'string' || init.id.trim() === '') {
      throw new InvalidArgumentError('a VM id must be a non-empty string')
    }
    this.id = init.id
    this.type = init.type
    this.logger = init.logger ?? silentLogger
    this.limits = { ...DEFAULT_EXEC_LIMITS, ...checkLimits(init.limits ?? {}, 'limits.') }
  }

  /** Current lifecycle state. */
  get state(): VMState {
    return this.#state
  }

  /** `_VERSION` of the engine, once started. */
  get luaVersion(): string {
    return this.#luaVersion ?? 'unknown'
  }

  /** How many executions may run at once on this VM (1 unless the backend pools). */
  protected get concurrency(): number {
    return 1
  }

  /** Starts the engine. Idempotent while running; a stopped VM can be started again. */
  async start(options: StartOptions = {}): Promise<void> {
    if (this.#state === 'running') return
    // Before doStart: a VM that would refuse every execution is not worth provisioning.
    const problem = this.limits.memoryLimitBytes === undefined ? undefined : this.memoryLimitProblem()
    if (problem) throw new ConfigError(`VM '${this.id}' has a default memoryLimitBytes, but ${problem}`)
    this.#setState('starting')
    try {
      await this.doStart(options)
      this.#startedAt = Date.now()
      this.#setState('running')
    } catch (error) {
      this.#setState('failed')
      throw error
    }
  }

  /** Stops the engine, ends its sessions and kills what still runs. Idempotent. */
  stop(options: StopOptions = {}): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'created') {
      this.#state = 'stopped'
      return Promise.resolve()
    }
    this.#stopping ??= this.#stop(options).finally(() => {
      this.#stopping = undefined
    })
    return this.#stopping
  }

  async #stop(options: StopOptions): Promise<void> {
    this.#setState('stopping')
    const sessions = [...this.#sessions]
    this.#sessions.clear()
    await Promise.allSettled(sessions.map((s) => s.close()))
    try {
      await this.doStop(options)
    } finally {
      this.#setState('stopped')
    }
  }

  /**
   * Runs a chunk of Lua code. See the class docs for what resolves and what
   * rejects. `code` is text (run as its UTF-8 bytes) or the exact bytes of
   * the chunk (a Latin-1 source, say: Lua source is bytes).
   */
  async execute(code: string | Uint8Array, options: ExecOptions = {}): Promise<ExecResult> {
    if (typeof code !== 'string' && !(code instanceof Uint8Array)) {
      throw new InvalidArgumentError('Lua code must be a string or a Uint8Array')
    }
    if (isBlank(code)) throw new InvalidArgumentError('Lua code cannot be empty')
    this.#assertRunning('execute')
    const resolved = this.#resolve(options)
    const result = await this.#run(codeArgument(code), resolved)
    if (options.throwOnError && result.status !== 'ok') throw errorFromResult(result)
    return result
  }

  /** Runs a Lua file; errors name the file (the chunk name defaults to the path). */
  async executeFile(path: string, options: ExecOptions = {}): Promise<ExecResult> {
    if (typeof path !== 'string' || path === '') throw new InvalidArgumentError('a file path is required')
    this.#assertRunning('executeFile')
    const code = await this.readSourceFile(path)
    if (isBlank(code)) throw new InvalidArgumentError(`Lua file '${path}' is empty`)
    return this.execute(code, { chunkName: path, ...options })
  }

  /** Installs a Lua package into this VM's environment. */
  async installPackage(name: string, options: InstallOptions = {}): Promise<InstallResult> {
    this.#assertRunning('installPackage')
    if (options.timeoutMs !== undefined) {
      return this.doInstallPackage(name, { ...options, timeoutMs: checkTimeoutMs(options.timeoutMs) })
    }
    return this.doInstallPackage(name, options)
  }

  /** Opens an interactive REPL session on this VM. */
  async openSession(options: SessionOptions = {}): Promise<InteractiveSession> {
    this.#assertRunning('openSession')
    checkLimits({ timeoutMs: options.timeoutMs, maxOutputBytes: options.maxOutputBytes })
    if (!this.capabilities.sessions) {
      throw new BackendUnavailableError(`backend '${this.type}' has no interactive sessions`)
    }
    const session = await this.createSession(options)
    this.#sessions.add(session)
    const close = session.close.bind(session)
    session.close = async () => {
      this.#sessions.delete(session)
      await close()
    }
    return session
  }

  /** A snapshot of this VM's health and counters. */
  async getStatus(): Promise<VMStatus> {
    const details = await this.statusDetails()
    return {
      id: this.id,
      type: this.type,
      state: this.#state,
      ...(this.#luaVersion === undefined ? {} : { luaVersion: this.#luaVersion }),
      executions: this.#executions,
      running: this.#running,
      restarts: this.#restarts,
      uptimeMs: this.#state === 'running' ? Date.now() - this.#startedAt : 0,
      ...(details === undefined ? {} : { details }),
    }
  }

  /** Calls `listener` on every state change; returns an unsubscribe function. */
  onStateChange(listener: (state: VMState, vm: BaseLuaVM) => void): () => void {
    this.#stateListeners.add(listener)
    return () => this.#stateListeners.delete(listener)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }

  // ---- what a backend supplies -------------------------------------------

  /** Brings the engine up. Throwing leaves the VM `failed`. */
  protected abstract doStart(options: StartOptions): Promise<void>
  /** Tears the engine down and kills running work; must leave nothing behind. */
  protected abstract doStop(options: StopOptions): Promise<void>
  /**
   * Runs one chunk with resolved options; resolves for anything Lua did.
   * `code` is a string when the chunk is valid UTF-8 (run its UTF-8 bytes)
   * and a `Uint8Array` only when it is not (run exactly those bytes; a
   * backend that cannot carry them refuses with a `ConfigError`).
   */
  protected abstract runCode(code: string | Uint8Array, options: ResolvedExecOptions): Promise<ExecResult>

  /** Reads a source file for `executeFile` (its bytes, or UTF-8 text); backends without a file system keep this default. */
  protected readSourceFile(path: string): Promise<string | Uint8Array> {
    return Promise.reject(
      new BackendUnavailableError(`backend '${this.type}' cannot read files; read '${path}' and call execute()`),
    )
  }

  /** Installs a package; the default says the backend has no installer. */
  protected doInstallPackage(name: string, _options: InstallOptions): Promise<InstallResult> {
    return Promise.reject(new PackageError(`backend '${this.type}' cannot install packages (asked for '${name}')`))
  }

  /** Builds a session; the default is a framed REPL over `execute` in REPL mode. */
  protected createSession(options: SessionOptions): Promise<InteractiveSession> {
    return Promise.resolve(new ReplSession(this, options))
  }

  /** Backend facts for `getStatus().details`. */
  protected statusDetails(): Promise<Record<string, unknown> | undefined> {
    return Promise.resolve(undefined)
  }

  // ---- helpers for backends ----------------------------------------------

  /** Records the engine's `_VERSION` for results and status. */
  protected setLuaVersion(version: string): void {
    this.#luaVersion = version
  }

  /** Counts an engine restart after a hard kill. */
  protected noteRestart(): void {
    this.#restarts++
  }

  /** Marks the VM failed (e.g. its engine died and could not be recreated). */
  protected markFailed(): void {
    if (this.#state !== 'failed') this.#setState('failed')
  }

  /** A result with this VM's backend and version filled in. */
  protected result(partial: Partial<ExecResult> & Pick<ExecResult, 'status'>): ExecResult {
    const status = partial.status
    return {
      stdout: '',
      stderr: '',
      values: [],
      // A backend that gives only text gets its UTF-8 as the bytes.
      stdoutBytes: partial.stdoutBytes ?? (partial.stdout ? encoder.encode(partial.stdout) : EMPTY),
      stderrBytes: partial.stderrBytes ?? (partial.stderr ? encoder.encode(partial.stderr) : EMPTY),
      truncated: false,
      durationMs: 0,
      ...partial,
      status,
      success: status === 'ok',
      exitCode: status === 'ok' ? 0 : status === 'error' ? 1 : 3,
      backend: this.type,
      luaVersion: this.luaVersion,
    }
  }

  // ---- internals ---------------------------------------------------------

  async #run(code: string | Uint8Array, options: ResolvedExecOptions): Promise<ExecResult> {
    const started = performance.now()
    const killed = () => this.result({ status: 'killed', durationMs: performance.now() - started })
    if (options.signal?.aborted) return killed()
    this.#queue ??= new TaskQueue(this.concurrency)
    this.#running++
    try {
      return await this.#queue.run(() => {
        this.#assertRunning('execute')
        return this.runCode(code, options)
      }, options.signal)
    } catch (error) {
      // Aborted while queued: the program never ran, which is a cancel.
      if (options.signal?.aborted && error === options.signal.reason) return killed()
      throw error
    } finally {
      this.#running--
      this.#executions++
    }
  }

  /**
   * Why this VM cannot enforce `memoryLimitBytes`, or `undefined` when it
   * can. An execution asking for a memory cap (itself or through the VM's
   * default limits) is refused with a `ConfigError` naming this reason.
   * The default follows `capabilities.memoryLimit`; override it to name a
   * more precise cause (a missing tool, say).
   */
  protected memoryLimitProblem(): string | undefined {
    return this.capabilities.memoryLimit
      ? undefined
      : `backend '${this.type}' cannot enforce a memory cap (capabilities.memoryLimit is false)`
  }

  #resolve(options: ExecOptions): ResolvedExecOptions {
    // The VM's defaults were checked when it was made; an execution's own are checked here.
    const timeoutMs = options.timeoutMs === undefined ? this.limits.timeoutMs : checkTimeoutMs(options.timeoutMs)
    const maxOutputBytes =
      options.maxOutputBytes === undefined
        ? this.limits.maxOutputBytes
        : checkByteLimit(options.maxOutputBytes, 'maxOutputBytes', 0)
    const memoryLimitBytes =
      options.memoryLimitBytes === undefined
        ? this.limits.memoryLimitBytes
        : checkByteLimit(options.memoryLimitBytes, 'memoryLimitBytes', 1)
    if (memoryLimitBytes !== undefined) {
      // A cap that cannot be enforced is refused, never silently dropped.
      const problem = this.memoryLimitProblem()
      if (problem) throw new ConfigError(`memoryLimitBytes was asked for, but ${problem}`)
    }
    const chunkName = options.chunkName ?? 'chunk'
    if (/[\r\n]/.test(chunkName) || chunkName.length > 200) {
      throw new InvalidArgumentError('chunkName must be one line of at most 200 characters')
    }
    // Object.assign rather than `{ ...options, more }`: V8 builds a spread
    // copy that then grows property by property, which costs microseconds
    // on every execution.
    const resolved: ResolvedExecOptions = Object.assign({}, options, {
      timeoutMs,
      maxOutputBytes,
      chunkName,
      echoReturnValues: options.echoReturnValues ?? true,
      repl: options.repl ?? false,
    })
    if (memoryLimitBytes !== undefined) resolved.memoryLimitBytes = memoryLimitBytes
    return resolved
  }

  #assertRunning(operation: string): void {
    if (this.#state !== 'running') {
      throw new VMStateError(
        `cannot ${operation} on VM '${this.id}': it is ${this.#state}${this.#state === 'created' || this.#state === 'stopped' ? '; call start() first' : ''}`,
        { details: { vmId: this.id, state: this.#state, operation } },
      )
    }
  }

  #setState(next: VMState): void {
    assertTransition(this.id, this.#state, next)
    this.#state = next
    for (const listener of this.#stateListeners) {
      try {
        listener(next, this)
      } catch (error) {
        this.logger.warn('state listener threw', { vmId: this.id, error: String(error) })
      }
    }
  }
}

const encoder = new TextEncoder()
const EMPTY = new Uint8Array(0)

// Whitespace only (text, or bytes of ASCII whitespace).
function isBlank(code: string | Uint8Array): boolean {
  if (typeof code === 'string') return code.trim() === ''
  for (const b of code) if (b !== 0x20 && (b < 0x09 || b > 0x0d)) return false
  return true
}

// The SDK's classes implement AsyncDisposable (`await using vm = …`). Those
// names come from TypeScript's `esnext.disposable` lib (or @types/node);
// declared here too, identically, so the published typings check in a
// project with neither (e.g. lib ["ES2022", "DOM"]). Using `await using`
// itself still needs TypeScript ≥ 5.2 with that lib and a runtime that has
// Symbol.asyncDispose (or a polyfill of it).
declare global {
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol
  }
  interface AsyncDisposable {
    [Symbol.asyncDispose](): PromiseLike<void>
  }
}
