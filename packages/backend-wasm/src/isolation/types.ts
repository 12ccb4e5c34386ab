import type { LuaValue } from '@bioxen-luavm/core'
import type { EngineExecRequest, EngineOptions, EngineStats } from '../engine/types.js'

/**
 * Functions a host grants to Lua as `host.<name>(...)`. Arguments arrive as
 * JSON-safe values; the return value goes back through JSON (so `undefined`
 * is nil and Dates are strings). A throw becomes a Lua error at the call.
 * Promises are awaited in worker isolation; inline isolation needs sync
 * functions.
 */
export type HostFunctions = Readonly<Record<string, (...args: LuaValue[]) => unknown>>

/** How an execution ended when the engine could not report it itself. */
export interface HardStop {
  status: 'timeout' | 'killed' | 'memory'
  message: string
}

/** What an execution produced: the runtime's JSON, or a hard stop by the host. */
export type ExecOutcome = { json: string } | { stop: HardStop }

/** Per-execution wiring between the VM and wherever its engine runs. */
export interface ExecIO {
  /** Output bytes in order; stream 1 = stdout, 2 = stderr. */
  onOutput(stream: 1 | 2, bytes: Uint8Array): void
  signal?: AbortSignal | undefined
}

/** Why an engine's state went away (worker killed or crashed). */
export interface StateLoss {
  at: number
  reason: string
  /** Ids of every VM that lost its state in the same event. */
  vmIds: string[]
}

/** Facts about where an engine runs, merged into the engine's own stats. */
export interface PlacementStats extends EngineStats {
  isolation: 'inline' | 'worker'
  workerId?: number
  vmsOnWorker?: number
}

/**
 * The host's asynchronous view of one VM's engine, wherever it runs.
 * Methods reject only when the engine or its worker failed.
 */
export interface EngineHandle {
  readonly luaVersion: string
  exec(request: EngineExecRequest, io: ExecIO): Promise<ExecOutcome>
  mount(name: string, source: string): Promise<string | undefined>
  reset(): Promise<void>
  stats(): Promise<PlacementStats>
  close(): Promise<void>
}

/** What a VM asks of an isolation mode to get an engine. */
export interface EngineRequest {
  vmId: string
  options: EngineOptions
  hostFunctions: HostFunctions
  /** Called when the engine was recreated and user state is gone. */
  onStateLost(loss: StateLoss): void
}
