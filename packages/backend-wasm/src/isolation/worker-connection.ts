import type { LuaValue } from '@bioxen-luavm/core'
import { startTimer, TaskQueue, type Timer } from '@bioxen-luavm/core'
import type { EngineExecRequest, EngineKind, EngineOptions } from '../engine/types.js'
import { describeThrown, hostResultJson } from '../engine/values.js'
import type { Platform, WorkerLike } from '../platform/types.js'
import { createSharedBlock, HostChannelWriter } from './host-channel.js'
import { epochNow, type ReplyValues, type Request, type RequestBody, type WorkerMessage } from './protocol.js'
import type { EngineRequest, ExecIO, ExecOutcome, HardStop, HostFunctions, StateLoss } from './types.js'

/** How one pool's workers are started. */
export interface ConnectionSettings {
  platform: Platform
  /** The one engine kind this worker hosts (its script bundles only that engine in browsers). */
  engine: EngineKind
  workerUrl?: string | URL | undefined
  maxHeapMb?: number | undefined
  graceMs: number
  /** The compiled glue.wasm every engine of the worker instantiates; absent for fengari, which never touches WebAssembly. */
  wasmModule?: (() => Promise<WebAssembly.Module>) | undefined
}

/** One VM's engine on a worker. */
export interface Slot {
  readonly id: number
  readonly vmId: string
  options: EngineOptions
  readonly hostFunctions: HostFunctions
  readonly onStateLost: (loss: StateLoss) => void
  luaVersion: string
}

interface Pending {
  slot?: number | undefined
  resolve(value: unknown): void
  reject(error: Error): void
  onOutput?: ((chunks: Array<[1 | 2, Uint8Array]>) => void) | undefined
  /** Set for the running execution: how a hard stop ends it. */
  stop?: ((stop: HardStop) => void) | undefined
}

/** A request the worker failed; `crashed` means the engine died with it. */
export class WorkerRequestError extends Error {
  override readonly name = 'WorkerRequestError'
  constructor(
    message: string,
    readonly crashed: boolean,
    readonly memory = false,
  ) {
    super(message)
  }
}

let nextConnectionId = 1
/**
 * Longest wait past deadline + grace for a soft stop the worker has shown
 * to be under way (see WorkerConnection#killUnlessStopping). The abort
 * re-fires on every instruction, so only CPU starvation makes it slow.
 */
const SOFT_STOP_WAIT_MS = 250

/**
 * One worker thread hosting the engines of several VMs.
 *
 * Requests run one at a time (the worker is single-threaded anyway), which
 * lets the host know exactly which execution is running: its deadline
 * timer starts when it is sent, and if the soft deadline inside the worker
 * did not end it by deadline + grace the whole thread is terminated (a
 * hook-free execution, `softDeadline: false`, at the deadline itself). The
 * worker is then started again and every VM it hosted is re-created from
 * its options (mounted modules included); each of them is told that its
 * Lua state was lost.
 */
export class WorkerConnection {
  readonly id = nextConnectionId++
  readonly #settings: ConnectionSettings
  readonly #slots = new Map<number, Slot>()
  readonly #queue = new TaskQueue(1)
  readonly #pending = new Map<number, Pending>()
  readonly #onEmpty: (connection: WorkerConnection) => void
  #worker: WorkerLike | undefined
  #starting: Promise<void> | undefined
  #writer: HostChannelWriter | undefined
  #generation = 0
  #nextRid = 1
  #nextSlot = 1
  #activeCall: number | undefined
  /** Fails the start in progress (its worker is being terminated). */
  #failStart: ((error: Error) => void) | undefined
  /** The execution in flight, and how to cancel it. */
  #running: { slot: number; cancel: () => void } | undefined
  #closed = false

  constructor(settings: ConnectionSettings, onEmpty: (connection: WorkerConnection) => void) {
    this.#settings = settings
    this.#onEmpty = onEmpty
  }

  /** VMs hosted by this worker. */
  get size(): number {
    return this.#slots.size
  }

  /** Ids of the VMs on this worker. */
  get vmIds(): string[] {
    return [...this.#slots.values()].map((s) => s.vmId)
  }

  /** Creates a VM's engine on this worker. */
  async attach(request: EngineRequest): Promise<Slot> {
    if (Object.keys(request.hostFunctions).length > 0 && !this.#settings.platform.sharedMemory) {
      throw new Error(
        'host functions in worker isolation need SharedArrayBuffer; serve the page cross-origin isolated (COOP/COEP headers) or use isolation "inline"',
      )
    }
    const slot: Slot = {
      id: this.#nextSlot++,
      vmId: request.vmId,
      options: request.options,
      hostFunctions: request.hostFunctions,
      onStateLost: request.onStateLost,
      luaVersion: 'unknown',
    }
    this.#slots.set(slot.id, slot)
    try {
      const created = await this.#run({ t: 'create', slot: slot.id, options: slot.options })
      slot.luaVersion = (created as ReplyValues['create']).luaVersion
      return slot
    } catch (error) {
      this.#slots.delete(slot.id)
      this.#maybeEmpty()
      throw error
    }
  }

  /** Removes a VM's engine; the last one out stops the worker. */
  async detach(slot: Slot): Promise<void> {
    if (!this.#slots.delete(slot.id)) return
    // Stopping a VM kills its running work, not its neighbours': cancel softly.
    if (this.#running?.slot === slot.id) this.#running.cancel()
    if (this.#slots.size === 0) {
      this.#maybeEmpty()
      return
    }
    await this.#run({ t: 'destroy', slot: slot.id }).catch(() => undefined)
  }

  /** Compiles a module into a slot's engine; resolves with the compile problem, if any. */
  async mount(slot: Slot, name: string, source: string): Promise<string | undefined> {
    const reply = (await this.#run({ t: 'mount', slot: slot.id, name, source })) as ReplyValues['mount']
    return reply.problem
  }

  /** Resets a slot's Lua state. */
  async reset(slot: Slot): Promise<void> {
    await this.#run({ t: 'reset', slot: slot.id })
  }

  /** A slot's engine facts. */
  async stats(slot: Slot): Promise<ReplyValues['stats']> {
    return (await this.#run({ t: 'stats', slot: slot.id })) as ReplyValues['stats']
  }

  /** Runs code in a slot's engine; resolves with the runtime's JSON or the hard stop that ended it. */
  exec(slot: Slot, request: EngineExecRequest, io: ExecIO): Promise<ExecOutcome> {
    return this.#queue.run(async () => {
      await this.#ensureStarted()
      if (!this.#slots.has(slot.id)) throw new Error('the VM was detached from its worker')
      if (io.signal?.aborted) return { stop: { status: 'killed', message: 'execution cancelled before it started' } }
      const generation = this.#generation
      const rid = this.#nextRid++
      const timers: Timer[] = []
      let onAbort: (() => void) | undefined
      try {
        return await new Promise<ExecOutcome>((resolve, reject) => {
          const deliver = (chunks: Array<[1 | 2, Uint8Array]>) => {
            for (const [stream, bytes] of chunks) io.onOutput(stream, bytes)
          }
          this.#pending.set(rid, {
            slot: slot.id,
            resolve: (value) => {
              const v = value as ReplyValues['exec']
              deliver(v.output)
              resolve({ json: v.json })
            },
            reject: (error) => {
              // An engine that died for lack of memory: a status, not a rejection.
              if (error instanceof WorkerRequestError && error.memory) {
                resolve({ stop: { status: 'memory', message: `${error.message}; the engine was restarted` } })
              } else reject(error)
            },
            onOutput: deliver,
            stop: (stop) => resolve({ stop }),
          })
          const hardStop = (status: HardStop['status'], message: string) => () =>
            this.#lose(generation, `${message} (VM ${slot.vmId})`, { status, message })
          const sentAt = epochNow()
          // With the soft layer the runtime gets the grace to stop the chunk
          // itself (keeping the state); a hook-free run has nothing that
          // could stop it, so the kill comes at the deadline itself.
          const soft = request.softDeadline
          const killAfter = soft ? request.timeoutMs + this.#settings.graceMs : request.timeoutMs
          const kill = hardStop(
            'timeout',
            `execution timed out after ${request.timeoutMs} ms and was stopped by terminating its worker`,
          )
          timers.push(
            startTimer(killAfter, soft ? () => this.#killUnlessStopping(request.timeoutMs, kill, timers) : kill),
          )
          onAbort = () => {
            // Soft cancel first (the worker's clock reads the flag); the
            // thread is terminated only if that does not end the run. A
            // hook-free run never reads the flag in time: kill it at once.
            const kill = hardStop('killed', 'execution cancelled; its worker was terminated')
            if (this.#writer && soft) {
              const cancelledAt = epochNow() - sentAt
              this.#writer.setCancel(true)
              timers.push(startTimer(this.#settings.graceMs, () => this.#killUnlessStopping(cancelledAt, kill, timers)))
            } else {
              kill()
            }
          }
          io.signal?.addEventListener('abort', onAbort, { once: true })
          this.#running = { slot: slot.id, cancel: onAbort }
          try {
            this.#writer?.clearBeat()
            this.#post({ t: 'exec', rid, slot: slot.id, request, sentAt })
          } catch (error) {
            this.#pending.delete(rid)
            reject(error)
          }
        })
      } finally {
        this.#running = undefined
        for (const timer of timers) timer.cancel()
        if (onAbort) io.signal?.removeEventListener('abort', onAbort)
        this.#writer?.setCancel(false)
      }
    })
  }

  /** Terminates the worker for good (process shutdown, tests). */
  async close(): Promise<void> {
    this.#closed = true
    this.#slots.clear()
    const worker = this.#worker
    this.#worker = undefined
    this.#failStart?.(new Error('the worker pool was closed'))
    this.#failPending(new Error('the worker pool was closed'))
    await worker?.terminate()
  }

  // ---- internals -----------------------------------------------------------

  /**
   * The grace after a soft stop was due (the deadline, or a cancel `dueMs`
   * after the execution was sent) is over. If the runtime read its clock
   * within one grace before that point or after it, its deadline hook is
   * alive and the stop is under way: on a loaded machine the thread may just
   * not have had the CPU to finish unwinding, and a kill now would throw away
   * the VM's state for nothing. It gets up to SOFT_STOP_WAIT_MS more. Lua
   * that reads no clock — one long C call, a removed hook, a finalizer — is
   * killed now, so the hard layer stays at deadline + grace for all of them.
   */
  #killUnlessStopping(dueMs: number, kill: () => void, timers: Timer[]): void {
    const beat = this.#writer?.lastBeat()
    if (beat !== undefined && beat >= dueMs - this.#settings.graceMs) timers.push(startTimer(SOFT_STOP_WAIT_MS, kill))
    else kill()
  }

  #run(message: RequestBody): Promise<unknown> {
    return this.#queue.run(async () => {
      await this.#ensureStarted()
      return this.#send(message)
    })
  }

  #send(message: RequestBody): Promise<unknown> {
    const rid = this.#nextRid++
    return new Promise((resolve, reject) => {
      this.#pending.set(rid, { slot: (message as { slot?: number }).slot, resolve, reject })
      try {
        this.#post({ ...message, rid } as Request)
      } catch (error) {
        this.#pending.delete(rid)
        reject(error)
      }
    })
  }

  #post(message: unknown): void {
    const worker = this.#worker
    if (!worker) throw new Error('the worker is not running')
    worker.ref?.()
    worker.post(message)
  }

  #ensureStarted(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the worker pool was closed'))
    if (this.#worker) return Promise.resolve()
    this.#starting ??= this.#start().finally(() => {
      this.#starting = undefined
    })
    return this.#starting
  }

  async #start(): Promise<void> {
    const generation = ++this.#generation
    const { platform, engine, workerUrl, maxHeapMb, wasmModule } = this.#settings
    const [module, locateFile] = wasmModule ? await Promise.all([wasmModule(), platform.locateFile()]) : []
    let started = false
    let ready!: () => void
    let failed!: (error: Error) => void
    const readyPromise = new Promise<void>((resolve, reject) => {
      ready = resolve
      failed = reject
    })
    // Terminating this worker (stop, close, hard kill) removes its event
    // listeners, so whoever terminates it must fail this start explicitly.
    this.#failStart = failed
    const worker = await platform.spawnWorker(
      workerUrl,
      { engine, maxHeapMb },
      {
        message: (data) => {
          const msg = data as WorkerMessage
          if (msg.t === 'ready') ready()
          else if (generation === this.#generation) this.#onMessage(msg)
        },
        error: (error) => {
          // Before it is up, a failure only fails this start (no restart loop).
          if (!started) failed(error)
          else if (generation === this.#generation && this.#worker === worker) this.#onWorkerDied(error)
        },
      },
    )
    if (this.#closed) {
      await worker.terminate()
      throw new Error('the worker pool was closed')
    }
    const shared = platform.sharedMemory ? createSharedBlock() : undefined
    this.#writer = shared ? new HostChannelWriter(shared) : undefined
    this.#worker = worker
    worker.post({ t: 'init', ...(module ? { module, locateFile } : {}), ...(shared ? { shared } : {}) })
    try {
      await readyPromise
      // A restarted worker gets every VM back, fresh but with its modules.
      for (const slot of this.#slots.values()) {
        await this.#send({ t: 'create', slot: slot.id, options: slot.options })
      }
      started = true
    } catch (error) {
      if (this.#failStart === failed) this.#failStart = undefined
      if (this.#worker === worker) this.#worker = undefined
      await worker.terminate().catch(() => undefined)
      throw error
    }
    if (this.#failStart === failed) this.#failStart = undefined
    this.#idle()
  }

  #onMessage(msg: WorkerMessage): void {
    switch (msg.t) {
      case 'reply': {
        const pending = this.#pending.get(msg.rid)
        if (!pending) return
        this.#pending.delete(msg.rid)
        if (msg.ok) pending.resolve(msg.value)
        else {
          if (msg.crashed && pending.slot !== undefined) this.#engineCrashed(pending.slot, msg.error)
          pending.reject(new WorkerRequestError(msg.error, msg.crashed === true, msg.memory === true))
        }
        this.#idle()
        return
      }
      case 'out':
        this.#pending.get(msg.rid)?.onOutput?.(msg.chunks)
        return
      case 'host-call':
        this.#hostCall(msg.call, msg.slot, msg.name, msg.args)
        return
      case 'host-next':
        this.#writer?.next(msg.call)
        return
      case 'host-cancel':
        if (this.#activeCall === msg.call) this.#activeCall = undefined
        this.#writer?.cancel(msg.call)
        return
      default:
        return
    }
  }

  #hostCall(call: number, slotId: number, name: string, args: LuaValue[]): void {
    const writer = this.#writer
    if (!writer) return
    this.#activeCall = call
    const generation = this.#generation
    const fn = this.#slots.get(slotId)?.hostFunctions[name]
    const answer = (payload: string, error: boolean) => {
      if (this.#activeCall === call && this.#generation === generation) writer.answer(call, payload, error)
    }
    if (typeof fn !== 'function') {
      answer('no such host function', true)
      return
    }
    Promise.resolve()
      .then(() => fn(...args))
      .then(
        (value) => answer(hostResultJson(value), false),
        (error: unknown) => answer(describeThrown(error), true),
      )
      .catch((error: unknown) => answer(describeThrown(error), true))
  }

  /** An engine died inside a live worker: only its VM is re-created, and told so. */
  #engineCrashed(slotId: number, reason: string): void {
    const slot = this.#slots.get(slotId)
    if (!slot) return
    try {
      slot.onStateLost({ at: Date.now(), reason, vmIds: [slot.vmId] })
    } catch {
      // The listener's failure must not stop the re-creation.
    }
    void this.#run({ t: 'create', slot: slot.id, options: slot.options }).catch(() => undefined)
  }

  #onWorkerDied(error: Error): void {
    const oom = /ERR_WORKER_OUT_OF_MEMORY|out of memory/i.test(
      `${(error as { code?: string }).code ?? ''} ${error.message}`,
    )
    const stop: HardStop = oom
      ? { status: 'memory', message: 'the worker ran out of memory and was restarted' }
      : { status: 'killed', message: `the worker died (${error.message}) and was restarted` }
    void this.#lose(this.#generation, stop.message, stop)
  }

  /**
   * Terminates the worker of `generation` (unless already replaced), ends
   * the running execution with `stop`, fails other pending requests,
   * restarts the worker and tells every VM on it that its state is gone.
   */
  async #lose(generation: number, reason: string, stop: HardStop): Promise<void> {
    if (generation !== this.#generation || !this.#worker) return
    const worker = this.#worker
    this.#worker = undefined
    this.#writer = undefined
    this.#activeCall = undefined
    for (const [rid, pending] of this.#pending) {
      this.#pending.delete(rid)
      if (pending.stop) pending.stop(stop)
      else pending.reject(new Error(`the worker was restarted: ${reason}`))
    }
    const loss: StateLoss = { at: Date.now(), reason, vmIds: this.vmIds }
    for (const slot of this.#slots.values()) {
      try {
        slot.onStateLost(loss)
      } catch {
        // A listener's failure must not stop the others from hearing.
      }
    }
    await worker.terminate().catch(() => undefined)
    if (this.#slots.size > 0 && !this.#closed) {
      // Restart right away so the next execution does not pay for it.
      await this.#queue.run(() => this.#ensureStarted()).catch(() => undefined)
    }
  }

  #failPending(error: Error): void {
    for (const [rid, pending] of this.#pending) {
      this.#pending.delete(rid)
      if (pending.stop) pending.stop({ status: 'killed', message: error.message })
      else pending.reject(error)
    }
  }

  /** No request in flight: let an idle worker not keep a Node process alive. */
  #idle(): void {
    if (this.#pending.size === 0) this.#worker?.unref?.()
  }

  #maybeEmpty(): void {
    if (this.#slots.size > 0 || this.#closed) return
    this.#closed = true
    const worker = this.#worker
    this.#worker = undefined
    this.#failStart?.(new Error('the worker was stopped'))
    this.#failPending(new Error('the worker was stopped'))
    void worker?.terminate()
    this.#onEmpty(this)
  }
}
