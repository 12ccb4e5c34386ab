import type { DriverHello } from '@bioxen-luavm/core'
import type { WorkerExecOptions, WorkerOutcome } from '../worker/driver-worker.js'
import type { SpawnedWorker } from '../worker/spawn-worker.js'
import { type SlotHooks, WorkerSlot } from '../worker/worker-slot.js'
import type { ExecutionMode, SessionLease } from './mode.js'
import { slotDetails } from './persistent.js'

/**
 * N persistent workers. The VM's queue hands out executions in arrival
 * order (FIFO, so no caller starves) up to N at a time, and each goes to an
 * idle worker — or, when sessions keep some busy, to the least loaded one.
 *
 * State is per worker: `x = 1` on one execution is not visible to the next
 * unless it lands on the same worker, so pool mode suits independent,
 * stateless chunks. A session pins itself to one worker (chosen round-robin)
 * for its whole life. A worker that died or was killed is replaced.
 */
export class PoolMode implements ExecutionMode {
  readonly #slots: WorkerSlot[]
  #nextLease = 0

  constructor(size: number, spawn: () => Promise<SpawnedWorker>, hooks: SlotHooks) {
    this.#slots = Array.from({ length: size }, (_, i) => new WorkerSlot(i, spawn, hooks))
  }

  get concurrency(): number {
    return this.#slots.length
  }

  async start(): Promise<DriverHello> {
    const results = await Promise.allSettled(this.#slots.map((s) => s.ensure()))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed) {
      await this.stop(true)
      throw failed.reason
    }
    return this.#slots[0]?.hello as DriverHello
  }

  async run(code: string | Uint8Array, options: WorkerExecOptions): Promise<WorkerOutcome> {
    return (await this.#pick().run(code, options)).outcome
  }

  async lease(): Promise<SessionLease> {
    const slot = this.#slots[this.#nextLease++ % this.#slots.length] as WorkerSlot
    await slot.ensure()
    return { slot, generation: slot.generation, release: () => Promise.resolve() }
  }

  async stop(force: boolean): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.stop({ force })))
  }

  describe(): Record<string, unknown> {
    return { mode: 'pool', poolSize: this.#slots.length, workers: this.#slots.map(slotDetails) }
  }

  #pick(): WorkerSlot {
    let best = this.#slots[0] as WorkerSlot
    for (const slot of this.#slots) {
      if (slot.idle) return slot
      if (slot.load < best.load) best = slot
    }
    return best
  }
}
