import type { EngineKind } from '../engine/types.js'
import type { Platform, WasmSource } from '../platform/types.js'
import type { EngineHandle, EngineRequest } from './types.js'
import { type ConnectionSettings, WorkerConnection } from './worker-connection.js'
import { WorkerEngineHandle } from './worker-host.js'

/** How a pool is sized and how its workers start. */
export interface PoolSettings {
  /** Most workers the pool runs. */
  maxWorkers: number
  /** VMs per worker before another worker is preferred. */
  vmsPerWorker: number
  graceMs: number
  /**
   * Whether the pool's VMs run with the runtime's deadline hook. Part of
   * the pool's key only: a hook-free VM's every timeout kills its worker,
   * so hook-free VMs never share a worker with VMs that keep their state
   * through timeouts; among themselves they share as usual.
   */
  softDeadline: boolean
  /**
   * The engine the pool's workers host: one engine per worker, so a
   * browser worker script carries one engine and a fengari worker never
   * loads or compiles WebAssembly.
   */
  engine: EngineKind
  maxHeapMb?: number | undefined
  workerUrl?: string | URL | undefined
  wasm: WasmSource
}

/**
 * Workers shared by VMs. A worker costs megabytes (its own V8 isolate), a
 * VM's engine hundreds of kilobytes, so several VMs share one worker; each
 * still has its own wasm instance inside it. New VMs go to a new worker
 * while fewer than `maxWorkers` run (parallelism, small blast radius), then
 * to the least loaded one. A hard kill restarts one worker and only the VMs
 * on it lose their state (hook-free VMs, whose timeouts are all hard
 * kills, are kept in pools of their own: see `PoolSettings.softDeadline`).
 */
export class WorkerPool {
  readonly #platform: Platform
  readonly #settings: PoolSettings
  readonly #connections = new Set<WorkerConnection>()

  constructor(platform: Platform, settings: PoolSettings) {
    this.#platform = platform
    this.#settings = settings
  }

  /** Workers running now. */
  get workerCount(): number {
    return this.#connections.size
  }

  /** Starts a VM's engine on a worker of this pool. */
  async attach(request: EngineRequest): Promise<EngineHandle> {
    const connection = this.#pick()
    const slot = await connection.attach(request)
    return new WorkerEngineHandle(connection, slot)
  }

  /** Terminates every worker (their VMs fail from then on). */
  async close(): Promise<void> {
    const all = [...this.#connections]
    this.#connections.clear()
    await Promise.all(all.map((c) => c.close()))
  }

  #pick(): WorkerConnection {
    const { maxWorkers, vmsPerWorker } = this.#settings
    const open = [...this.#connections].sort((a, b) => a.size - b.size)
    const emptiest = open[0]
    if (open.length < maxWorkers && (emptiest === undefined || emptiest.size > 0)) return this.#spawn()
    if (emptiest && emptiest.size < vmsPerWorker) return emptiest
    if (open.length < maxWorkers) return this.#spawn()
    return emptiest ?? this.#spawn()
  }

  #spawn(): WorkerConnection {
    const platform = this.#platform
    const { engine, wasm } = this.#settings
    const settings: ConnectionSettings = {
      platform,
      engine,
      workerUrl: this.#settings.workerUrl,
      maxHeapMb: this.#settings.maxHeapMb,
      graceMs: this.#settings.graceMs,
      wasmModule: engine === 'wasmoon' ? () => platform.wasmModule(wasm) : undefined,
    }
    const connection = new WorkerConnection(settings, (c) => this.#connections.delete(c))
    this.#connections.add(connection)
    return connection
  }
}

const pools = new Map<string, WorkerPool>()
const moduleIds = new WeakMap<WebAssembly.Module, number>()
let nextModuleId = 1

/**
 * The process-wide pool for these settings: VMs with the same worker
 * settings share workers; different settings get their own pool.
 */
export function sharedPool(platform: Platform, settings: PoolSettings): WorkerPool {
  const key = JSON.stringify([
    platform.name,
    settings.maxWorkers,
    settings.vmsPerWorker,
    settings.graceMs,
    settings.softDeadline,
    settings.engine,
    settings.maxHeapMb ?? null,
    settings.workerUrl === undefined ? null : String(settings.workerUrl),
    settings.wasm.url === undefined ? null : String(settings.wasm.url),
    settings.wasm.module ? moduleId(settings.wasm.module) : null,
  ])
  let pool = pools.get(key)
  if (!pool) {
    pool = new WorkerPool(platform, settings)
    pools.set(key, pool)
  }
  return pool
}

/** Terminates every shared worker of this thread (tests, shutdown hooks). */
export async function closeSharedPools(): Promise<void> {
  const all = [...pools.values()]
  pools.clear()
  await Promise.all(all.map((p) => p.close()))
}

/** Workers running in all shared pools of this thread. */
export function sharedWorkerCount(): number {
  let n = 0
  for (const p of pools.values()) n += p.workerCount
  return n
}

function moduleId(module: WebAssembly.Module): number {
  let id = moduleIds.get(module)
  if (id === undefined) {
    id = nextModuleId++
    moduleIds.set(module, id)
  }
  return id
}
