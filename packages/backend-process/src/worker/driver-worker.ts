import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import {
  BackendUnavailableError,
  BOOTSTRAP_LUA,
  DriverConnection,
  type DriverExecOutcome,
  type DriverHello,
  type ExecErrorInfo,
  type ExecStatus,
  type LuaValue,
  ProtocolError,
} from '@bioxen-luavm/core'
import type { LuaInterpreter } from '../interpreters/detect.js'
import { killGroup, spawnInGroup } from '../spawn/process-group.js'
import { addressSpaceLimit, setSoftAddressSpaceLimit, withAddressSpaceLimit } from '../spawn/rlimit.js'
import { cutOutput } from './output-cap.js'

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
  onStdout?(chunk: string): void
  onStderr?(chunk: string): void
}

/** What one execution did, before the VM turns it into an `ExecResult`. */
export interface WorkerOutcome {
  status: ExecStatus
  values: LuaValue[]
  stdout: string
  stderr: string
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

let workerCounter = 0

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
  #rawErr: { parts: string[]; bytes: number; onChunk?: (text: string) => void; limit: number; over: () => void } | undefined
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
    let command = o.interpreter.path
    let args: string[] = ['-e', BOOTSTRAP_LUA]
    if (this.#hardLimit !== 'unlimited') {
      if (!o.prlimitPath) throw new BackendUnavailableError('memoryLimitBytes needs prlimit (util-linux)')
      ;({ command, args } = withAddressSpaceLimit(o.prlimitPath, this.#hardLimit, command, args))
    }
    const child = spawnInGroup(command, args, { env: o.env, ...(o.cwd === undefined ? {} : { cwd: o.cwd }) })
    this.#child = child
    const startupErr: string[] = []
    const connection = new DriverConnection({
      write: (bytes) => {
        child.stdin.write(bytes)
      },
    })
    this.#connection = connection
    child.stdout.on('data', (chunk: Buffer) => connection.receive(chunk))
    child.stderr.on('data', (chunk: Buffer) => this.#onRawStderr(chunk, startupErr))
    child.on('exit', (code, signal) => this.#onExit(code, signal))
    child.on('error', (error) => {
      // ENOENT/EACCES on spawn: no 'exit' follows, so finish here.
      startupErr.push(error.message)
      this.#onExit(null, null, error.message)
    })

    let timer: ReturnType<typeof setTimeout> | undefined
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill('start-timeout')
        reject(
          new BackendUnavailableError(
            `${o.interpreter.label} (${o.interpreter.path}) did not finish starting the driver within ${o.startTimeoutMs} ms`,
          ),
        )
      }, o.startTimeoutMs)
    })
    try {
      const hello = await Promise.race([connection.init({ sandbox: o.sandbox, grants: [...o.grants] }), timedOut])
      this.#hello = hello
      this.#setRef(false)
      return hello
    } catch (error) {
      this.kill('stop')
      await this.#exited
      const stderr = startupErr.join('').trim()
      const why = error instanceof Error ? error.message : String(error)
      throw new BackendUnavailableError(
        `${o.interpreter.label} (${o.interpreter.path}) could not start the driver: ${why}${stderr ? ` — stderr: ${stderr.slice(0, 500)}` : ''}` +
          (this.#hardLimit !== 'unlimited' ? ' (a memoryLimitBytes that is too small also stops the interpreter from starting)' : ''),
        { cause: error },
      )
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Runs one chunk. Resolves for everything the chunk did, including the
   * process dying under it (`died` is set then); rejects only when the
   * worker was already dead or a memory limit could not be applied.
   */
  async exec(code: string, opts: WorkerExecOptions): Promise<WorkerOutcome> {
    const connection = this.#connection
    if (!connection || this.dead) throw new ProtocolError(`driver worker ${this.seq} is not running`)
    if (this.#busy) throw new ProtocolError(`driver worker ${this.seq} is busy; executions must be serialized`)
    const started = performance.now()
    if (opts.signal?.aborted) return this.#outcome('killed', started, '', '', 'cancelled before it started')
    this.#busy = true
    this.#executions++
    this.#setRef(true)
    let hardTimer: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined
    const raw = {
      parts: [] as string[],
      bytes: 0,
      limit: opts.maxOutputBytes,
      over: () => this.kill('output-limit'),
      ...(opts.onStderr ? { onChunk: opts.onStderr } : {}),
    }
    try {
      await this.#applyMemoryLimit(opts.memoryLimitBytes)
      this.#rawErr = raw
      const streamed = { out: 0, err: 0 }
      const pending = connection.exec(code, {
        chunkName: opts.chunkName,
        echo: opts.echo,
        repl: opts.repl,
        timeoutMs: opts.timeoutMs,
        maxOutputBytes: opts.maxOutputBytes,
        onStdout: (t) => {
          streamed.out += t.length
          opts.onStdout?.(t)
        },
        onStderr: (t) => {
          streamed.err += t.length
          opts.onStderr?.(t)
        },
      })
      hardTimer = setTimeout(() => this.kill('timeout'), opts.timeoutMs + this.#options.killGraceMs)
      if (opts.signal) {
        onAbort = () => this.kill('killed')
        opts.signal.addEventListener('abort', onAbort, { once: true })
      }
      let reply: DriverExecOutcome | undefined
      let failure: unknown
      try {
        reply = await pending
      } catch (error) {
        failure = error
      }
      clearTimeout(hardTimer)
      if (reply) {
        // Raw stderr written just before the reply may sit in the other
        // pipe's buffer: one turn of the event loop lets it arrive.
        await new Promise((resolve) => setImmediate(resolve))
        this.#rawErr = undefined
        return this.#finish(reply, raw, opts.maxOutputBytes, started)
      }
      // The connection broke: the process died or was killed under the chunk.
      const exit = await this.#waitExit()
      this.#rawErr = undefined
      return this.#deathOutcome(exit, failure, raw, opts, started)
    } finally {
      clearTimeout(hardTimer)
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort)
      this.#rawErr = undefined
      this.#busy = false
      if (!this.dead) this.#setRef(false)
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
      return
    }
    // Keep the host alive until the exit is seen: an idle worker is unref'd,
    // and a host that awaits stop() must not exit with the group still there.
    this.#setRef(true)
    if (options.force || this.#busy || !this.#connection || this.#connection.dead) {
      this.kill('stop')
    } else {
      this.#connection.quit().catch(() => {})
      this.#child.stdin.end()
      const grace = setTimeout(() => this.kill('stop'), options.graceMs ?? 500)
      await this.#exited
      clearTimeout(grace)
    }
    await this.#exited
    this.#cleanupGroup()
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

  #finish(reply: DriverExecOutcome, raw: { parts: string[] }, max: number, started: number): WorkerOutcome {
    const rawText = raw.parts.join('')
    const cut = cutOutput(reply.stdout, reply.stderr + rawText, max)
    let status: ExecStatus = reply.status
    if (cut.truncated && status === 'ok') status = 'output-limit'
    const error =
      reply.error ??
      (status === 'output-limit' ? { message: `output limit of ${max} bytes exceeded`, kind: 'runtime' as const } : undefined)
    return {
      status,
      values: reply.values,
      stdout: cut.stdout,
      stderr: cut.stderr,
      truncated: reply.truncated || cut.truncated,
      incomplete: reply.incomplete,
      ...(error ? { error } : {}),
      durationMs: performance.now() - started,
    }
  }

  #deathOutcome(
    exit: WorkerExit,
    failure: unknown,
    raw: { parts: string[] },
    opts: WorkerExecOptions,
    started: number,
  ): WorkerOutcome {
    const rawText = raw.parts.join('')
    const cut = cutOutput('', rawText, opts.maxOutputBytes)
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`
    const base = { stdout: cut.stdout, stderr: cut.stderr, values: [] as LuaValue[], incomplete: false }
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
        return done('output-limit', `output limit of ${opts.maxOutputBytes} bytes exceeded (the process group was killed)`, true)
      case 'protocol':
        return done(
          'error',
          `the driver's frame channel broke (${failure instanceof Error ? failure.message : String(failure)}); ` +
            'something wrote to the interpreter\'s stdout directly — the worker was replaced',
        )
      default:
        break
    }
    const limited = this.#softLimit !== 'unlimited'
    if (limited && (/not enough memory|cannot allocate memory|bad_alloc/i.test(rawText) || exit.signal === 'SIGSEGV' || exit.signal === 'SIGABRT' || exit.signal === 'SIGKILL')) {
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

  #outcome(status: ExecStatus, started: number, stdout: string, stderr: string, message?: string): WorkerOutcome {
    return {
      status,
      values: [],
      stdout,
      stderr,
      truncated: false,
      incomplete: false,
      ...(message ? { error: { message, kind: 'runtime' as const } } : {}),
      durationMs: performance.now() - started,
    }
  }

  #onRawStderr(chunk: Buffer, startupErr: string[]): void {
    const text = this.#rawDecoder.decode(chunk, { stream: true })
    const target = this.#rawErr
    if (!this.#hello) {
      startupErr.push(text)
      return
    }
    if (!target) return // Idle noise (a background child); nobody to attribute it to.
    target.parts.push(text)
    target.bytes += chunk.byteLength
    target.onChunk?.(text)
    if (target.bytes > target.limit) target.over()
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null, spawnError?: string): void {
    if (this.#exit) return
    const exit: WorkerExit = { code, signal, ...(this.#killedFor ? { killedFor: this.#killedFor } : {}) }
    this.#exit = exit
    this.#connection?.close(
      spawnError ?? `${this.#options.interpreter.label} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}`,
    )
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

  async #waitExit(): Promise<WorkerExit> {
    // A broken protocol with a live process (a stray byte on stdout) leaves
    // a driver nobody can talk to: end it.
    if (!this.#exit) this.kill('protocol')
    const exit = await this.#exited
    return exit
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
