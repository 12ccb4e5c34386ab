import type { DriverHello } from '@bioxen-luavm/core'
import type { WorkerExecOptions, WorkerOutcome } from '../worker/driver-worker.js'
import type { WorkerSlot } from '../worker/worker-slot.js'

/** A slot a session runs on, and the generation its state belongs to. */
export interface SessionLease {
  slot: WorkerSlot
  generation: number
  /** Gives the slot back (oneshot mode stops its private worker). */
  release(): Promise<void>
}

/** How a process VM runs executions: `oneshot`, `persistent` or `pool`. */
export interface ExecutionMode {
  /** Starts what must run before the first execution; resolves with a driver's hello. */
  start(): Promise<DriverHello>
  /** Runs one execution. */
  run(code: string | Uint8Array, options: WorkerExecOptions): Promise<WorkerOutcome>
  /** A slot for a REPL session, whose state must survive between inputs. */
  lease(): Promise<SessionLease>
  /** Ends every worker; `force` kills instead of asking the drivers to quit. */
  stop(force: boolean): Promise<void>
  /** Executions this mode can run at once. */
  readonly concurrency: number
  /** Facts for `getStatus().details`. */
  describe(): Record<string, unknown>
}
