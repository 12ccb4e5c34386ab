import type { BaseLuaVM } from '../contract/base-vm.js'
import type { InteractiveSession, SessionOptions, SessionReply, SessionState } from '../contract/session.js'
import type { ExecResult, VMState } from '../contract/types.js'
import { InteractiveSessionError, InvalidArgumentError, isLuaVMError, VMTimeoutError } from '../errors/index.js'
import { newId } from '../util/ids.js'
import { TaskQueue } from '../util/serial-queue.js'
import { startTimer, type Timer } from '../util/timer.js'

/** Options of a {@link ReplSession}, beyond the contract's `SessionOptions`. */
export interface ReplSessionOptions extends SessionOptions {
  /** Default wait of `readOutput({ until })` when the call sets none (default 30 s). */
  readTimeoutMs?: number
}

/** Options of {@link ReplSession.sendInput}. */
export interface SendInputOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

/** Options of {@link ReplSession.readOutput}. */
export interface ReadOutputOptions {
  until?: string | RegExp
  timeoutMs?: number
  signal?: AbortSignal
}

const DEFAULT_READ_TIMEOUT_MS = 30_000

/**
 * A framed REPL over any VM's `execute` in REPL mode. Each `sendInput` runs
 * the pending chunk plus the new lines; the driver says whether the chunk is
 * merely incomplete (then the lines are kept and the reply is `incomplete`)
 * or finished. There are no sleeps and no terminal: output is exactly what
 * the chunk printed, followed by the error the way `lua.c` prints it.
 *
 * Inputs run one at a time in arrival order. A session is `dead` once its
 * VM leaves `running` (or an execution rejects and the VM is no longer
 * running); from then on, and after `close()`, `sendInput` rejects with an
 * `InteractiveSessionError` naming the session.
 */
export class ReplSession implements InteractiveSession {
  /** Session id. */
  readonly id: string
  /** Id of the VM the session runs on. */
  readonly vmId: string

  readonly #vm: BaseLuaVM
  readonly #options: ReplSessionOptions
  readonly #inputs = new TaskQueue(1)
  readonly #listeners = new Set<(chunk: string) => void>()
  readonly #waiters = new Set<() => void>()
  readonly #closing = new AbortController()
  readonly #unsubscribe: () => void
  #state: SessionState = 'open'
  #pending: string[] = []
  #buffer = ''
  #lastActivity = Date.now()
  #deathReason: string | undefined

  /**
   * @param vm - a running VM; the session listens to its state.
   * @param options - id and per-input limits.
   */
  constructor(vm: BaseLuaVM, options: ReplSessionOptions = {}) {
    if (options.id !== undefined && (typeof options.id !== 'string' || options.id.trim() === '')) {
      throw new InvalidArgumentError('a session id must be a non-empty string')
    }
    this.#vm = vm
    this.#options = { ...options }
    this.id = options.id ?? newId('session')
    this.vmId = vm.id
    this.#unsubscribe = vm.onStateChange((state) => this.#onVMState(state))
    if (vm.state !== 'running') this.#die(`its VM is ${vm.state}`)
  }

  /** `open`, `dead` (the VM went away) or `closed`. */
  get state(): SessionState {
    return this.#state
  }

  /** When input was last sent or output last produced (ms since the epoch). */
  get lastActivity(): number {
    return this.#lastActivity
  }

  /** True while lines of an unfinished chunk wait for more input. */
  get hasPendingInput(): boolean {
    return this.#pending.length > 0
  }

  /** Forgets the lines of an unfinished chunk (like Ctrl-C at a `>>` prompt). */
  clearPendingInput(): void {
    this.#pending = []
  }

  /**
   * Sends one or more lines. Resolves with what they printed when the chunk
   * finished, or with `status: 'incomplete'` when it needs more lines.
   * Rejects with `InteractiveSessionError` when the session is closed or
   * dead, or when the backend failed.
   */
  sendInput(input: string, options: SendInputOptions = {}): Promise<SessionReply> {
    if (typeof input !== 'string') {
      return Promise.reject(new InvalidArgumentError('sendInput expects a string of Lua code'))
    }
    const unusable = this.#unusableError('send input')
    if (unusable) return Promise.reject(unusable)
    this.#touch()
    return this.#inputs.run(() => this.#runInput(input, options))
  }

  /**
   * Takes the output buffered since the last read. With `until`, waits until
   * the buffer contains that text (or matches that pattern), then returns
   * everything up to and including the match and keeps the rest; rejects with
   * `VMTimeoutError` after `timeoutMs` (default 30 s) and with
   * `InteractiveSessionError` when the session ends first.
   */
  readOutput(options: ReadOutputOptions = {}): Promise<string> {
    const { until } = options
    if (until === undefined) {
      const out = this.#buffer
      this.#buffer = ''
      return Promise.resolve(out)
    }
    if (typeof until === 'string' && until === '') {
      return Promise.reject(new InvalidArgumentError('readOutput: `until` must not be empty'))
    }
    const timeoutMs = options.timeoutMs ?? this.#options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
      return Promise.reject(
        new InvalidArgumentError(`readOutput: timeoutMs must be a non-negative number, got ${timeoutMs}`),
      )
    }
    const matcher = toMatcher(until)
    const take = (): string | undefined => {
      const end = matcher(this.#buffer)
      if (end === undefined) return undefined
      const out = this.#buffer.slice(0, end)
      this.#buffer = this.#buffer.slice(end)
      return out
    }
    const immediate = take()
    if (immediate !== undefined) return Promise.resolve(immediate)
    return new Promise<string>((resolve, reject) => {
      let timer: Timer | undefined
      const finish = (settle: () => void) => {
        this.#waiters.delete(check)
        timer?.cancel()
        options.signal?.removeEventListener('abort', onAbort)
        settle()
      }
      const check = () => {
        const out = take()
        if (out !== undefined) return finish(() => resolve(out))
        if (this.#state !== 'open') {
          finish(() => reject(this.#endedError(`read output until ${describeUntil(until)}`)))
        }
      }
      const onAbort = () =>
        finish(() =>
          reject(
            new InteractiveSessionError(`readOutput on session '${this.id}' was aborted`, {
              cause: options.signal?.reason,
              details: this.#details(),
            }),
          ),
        )
      if (options.signal?.aborted) return onAbort()
      if (this.#state !== 'open') return check()
      options.signal?.addEventListener('abort', onAbort, { once: true })
      timer = startTimer(timeoutMs, () =>
        finish(() =>
          reject(
            new VMTimeoutError(
              `session '${this.id}' on VM '${this.vmId}' printed nothing matching ${describeUntil(until)} within ${timeoutMs} ms; ` +
                'check the code prints it, or raise timeoutMs',
              { details: { ...this.#details(), timeoutMs } },
            ),
          ),
        ),
      )
      this.#waiters.add(check)
    })
  }

  /** Calls `listener` with every piece of output, in order; returns an unsubscribe function. */
  onOutput(listener: (chunk: string) => void): () => void {
    if (typeof listener !== 'function') throw new InvalidArgumentError('onOutput expects a function')
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /**
   * Ends the session: cancels the input that is running (it resolves as
   * `killed`), rejects waiting reads, and makes later inputs reject.
   * Idempotent. The VM itself keeps running.
   */
  close(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve()
    this.#state = 'closed'
    this.#pending = []
    this.#unsubscribe()
    this.#closing.abort(new InteractiveSessionError(`session '${this.id}' was closed`, { details: this.#details() }))
    this.#wakeReaders()
    return Promise.resolve()
  }

  /** Closes the session (`await using session = ...`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  // ---- internals ---------------------------------------------------------

  async #runInput(input: string, options: SendInputOptions): Promise<SessionReply> {
    // Re-checked here: the session may have ended while this input waited.
    const unusable = this.#unusableError('send input')
    if (unusable) throw unusable
    // One trailing newline ends the line the user typed; it is not a blank line of the chunk.
    const lines = input.replace(/\r?\n$/, '')
    const chunk = [...this.#pending, lines].join('\n')
    if (chunk.trim() === '') return reply('complete', '', '', '', [])

    const signal = combineSignals(this.#closing.signal, options.signal)
    const streamed = { stdout: '', stderr: '', done: false }
    const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs
    let result: ExecResult
    try {
      result = await this.#vm.execute(chunk, {
        repl: true,
        echoReturnValues: true,
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(this.#options.maxOutputBytes !== undefined ? { maxOutputBytes: this.#options.maxOutputBytes } : {}),
        ...(this.#options.chunkName !== undefined ? { chunkName: this.#options.chunkName } : {}),
        signal: signal.signal,
        onStdout: (text) => {
          if (streamed.done) return
          streamed.stdout += text
          this.#emit(text)
        },
        onStderr: (text) => {
          if (streamed.done) return
          streamed.stderr += text
          this.#emit(text)
        },
      })
    } catch (error) {
      this.#pending = []
      if (this.#vm.state !== 'running') this.#die(`its VM is ${this.#vm.state}`)
      throw new InteractiveSessionError(
        `session '${this.id}' on VM '${this.vmId}' could not run the input: ${error instanceof Error ? error.message : String(error)}` +
          (this.#state === 'dead' ? '; the session is dead, open a new one on a running VM' : ''),
        { cause: error, details: { ...this.#details(), ...(isLuaVMError(error) ? { causeTag: error._tag } : {}) } },
      )
    } finally {
      streamed.done = true
      signal.dispose()
    }
    this.#touch()

    if (result.incomplete) {
      this.#pending = [chunk]
      return reply('incomplete', '', '', '', [])
    }
    this.#pending = []

    // Deliver what the backend did not stream, so listeners and the read
    // buffer see every byte exactly once whether or not it streamed.
    const restOut = remainder(result.stdout, streamed.stdout)
    const restErr = remainder(result.stderr, streamed.stderr)
    if (restOut) this.#emit(restOut)
    if (restErr) this.#emit(restErr)
    const note = statusNote(result)
    if (note) this.#emit(note)

    const status: SessionReply['status'] = result.status === 'ok' ? 'complete' : result.status
    return reply(
      status,
      result.stdout + result.stderr + note,
      result.stdout,
      result.stderr,
      result.values,
      result.error,
    )
  }

  #emit(text: string): void {
    if (text === '') return
    this.#touch()
    this.#buffer += text
    for (const listener of [...this.#listeners]) {
      try {
        listener(text)
      } catch {
        // A throwing listener must not break the session or the other listeners.
      }
    }
    this.#wakeReaders()
  }

  #wakeReaders(): void {
    for (const check of [...this.#waiters]) check()
  }

  #onVMState(state: VMState): void {
    if (state !== 'running' && state !== 'starting') this.#die(`its VM is ${state}`)
  }

  #die(reason: string): void {
    if (this.#state !== 'open') return
    this.#state = 'dead'
    this.#deathReason = reason
    this.#pending = []
    this.#unsubscribe?.()
    this.#wakeReaders()
  }

  #touch(): void {
    this.#lastActivity = Date.now()
  }

  #unusableError(action: string): InteractiveSessionError | undefined {
    return this.#state === 'open' ? undefined : this.#endedError(action)
  }

  #endedError(action: string): InteractiveSessionError {
    const why =
      this.#state === 'closed'
        ? 'it was closed; open a new session'
        : `it is dead (${this.#deathReason ?? 'its engine went away'}); open a new session on a running VM`
    return new InteractiveSessionError(`cannot ${action} on session '${this.id}' of VM '${this.vmId}': ${why}`, {
      details: this.#details(),
    })
  }

  #details(): Record<string, unknown> {
    return { sessionId: this.id, vmId: this.vmId, state: this.#state }
  }
}

function reply(
  status: SessionReply['status'],
  output: string,
  stdout: string,
  stderr: string,
  values: SessionReply['values'],
  error?: SessionReply['error'],
): SessionReply {
  return { status, output, stdout, stderr, values, ...(error ? { error } : {}) }
}

/** What `lua.c` would print after the program's own output, for a non-ok result. */
function statusNote(result: ExecResult): string {
  switch (result.status) {
    case 'ok':
      return ''
    case 'error':
      return `${result.error?.message ?? 'error'}\n`
    case 'timeout':
      return `${result.error?.message ?? 'timeout: the input ran past its deadline and was stopped'}\n`
    case 'memory':
      return `${result.error?.message ?? 'not enough memory'}\n`
    case 'output-limit':
      return `${result.stdout.endsWith('\n') || result.stdout === '' ? '' : '\n'}[output truncated at maxOutputBytes]\n`
    case 'killed':
      return 'killed: the input was cancelled\n'
  }
}

function remainder(full: string, streamed: string): string {
  if (streamed === '') return full
  return full.startsWith(streamed) ? full.slice(streamed.length) : ''
}

/** Returns the end index of the first match of `until` in a text, or undefined. */
function toMatcher(until: string | RegExp): (text: string) => number | undefined {
  if (typeof until === 'string') {
    return (text) => {
      const i = text.indexOf(until)
      return i < 0 ? undefined : i + until.length
    }
  }
  // A global or sticky pattern carries lastIndex between calls; a copy without those flags does not.
  const pattern = new RegExp(until.source, until.flags.replace(/[gy]/g, ''))
  return (text) => {
    const m = pattern.exec(text)
    return m ? m.index + m[0].length : undefined
  }
}

function describeUntil(until: string | RegExp): string {
  return typeof until === 'string' ? JSON.stringify(until) : String(until)
}

/** A signal that aborts when any of the given ones does; `dispose` stops listening. */
function combineSignals(...signals: Array<AbortSignal | undefined>): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  const cleanups: Array<() => void> = []
  for (const s of signals) {
    if (!s) continue
    if (s.aborted) {
      controller.abort(s.reason)
      break
    }
    const listener = () => controller.abort(s.reason)
    s.addEventListener('abort', listener, { once: true })
    cleanups.push(() => s.removeEventListener('abort', listener))
  }
  return {
    signal: controller.signal,
    dispose: () => {
      for (const c of cleanups) c()
    },
  }
}
