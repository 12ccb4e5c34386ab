import type { DriverHello } from '@bioxen-luavm/core'
import type { WorkerExecOptions, WorkerOutcome } from '../worker/driver-worker.js'
import type { SpawnedWorker } from '../worker/spawn-worker.js'
import { WorkerSlot } from '../worker/worker-slot.js'
import type { ExecutionMode, SessionLease } from './mode.js'

/**
 * A fresh interpreter process per execution: nothing survives between
 * executions (no globals, no leaked state, no memory growth). The code
 * still travels in a driver frame over stdin — never in argv — so it has no
 * size limit, may contain NUL bytes and never shows in `ps`.
 *
 * A session gets a private driver process of its own for its lifetime, so
 * a REPL works in this mode too.
 */
export class OneshotMode implements ExecutionMode {
  readonly concurrency = 1
  readonly #spawn: (memoryLimitBytes: number | undefined) => Promise<SpawnedWorker>
  readonly #running = new Set<SpawnedWorker['worker']>()
  readonly #leases = new Set<WorkerSlot>()
  #spawned = 0

  /** @param spawn - starts a worker whose hard memory cap is the given one */
  constructor(spawn: (memoryLimitBytes: number | undefined) => Promise<SpawnedWorker>) {
    this.#spawn = spawn
  }

  async start(): Promise<DriverHello> {
    // Start (and stop) one driver so a broken interpreter fails start(), not the first execution.
    const { worker, hello } = await this.#spawn(undefined)
    await worker.stop()
    return hello
  }

  async run(code: string, options: WorkerExecOptions): Promise<WorkerOutcome> {
    if (options.signal?.aborted) {
      return { status: 'killed', values: [], stdout: '', stderr: '', truncated: false, incomplete: false, durationMs: 0 }
    }
    // The process is started with this execution's cap as its hard limit.
    const { worker } = await this.#spawn(options.memoryLimitBytes)
    this.#spawned++
    this.#running.add(worker)
    try {
      const { memoryLimitBytes: _, ...rest } = options
      return await worker.exec(code, rest)
    } finally {
      this.#running.delete(worker)
      await worker.stop()
    }
  }

  async lease(): Promise<SessionLease> {
    const slot = new WorkerSlot(this.#leases.size, () => this.#spawn(undefined))
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
    await Promise.all([
      ...[...this.#running].map((w) => w.stop({ force: true })),
      ...[...this.#leases].map((s) => s.stop({ force })),
    ])
    this.#leases.clear()
  }

  describe(): Record<string, unknown> {
    return {
      mode: 'oneshot',
      processesStarted: this.#spawned,
      running: [...this.#running].map((w) => w.describe()),
      sessionWorkers: [...this.#leases].map((s) => s.worker?.describe()),
    }
  }
}
