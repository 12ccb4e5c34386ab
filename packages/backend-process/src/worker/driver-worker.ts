import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import {
  BackendUnavailableError,
  BOOTSTRAP_LUA,
  bytesToText,
  concatBytes,
  cutOutput,
  DEFAULT_MAX_FRAME_BYTES,
  DriverConnection,
  type DriverExecOutcome,
  type DriverHello,
  type ExecErrorInfo,
  type ExecStatus,
  encodeBootstrapPayload,
  encodeExec,
  encodeInit,
  encodeQuit,
  type LuaValue,
  type OutputFields,
  OutputStream,
  outputFields,
  ProtocolError,
  startTimer,
  type Timer,
} from '@bioxen-luavm/core'
import type { LuaInterpreter } from '../interpreters/detect.js'
import { killGroup, spawnInGroup, waitGroupGone } from '../spawn/process-group.js'
import { addressSpaceLimit, setSoftAddressSpaceLimit, withAddressSpaceLimit } from '../spawn/rlimit.js'
import { PipelinedRun } from './pipelined-run.js'
import { precompiledBootstrap } from './program-cache.js'

/** How to start one driver process. */
export interface DriverWorkerOptions {
  interpreter: LuaInterpreter
  env: Record<string, string>
  cwd?: string
  sandbox: boolean
  grants: readonly string[]
  /** Memory cap the process is started with (hard RLIMIT_AS); needs `prlimitPath`. */
  memoryLimitBytes?: number
  prlimitPath?: string
  /** Deadline of spawn + handshake. */
  startTimeoutMs: number
  /** Wait after an execution's deadline before the process group is killed. */
  killGraceMs: number
  /** Pass deadlines to the runtime's hook (the soft layer); false leaves only the hard kill. */
  softDeadline?: boolean
  /** Send the driver program as cached bytecode (default true); false sends source. */
  precompile?: boolean
}

/** What one execution needs. */
export interface WorkerExecOptions {
  chunkName: string
  echo: boolean
  repl: boolean
  timeoutMs: number
  maxOutputBytes: number
  /** Cap for this execution; applied by lowering the soft RLIMIT_AS when it differs. */
  memoryLimitBytes?: number
  signal?: AbortSignal
  onStdout?(chunk: string, bytes: Uint8Array): void
  onStderr?(chunk: string, bytes: Uint8Array): void
}

/** What one execution did, before the VM turns it into an `ExecResult`. */
export interface WorkerOutcome extends OutputFields {
  status: ExecStatus
  values: LuaValue[]
  truncated: boolean
  incomplete: boolean
  error?: ExecErrorInfo
  /** Set when the process is gone afterwards (killed or exited): the caller replaces it. */
  died?: string
  durationMs: number
}

/** Why a worker's process ended, when it did. */
export interface WorkerExit {
  code: number | null
  signal: NodeJS.Signals | null
  /** Our own reason when we killed it (`timeout`, `killed`, `output-limit`, `stop`). */
  killedFor?: KillReason
}

type KillReason = 'timeout' | 'killed' | 'output-limit' | 'stop' | 'start-timeout' | 'protocol'

// Raw stderr of the process during one execution, with the cap it counts against.
interface RawCapture {
  stream: OutputStream
  limit: number
  over: () => void
}

// Output frames of one execution as they arrived. The reply carries the
// same text when the chunk finishes; when the process dies first (hard
// deadline, cancel, os.exit) this is what the chunk got out before.
interface StreamedOutput {
  stdout: Uint8Array[]
  stderr: Uint8Array[]
}

let workerCounter = 0

// How long after the process exited its output may still be drained.
const READER_CLOSE_FALLBACK_MS = 1_000

/**
 * One interpreter process running the shared driver (`lua -e BOOTSTRAP_LUA`,
 * program and chunks over stdin frames, replies over stdout frames) in its
 * own process group. Limits:
 * - the runtime's hook is the soft deadline (state survives); a host timer
 *   at `timeoutMs + killGraceMs` SIGKILLs the whole group (the hard one);
 * - cancelling kills the group at once;
 * - raw stderr of the process (C code, child processes) counts against the
 *   output cap, and a flood there kills the group too;
 * - memory is RLIMIT_AS, set at spawn through `prlimit` and lowered per
 *   execution with `prlimit --pid`.
 * A worker never restarts itself: once {@link dead} the owner replaces it.
 */
export class DriverWorker {
  /** Sequence number, for status details and logs. */
  readonly seq = ++workerCounter
  readonly #options: DriverWorkerOptions
  #child: ChildProcessWithoutNullStreams | undefined
  #connection: DriverConnection | undefined
  #hello: DriverHello | undefined
  #exit: WorkerExit | undefined
  #exited: Promise<WorkerExit>
  #resolveExited!: (exit: WorkerExit) => void
  #killedFor: KillReason | undefined
  #busy = false
  #executions = 0
  readonly #startedAt = Date.now()
  // Raw stderr of the process; attributed to the running execution.
  #rawErr: RawCapture | undefined
  // Extra reactions to the process ending (a pipelined reader fails its waiters).
  readonly #onExitHooks: Array<(reason: string) => void> = []
  #exitReason: string | undefined
  readonly #rawDecoder = new TextDecoder()
  #softLimit: number | 'unlimited' = 'unlimited'
  readonly #hardLimit: number | 'unlimited'
  readonly #deathListeners = new Set<(exit: WorkerExit) => void>()

  constructor(options: DriverWorkerOptions) {
    this.#options = options
    this.#hardLimit = options.memoryLimitBytes === undefined ? 'unlimited' : addressSpaceLimit(options.memoryLimitBytes)
    this.#softLimit = this.#hardLimit
    this.#exited = new Promise((resolve) => {
      this.#resolveExited = resolve
    })
  }

  /** The interpreter's pid (also its process group id), once spawned. */
  get pid(): number | undefined {
    return this.#child?.pid
  }

  /** What the driver said about itself at start. */
  get hello(): DriverHello | undefined {
    return this.#hello
  }

  /** True once the process is gone or the protocol broke. */
  get dead(): boolean {
    return this.#exit !== undefined || this.#connection?.dead === true
  }

  /**
   * True once a kill was ordered but the process has not exited yet. A
   * cancel that lands after the chunk's reply was written still kills the
   * process; until its exit is seen it is not `dead`, and must not be given
   * the next execution (which would die of the earlier cancel).
   */
  get dying(): boolean {
    return this.#killedFor !== undefined && this.#exit === undefined
  }

  /** True while an execution runs. */
  get busy(): boolean {
    return this.#busy
  }

  /** Executions this worker ran. */
  get executions(): number {
    return this.#executions
  }

  /** The hard memory cap this process was started with, in bytes of address space. */
  get hardAddressSpaceLimit(): number | 'unlimited' {
    return this.#hardLimit
  }

  /** Resolves when the process has exited. */
  get exited(): Promise<WorkerExit> {
    return this.#exited
  }

  /** Calls `listener` once when the process ends (for any reason); returns an unsubscribe function. */
  onDeath(listener: (exit: WorkerExit) => void): () => void {
    if (this.#exit) {
      listener(this.#exit)
      return () => {}
    }
    this.#deathListeners.add(listener)
    return () => this.#deathListeners.delete(listener)
  }

  /**
   * Spawns the interpreter, sends the driver program and the init frame,
   * and waits for the hello. Rejects (and leaves nothing running) when the
   * process dies or does not answer within `startTimeoutMs`.
   */
  async start(): Promise<DriverHello> {
    const o = this.#options
    const program = o.precompile === false ? undefined : await precompiledBootstrap(o.interpreter)
    const startupErr: string[] = []
    const child = this.#spawn(startupErr)
    const connection = new DriverConnection({
      write: (bytes) => {
        child.stdin.write(bytes)
      },
    })
    this.#connection = connection
    child.stdout.on('data', (chunk: Buffer) => connection.receive(chunk))
    try {
      // The precompiled program goes first; init then skips sending source.
      if (program) child.stdin.write(program)
      const init = connection.init({ sandbox: o.sandbox, grants: [...o.grants], sendProgram: program === undefined })
      this.#hello = await this.#withStartDeadline(init)
      this.#setRef(false)
      return this.#hello
    } catch (error) {
      throw await this.#startFailed(error, startupErr)
    }
  }

  /**
   * Runs one chunk. Resolves for everything the chunk did, including the
   * process dying under it (`died` is set then); rejects only when the
   * worker was already dead or a memory limit could not be applied.
   */
  async exec(code: string | Uint8Array, opts: WorkerExecOptions): Promise<WorkerOutcome> {
    const connection = this.#connection
    if (!connection || this.dead) throw new ProtocolError(`driver worker ${this.seq} is not running`)
    if (this.#busy) throw new ProtocolError(`driver worker ${this.seq} is busy; executions must be serialized`)
    const started = performance.now()
    if (opts.signal?.aborted) return cancelledOutcome(started)
    this.#busy = true
    this.#executions++
    this.#setRef(true)
    try {
      if (opts.memoryLimitBytes !== undefined || this.#softLimit !== this.#hardLimit) {
        await this.#applyMemoryLimit(opts.memoryLimitBytes)
      }
      const raw = this.#captureRawStderr(opts)
      const streamed: StreamedOutput = { stdout: [], stderr: [] }
      const pending = connection.exec(code, this.#wireOptions(opts, streamed))
      return await this.#track(pending, opts, started, raw, streamed)
    } finally {
      this.#busy = false
      if (!this.dead) this.#setRef(false)
    }
  }

  /**
   * One-shot execution in this (fresh, never started) worker: the program,
   * init, the chunk and quit all go out in one write, so the process costs
   * no round trip per request; then the process exits. The worker cannot be
   * used again afterwards.
   */
  async runOnce(code: string | Uint8Array, opts: WorkerExecOptions): Promise<WorkerOutcome> {
    if (this.#child) throw new ProtocolError(`driver worker ${this.seq} was already started`)
    const started = performance.now()
    if (opts.signal?.aborted) return cancelledOutcome(started)
    const o = this.#options
    const program =
      (o.precompile === false ? undefined : await precompiledBootstrap(o.interpreter)) ?? encodeBootstrapPayload()
    const startupErr: string[] = []
    const child = this.#spawn(startupErr)
    const streamed: StreamedOutput = { stdout: [], stderr: [] }
    const { onStdout, onStderr, ...wire } = this.#wireOptions(opts, streamed)
    const run = new PipelinedRun([{ id: 1, onStdout, onStderr }])
    child.stdout.on('data', (chunk: Buffer) => run.receive(chunk))
    this.#onExitHooks.push((reason) => run.close(reason))
    this.#busy = true
    this.#executions++
    try {
      const init = encodeInit({ sandbox: o.sandbox, grants: [...o.grants], maxFrameBytes: DEFAULT_MAX_FRAME_BYTES })
      child.stdin.end(Buffer.concat([program, init, encodeExec({ id: 1, ...wire }, code), encodeQuit()]))
      try {
        this.#hello = await this.#withStartDeadline(run.hello)
      } catch (error) {
        throw await this.#startFailed(error, startupErr)
      }
      const raw = this.#captureRawStderr(opts)
      const outcome = await this.#track(run.result(0), opts, started, raw, streamed)
      await this.stop({ graceMs: 1_000 })
      return outcome
    } finally {
      this.#busy = false
    }
  }

  /**
   * Ends the process: asks the driver to quit (it finishes nothing — the
   * caller stops only idle workers gracefully) and SIGKILLs the group after
   * `graceMs` or at once with `force`. Resolves when it has exited.
   */
  async stop(options: { force?: boolean; graceMs?: number } = {}): Promise<void> {
    if (!this.#child || this.#exit) {
      this.#cleanupGroup()
      await this.#groupGone()
      return
    }
    // Keep the host alive until the exit is seen: an idle worker is unref'd,
    // and a host that awaits stop() must not exit with the group still there.
    this.#setRef(true)
    if (options.force || (this.#busy && this.#connection) || this.#connection?.dead) {
      this.kill('stop')
    } else {
      // A one-shot worker already sent its quit frame; a persistent one does now.
      this.#connection?.quit().catch(() => {})
      this.#child.stdin.end()
      const grace = setTimeout(() => this.kill('stop'), options.graceMs ?? 500)
      await this.#exited
      clearTimeout(grace)
    }
    await this.#exited
    this.#cleanupGroup()
    await this.#groupGone()
  }

  /** SIGKILLs the whole process group (and strays that left it) right now. */
  kill(reason: KillReason): void {
    const pid = this.#child?.pid
    if (pid === undefined || this.#exit) return
    this.#killedFor ??= reason
    killGroup(pid, { descendants: true })
  }

  /** Status facts for `getStatus().details`. */
  describe(): Record<string, unknown> {
    return {
      seq: this.seq,
      pid: this.pid,
      busy: this.#busy,
      dead: this.dead,
      executions: this.#executions,
      uptimeMs: Date.now() - this.#startedAt,
      addressSpaceLimit: this.#hardLimit,
    }
  }

  // ---- internals ---------------------------------------------------------

  // Spawns the interpreter (under prlimit when capped) in its own group and
  // wires stderr and exit; stdout is wired by the caller's frame reader.
  #spawn(startupErr: string[]): ChildProcessWithoutNullStreams {
    const o = this.#options
    let command = o.interpreter.path
    let args: string[] = ['-e', BOOTSTRAP_LUA]
    if (this.#hardLimit !== 'unlimited') {
      if (!o.prlimitPath) throw new BackendUnavailableError('memoryLimitBytes needs prlimit (util-linux)')
      ;({ command, args } = withAddressSpaceLimit(o.prlimitPath, this.#hardLimit, command, args))
    }
    const child = spawnInGroup(command, args, { env: o.env, ...(o.cwd === undefined ? {} : { cwd: o.cwd }) })
    this.#child = child
    child.stderr.on('data', (chunk: Buffer) => this.#onRawStderr(chunk, startupErr))
    child.on('exit', (code, signal) => this.#onExit(code, signal))
    // Frame readers end on 'close' — the process is gone *and* its pipes are
    // drained — not on 'exit', which can come before the last frames the
    // driver wrote (a hello and a reply just before it quit) were read.
    child.on('close', () => this.#closeReaders())
    child.on('error', (error) => {
      // ENOENT/EACCES on spawn: no 'exit' follows, so finish here.
      startupErr.push(error.message)
      this.#onExit(null, null, error.message)
      this.#closeReaders()
    })
    return child
  }

  async #withStartDeadline<T>(pending: Promise<T>): Promise<T> {
    const o = this.#options
    let timer: ReturnType<typeof setTimeout> | undefined
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill('start-timeout')
        reject(new Error(`no hello within ${o.startTimeoutMs} ms`))
      }, o.startTimeoutMs)
    })
    try {
      return await Promise.race([pending, timedOut])
    } finally {
      clearTimeout(timer)
    }
  }

  async #startFailed(error: unknown, startupErr: string[]): Promise<BackendUnavailableError> {
    const o = this.#options
    this.kill('stop')
    await this.#exited
    await this.#groupGone()
    const stderr = startupErr.join('').trim()
    const why = error instanceof Error ? error.message : String(error)
    return new BackendUnavailableError(
      `${o.interpreter.label} (${o.interpreter.path}) could not start the driver: ${why}${stderr ? ` — stderr: ${stderr.slice(0, 500)}` : ''}` +
        (this.#hardLimit !== 'unlimited'
          ? ' (a memoryLimitBytes that is too small also stops the interpreter from starting)'
          : ''),
      { cause: error },
    )
  }

  // The exec request for the driver; its output callbacks record what
  // streams in (for an execution the process does not survive) and pass it on.
  #wireOptions(opts: WorkerExecOptions, streamed: StreamedOutput) {
    const { onStdout, onStderr } = opts
    return {
      chunkName: opts.chunkName,
      echo: opts.echo,
      repl: opts.repl,
      // Without the soft layer the runtime installs no hook at all: PUC
      // Lua runs at full speed, LuaJIT keeps its JIT on.
      ...(this.#options.softDeadline === false ? {} : { timeoutMs: opts.timeoutMs }),
      maxOutputBytes: opts.maxOutputBytes,
      onStdout: (chunk: string, bytes: Uint8Array) => {
        streamed.stdout.push(bytes)
        onStdout?.(chunk, bytes)
      },
      onStderr: (chunk: string, bytes: Uint8Array) => {
        streamed.stderr.push(bytes)
        onStderr?.(chunk, bytes)
      },
    }
  }

  #captureRawStderr(opts: WorkerExecOptions): RawCapture {
    const raw: RawCapture = {
      stream: new OutputStream(opts.onStderr),
      limit: opts.maxOutputBytes,
      over: () => this.kill('output-limit'),
    }
    this.#rawErr = raw
    return raw
  }

  // The hard layer: the whole group is killed at timeoutMs + killGraceMs
  // (at timeoutMs without the soft layer), whatever the process is doing.
  // With the soft layer on, the runtime's hook stops the chunk at the
  // deadline itself (keeping the state) and the grace is its head start; a
  // chunk blocked in C (os.execute, a socket, one long string.rep) cannot
  // be stopped by the hook and is killed when the grace is over.
  #armHardDeadline(timeoutMs: number): Timer {
    const grace = this.#options.softDeadline === false ? 0 : this.#options.killGraceMs
    return startTimer(timeoutMs + grace, () => this.kill('timeout'))
  }

  // Enforces the hard deadline and the cancel on a running chunk, then
  // turns its reply — or the death of the process — into an outcome.
  async #track(
    pending: Promise<DriverExecOutcome>,
    opts: WorkerExecOptions,
    started: number,
    raw: RawCapture,
    streamed: StreamedOutput,
  ): Promise<WorkerOutcome> {
    let onAbort: (() => void) | undefined
    const hard = this.#armHardDeadline(opts.timeoutMs)
    try {
      if (opts.signal) {
        onAbort = () => this.kill('killed')
        opts.signal.addEventListener('abort', onAbort, { once: true })
        if (opts.signal.aborted) onAbort()
      }
      let reply: DriverExecOutcome | undefined
      let failure: unknown
      try {
        reply = await pending
      } catch (error) {
        failure = error
      }
      hard.cancel()
      if (reply) {
        // Raw stderr written just before the reply may sit in the other
        // pipe's buffer: one turn of the event loop lets it arrive.
        await new Promise((resolve) => setImmediate(resolve))
        this.#rawErr = undefined
        return this.#finish(reply, raw, opts.maxOutputBytes, started)
      }
      // The stream broke: the process died or was killed under the chunk.
      const exit = await this.#waitExit()
      this.#rawErr = undefined
      return this.#deathOutcome(exit, failure, raw, streamed, opts, started)
    } finally {
      hard.cancel()
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort)
      this.#rawErr = undefined
    }
  }

  async #applyMemoryLimit(memoryLimitBytes: number | undefined): Promise<void> {
    const pid = this.pid
    if (pid === undefined) return
    let target: number | 'unlimited' =
      memoryLimitBytes === undefined ? this.#hardLimit : addressSpaceLimit(memoryLimitBytes)
    // An execution may lower the VM's cap, never lift it (the hard limit is
    // the operator's ceiling and unprivileged processes cannot raise it).
    if (this.#hardLimit !== 'unlimited' && target !== 'unlimited' && target > this.#hardLimit) target = this.#hardLimit
    if (target === this.#softLimit) return
    const prlimit = this.#options.prlimitPath
    if (!prlimit) {
      throw new BackendUnavailableError(
        '`prlimit` (util-linux) was not found on PATH, so memoryLimitBytes cannot be enforced; install util-linux or drop memoryLimitBytes',
      )
    }
    await setSoftAddressSpaceLimit(prlimit, pid, target, this.#hardLimit)
    this.#softLimit = target
  }

  #finish(reply: DriverExecOutcome, raw: RawCapture, max: number, started: number): WorkerOutcome {
    const cut = cutOutput(reply.stdoutBytes, concatBytes([reply.stderrBytes, raw.stream.bytes]), max)
    let status: ExecStatus = reply.status
    if (cut.truncated && status === 'ok') status = 'output-limit'
    const error =
      reply.error ??
      (status === 'output-limit'
        ? { message: `output limit of ${max} bytes exceeded`, kind: 'runtime' as const }
        : undefined)
    return {
      status,
      values: reply.values,
      ...outputFields(cut.stdout, cut.stderr, reply.truncated || cut.truncated),
      truncated: reply.truncated || cut.truncated,
      incomplete: reply.incomplete,
      ...(error ? { error } : {}),
      durationMs: performance.now() - started,
    }
  }

  #deathOutcome(
    exit: WorkerExit,
    failure: unknown,
    raw: RawCapture,
    streamed: StreamedOutput,
    opts: WorkerExecOptions,
    started: number,
  ): WorkerOutcome {
    // What the runtime pushed before the end (it flushes on a timer, on
    // io.stdout:flush(), before os.execute and os.exit), then raw stderr.
    const cut = cutOutput(
      concatBytes(streamed.stdout),
      concatBytes([...streamed.stderr, raw.stream.bytes]),
      opts.maxOutputBytes,
    )
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`
    const base = { ...outputFields(cut.stdout, cut.stderr, true), values: [] as LuaValue[], incomplete: false }
    const done = (status: ExecStatus, message: string | undefined, truncated = cut.truncated): WorkerOutcome => ({
      ...base,
      status,
      truncated,
      ...(message === undefined ? {} : { error: { message, kind: 'runtime' as const } }),
      died: `${this.#options.interpreter.label} ${how}`,
      durationMs: performance.now() - started,
    })
    switch (exit.killedFor) {
      case 'timeout':
        return done('timeout', `execution timed out after ${opts.timeoutMs} ms (the process group was killed)`)
      case 'killed':
      case 'stop':
        return done('killed', 'the execution was cancelled and its process group killed')
      case 'output-limit':
        return done(
          'output-limit',
          `output limit of ${opts.maxOutputBytes} bytes exceeded (the process group was killed)`,
          true,
        )
      case 'protocol':
        return done(
          'error',
          `the driver's frame channel broke (${failure instanceof Error ? failure.message : String(failure)}); ` +
            "something wrote to the interpreter's stdout directly — the worker was replaced",
        )
      default:
        break
    }
    const limited = this.#softLimit !== 'unlimited'
    if (
      limited &&
      (/not enough memory|cannot allocate memory|bad_alloc/i.test(bytesToText(raw.stream.bytes)) ||
        exit.signal === 'SIGSEGV' ||
        exit.signal === 'SIGABRT' ||
        exit.signal === 'SIGKILL')
    ) {
      return done('memory', `not enough memory (the interpreter ${how} under its memory limit)`)
    }
    if (exit.code === 0 && !exit.signal) {
      // The chunk ended the interpreter itself (os.exit(0) / os.exit(true)):
      // a successful end of the program, though the process is gone.
      return done('ok', undefined)
    }
    if (exit.code !== null) {
      return done('error', `the Lua process exited with status ${exit.code} while running the chunk (os.exit?)`)
    }
    const detail = failure instanceof Error ? `: ${failure.message}` : ''
    return done('killed', `the Lua interpreter ${how}${detail}`)
  }

  #onRawStderr(chunk: Buffer, startupErr: string[]): void {
    const target = this.#rawErr
    if (!this.#hello) {
      startupErr.push(this.#rawDecoder.decode(chunk, { stream: true }))
      return
    }
    if (!target) return // Idle noise (a background child); nobody to attribute it to.
    target.stream.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    if (target.stream.byteLength > target.limit) target.over()
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null, spawnError?: string): void {
    if (this.#exit) return
    const exit: WorkerExit = { code, signal, ...(this.#killedFor ? { killedFor: this.#killedFor } : {}) }
    this.#exit = exit
    this.#exitReason =
      spawnError ??
      `${this.#options.interpreter.label} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}`
    // A process that escaped the group (setsid) may still hold the pipe and
    // delay 'close' forever; the readers must end anyway.
    setTimeout(() => this.#closeReaders(), READER_CLOSE_FALLBACK_MS).unref()
    this.#cleanupGroup()
    this.#resolveExited(exit)
    for (const listener of [...this.#deathListeners]) {
      try {
        listener(exit)
      } catch {
        // A listener's bug must not stop the others.
      }
    }
    this.#deathListeners.clear()
  }

  #closeReaders(): void {
    const reason = this.#exitReason ?? `${this.#options.interpreter.label} closed its output`
    this.#connection?.close(reason)
    for (const hook of this.#onExitHooks.splice(0)) hook(reason)
  }

  async #waitExit(): Promise<WorkerExit> {
    // A broken protocol with a live process (a stray byte on stdout) leaves
    // a driver nobody can talk to: end it.
    if (!this.#exit) this.kill('protocol')
    const exit = await this.#exited
    await this.#groupGone()
    return exit
  }

  // SIGKILL is asynchronous: the members of the group are gone a moment
  // later, and callers are told only then.
  async #groupGone(): Promise<void> {
    const pid = this.#child?.pid
    if (pid !== undefined) await waitGroupGone(pid)
  }

  #cleanupGroup(): void {
    const pid = this.#child?.pid
    if (pid !== undefined) killGroup(pid)
  }

  // An idle worker must not keep the host's event loop alive: a script that
  // forgets stop() still exits, and the exit hook kills the group.
  #setRef(active: boolean): void {
    const child = this.#child
    if (!child) return
    const method = active ? 'ref' : 'unref'
    child[method]()
    for (const stream of [child.stdin, child.stdout, child.stderr] as Array<{ ref?: () => void; unref?: () => void }>) {
      stream[method]?.()
    }
  }
}

function cancelledOutcome(started: number): WorkerOutcome {
  return {
    status: 'killed',
    values: [],
    ...outputFields(new Uint8Array(0), new Uint8Array(0), false),
    truncated: false,
    incomplete: false,
    error: { message: 'cancelled before it started', kind: 'runtime' },
    durationMs: performance.now() - started,
  }
}
