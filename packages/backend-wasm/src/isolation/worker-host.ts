import type { EngineExecRequest } from '../engine/types.js'
import type { EngineHandle, ExecIO, ExecOutcome, PlacementStats } from './types.js'
import type { Slot, WorkerConnection } from './worker-connection.js'

/**
 * Worker isolation, seen from one VM: its engine lives in a worker thread
 * (possibly shared with other VMs) and every call is a message. Modules
 * mounted here are remembered so a restarted worker can re-create them.
 */
export class WorkerEngineHandle implements EngineHandle {
  readonly #connection: WorkerConnection
  readonly #slot: Slot

  constructor(connection: WorkerConnection, slot: Slot) {
    this.#connection = connection
    this.#slot = slot
  }

  get luaVersion(): string {
    return this.#slot.luaVersion
  }

  exec(request: EngineExecRequest, io: ExecIO): Promise<ExecOutcome> {
    return this.#connection.exec(this.#slot, request, io)
  }

  async mount(name: string, source: string): Promise<string | undefined> {
    const problem = await this.#connection.mount(this.#slot, name, source)
    if (problem === undefined) {
      const options = this.#slot.options
      this.#slot.options = { ...options, modules: { ...options.modules, [name]: source } }
    }
    return problem
  }

  async reset(): Promise<void> {
    await this.#connection.reset(this.#slot)
  }

  async stats(): Promise<PlacementStats> {
    const stats = await this.#connection.stats(this.#slot)
    return { ...stats, isolation: 'worker', workerId: this.#connection.id, vmsOnWorker: this.#connection.size }
  }

  close(): Promise<void> {
    return this.#connection.detach(this.#slot)
  }
}
