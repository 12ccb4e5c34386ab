import { type DriverHello, ProtocolError } from '@bioxen-luavm/core'
import type { DriverWorker, WorkerExecOptions, WorkerOutcome } from '../worker/driver-worker.js'
import type { SpawnedWorker } from '../worker/spawn-worker.js'
import { WorkerSlot } from '../worker/worker-slot.js'
import type { ExecutionMode, SessionLease } from './mode.js'

/** How oneshot mode gets its processes. */
export interface OneshotFactories {
  /** A fresh, unstarted worker whose hard memory cap is the given one (the cold path). */
  create(memoryLimitBytes: number | undefined): DriverWorker
  /** A started, ready worker (VM-level limits): the spare, and sessions' private processes. */
  startWorker(): Promise<SpawnedWorker>
  /** Keep one started spare process ready (default behaviour); false spawns on demand. */
  prespawn: boolean
}

/**
 * A fresh interpreter process per execution: nothing survives between
 * executions (no globals, no leaked state, no memory growth). The code
 * still travels in a driver frame over stdin — never in argv — so it has no
 * size limit, may contain NUL bytes and never shows in `ps`.
 *
 * With `prespawn` (the default) one spare process is started and
 * initialised ahead of time: an execution takes it, runs on it, and the
 * process quits; the next spare is already starting. Every execution still
 * gets a process nothing ran in before — only the spawn cost moves off the
 * critical path. Without it (or when the spare failed), program, init,
 * chunk and quit go to a new process in one write (see
 * `DriverWorker.runOnce`).
 *
 * A session gets a private driver process of its own for its lifetime, so
 * a REPL works in this mode too.
 */
export class OneshotMode implements ExecutionMode {
  readonly concurrency = 1
  readonly #factories: OneshotFactories
  readonly #running = new Set<DriverWorker>()
  readonly #leases = new Set<WorkerSlot>()
  readonly #exiting = new Set<Promise<void>>()
  #spare: Promise<SpawnedWorker> | undefined
  #refillTimer: ReturnType<typeof setImmediate> | undefined
  #stopping = false
  #spawned = 0

  constructor(factories: OneshotFactories) {
    this.#factories = factories
  }

  async start(): Promise<DriverHello> {
    if (this.#factories.prespawn) {
      this.#spare = this.#startSpare()
      return (await this.#spare).hello
    }
    // One real run, so a broken interpreter fails start(), not the first execution.
    const worker = this.#factories.create(undefined)
    const outcome = await worker.runOnce('return 1', {
      chunkName: 'luavm-start-check',
      echo: false,
      repl: false,
      timeoutMs: 10_000,
      // Room for the returned value, which counts against the cap.
      maxOutputBytes: 64,
    })
    if (outcome.status !== 'ok' || !worker.hello) {
      throw new ProtocolError(`the interpreter failed its start check: ${outcome.error?.message ?? outcome.status}`)
    }
    return worker.hello
  }

  async run(code: string | Uint8Array, options: WorkerExecOptions): Promise<WorkerOutcome> {
    const spare = this.#takeSpare()
    let worker: DriverWorker | undefined
    if (spare) {
      try {
        worker = (await spare).worker
      } catch {
        worker = undefined // The spare could not start: fall back to a cold process, which reports why.
      }
    }
    if (!worker || worker.dead) {
      try {
        return await this.#runCold(code, options)
      } finally {
        this.#refill()
      }
    }
    this.#running.add(worker)
    try {
      // A per-execution memory cap lowers this fresh process's soft limit.
      return await worker.exec(code, options)
    } finally {
      this.#running.delete(worker)
      this.#retire(worker)
      this.#refill()
    }
  }

  async lease(): Promise<SessionLease> {
    const slot = new WorkerSlot(this.#leases.size, () => this.#factories.startWorker())
    await slot.ensure()
    this.#leases.add(slot)
    return {
      slot,
      generation: slot.generation,
      release: async () => {
        this.#leases.delete(slot)
        await slot.stop()
      },
    }
  }

  async stop(force: boolean): Promise<void> {
    this.#stopping = true
    if (this.#refillTimer) clearImmediate(this.#refillTimer)
    const spare = this.#spare
    this.#spare = undefined
    await Promise.all([
      spare?.then(
        ({ worker }) => worker.stop({ force: true }),
        () => {},
      ),
      ...[...this.#running].map((w) => w.stop({ force: true })),
      ...[...this.#leases].map((s) => s.stop({ force })),
      ...this.#exiting,
    ])
    this.#leases.clear()
  }

  describe(): Record<string, unknown> {
    return {
      mode: 'oneshot',
      prespawn: this.#factories.prespawn,
      processesStarted: this.#spawned,
      running: [...this.#running].map((w) => w.describe()),
      sessionWorkers: [...this.#leases].map((s) => s.worker?.describe()),
    }
  }

  async #runCold(code: string | Uint8Array, options: WorkerExecOptions): Promise<WorkerOutcome> {
    // The process is started with this execution's cap as its hard limit.
    const { memoryLimitBytes, ...rest } = options
    const worker = this.#factories.create(memoryLimitBytes)
    this.#spawned++
    this.#running.add(worker)
    try {
      return await worker.runOnce(code, rest)
    } finally {
      this.#running.delete(worker)
    }
  }

  // Hands out the spare (ready, or still starting — it is ahead of a cold
  // start either way). With none, the caller runs a cold, pipelined process,
  // which is quicker than starting a spare now and then talking to it.
  #takeSpare(): Promise<SpawnedWorker> | undefined {
    if (this.#refillTimer) {
      clearImmediate(this.#refillTimer)
      this.#refillTimer = undefined
    }
    const spare = this.#spare
    this.#spare = undefined
    return this.#stopping ? undefined : spare
  }

  // The next spare starts after the current result is delivered: starting
  // it while an execution runs would make the two compete for the CPU and
  // slow down the very execution the spare is meant to speed up. A caller
  // that sends the next execution at once (a tight loop) cancels it.
  #refill(): void {
    if (!this.#factories.prespawn || this.#refillTimer) return
    this.#refillTimer = setImmediate(() => {
      this.#refillTimer = undefined
      if (!this.#stopping && !this.#spare) this.#spare = this.#startSpare()
    })
  }

  #startSpare(): Promise<SpawnedWorker> {
    this.#spawned++
    const p = this.#factories.startWorker()
    // Awaited later (or stopped); an unawaited failure is not the host's problem.
    p.catch(() => {})
    return p
  }

  // The process ran its one execution: it quits in the background, and
  // stop() waits for every such exit so nothing outlives the VM.
  #retire(worker: DriverWorker): void {
    const p = worker.stop().catch(() => {})
    this.#exiting.add(p)
    void p.finally(() => this.#exiting.delete(p))
  }
}
