import type { DriverHello } from '@bioxen-luavm/core'
import type { WorkerExecOptions, WorkerOutcome } from '../worker/driver-worker.js'
import type { SpawnedWorker } from '../worker/spawn-worker.js'
import { type SlotHooks, WorkerSlot } from '../worker/worker-slot.js'
import type { ExecutionMode, SessionLease } from './mode.js'

/**
 * One long-lived driver process: globals persist between executions and a
 * tiny chunk costs tens of microseconds. A process that dies (hard deadline,
 * cancel, crash, `os.exit`) is replaced at once; its state is gone, which
 * the VM reports through `restarts` and by ending sessions pinned to it.
 */
export class PersistentMode implements ExecutionMode {
  readonly concurrency = 1
  readonly #slot: WorkerSlot

  constructor(spawn: () => Promise<SpawnedWorker>, hooks: SlotHooks) {
    this.#slot = new WorkerSlot(0, spawn, hooks)
  }

  async start(): Promise<DriverHello> {
    await this.#slot.ensure()
    return this.#slot.hello as DriverHello
  }

  async run(code: string | Uint8Array, options: WorkerExecOptions): Promise<WorkerOutcome> {
    return (await this.#slot.run(code, options)).outcome
  }

  async lease(): Promise<SessionLease> {
    await this.#slot.ensure()
    return { slot: this.#slot, generation: this.#slot.generation, release: () => Promise.resolve() }
  }

  stop(force: boolean): Promise<void> {
    return this.#slot.stop({ force })
  }

  describe(): Record<string, unknown> {
    return { mode: 'persistent', workers: [slotDetails(this.#slot)] }
  }
}

/** Status facts of one slot. */
export function slotDetails(slot: WorkerSlot): Record<string, unknown> {
  return { slot: slot.index, generation: slot.generation, queued: slot.load, ...(slot.worker?.describe() ?? {}) }
}
