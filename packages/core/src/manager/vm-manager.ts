import type { ConfigManager } from '../config/config-manager.js'
import type { BaseLuaVM, ExecDefaults } from '../contract/base-vm.js'
import { checkLimits } from '../contract/limits.js'
import type { InteractiveSession, SessionOptions, SessionReply, SessionState } from '../contract/session.js'
import type { BackendCapabilities, ExecOptions, ExecResult, VMState } from '../contract/types.js'
import { errorFromResult } from '../errors/from-result.js'
import {
  AttachError,
  BackendUnavailableError,
  DetachError,
  InvalidArgumentError,
  SessionAlreadyExistsError,
  SessionNotFoundError,
  VMManagerError,
  VMTimeoutError,
} from '../errors/index.js'
import type { Logger } from '../logger/logger.js'
import { silentLogger } from '../logger/logger.js'
import { type BackendRegistry, defaultRegistry } from '../registry/backend-registry.js'
import { TaskQueue } from '../util/serial-queue.js'
import { startTimer } from '../util/timer.js'
import { ExecutionJob, errorToJSON, type JobStatus, jobNotFound } from './jobs.js'
import { VMCluster } from './vm-cluster.js'

/** Options of a {@link VMManager}. */
export interface VMManagerOptions {
  /** Where backends come from (default: the module-level `defaultRegistry`). */
  registry?: BackendRegistry
  /** Backend for VMs that name none (default: the config's `defaultBackend`, else `auto`). */
  defaultBackend?: string
  /** Backend settings and default limits; per-VM options win over it. */
  config?: ConfigManager
  /** Default limits of every VM (over the config's, under a VM's own). */
  limits?: Partial<ExecDefaults>
  logger?: Logger
  /**
   * How many jobs may run at once across all VMs (default: no manager-wide
   * cap; each VM still runs its own executions one at a time unless its
   * backend pools).
   */
  maxConcurrentJobs?: number
  /** How many finished jobs `getJob`/`listJobs` keep (default 1000); counters are never pruned. */
  jobHistoryLimit?: number
}

/** Options of {@link VMManager.createVM}. */
export interface CreateManagedVMOptions {
  /** Backend type or alias, or `auto` (default: the manager's default backend). */
  type?: string
  /** Backend settings; they win over the config's section for that backend. */
  config?: Record<string, unknown>
  /** Default limits of this VM's executions. */
  limits?: Partial<ExecDefaults>
  /** The VM must be able to open sockets (the original's networked VM); fails on backends without networking. */
  networked?: boolean
  /** The VM must keep globals between executions; fails on backends without persistent state. */
  persistent?: boolean
  signal?: AbortSignal
}

/** Options of {@link VMManager.createInteractiveVM}. */
export interface CreateInteractiveVMOptions extends Omit<CreateManagedVMOptions, 'persistent'> {
  /** Attach right away (default true). */
  autoAttach?: boolean
  /** Receives every piece of output while attached. */
  onOutput?: (chunk: string) => void
  /** Options of the session (id, per-input limits). */
  session?: SessionOptions
}

/** What {@link VMManager.getVMInfo} reports. */
export interface ManagedVMInfo {
  id: string
  type: string
  state: VMState
  luaVersion: string
  capabilities: BackendCapabilities
  createdAt: number
  networked: boolean
  persistent: boolean
  /** The VM was made by `createInteractiveVM` and belongs to its session. */
  interactive: boolean
  sessionId?: string
  sessionState?: SessionState
  sessionAttached: boolean
  /** Jobs pending or running on this VM. */
  activeJobs: number
  /** Clusters this VM belongs to. */
  clusters: string[]
}

/** One row of {@link VMManager.listSessions}. */
export interface ManagedSessionInfo {
  vmId: string
  sessionId: string
  attached: boolean
  state: SessionState
  /** Last input or output (ms since the epoch). */
  lastActivity: number
}

/** What {@link VMManager.getStats} reports. */
export interface VMManagerStats {
  totalVMs: number
  byType: Record<string, number>
  interactiveSessions: number
  attachedSessions: number
  /** Jobs pending or running now. */
  runningJobs: number
  /** Jobs that finished successfully, since the manager was made. */
  completedJobs: number
  /** Jobs that finished unsuccessfully or rejected. */
  failedJobs: number
  cancelledJobs: number
}

/** A cluster member's outcome in {@link VMManager.waitForCluster}: its result, or why there is none. */
export type ClusterMemberResult = ExecResult | { success: false; error: Record<string, unknown> }

/** Outcomes of a broadcast, by VM id. */
export type ClusterResults = Record<string, ClusterMemberResult>

/**
 * A member's status: `idle` before its first job; `pending`/`running` while
 * a job is active; else the status of its latest job; `unavailable` when its
 * VM is not running (stopped, failed or removed).
 */
export type ClusterMemberStatus = JobStatus | 'idle' | 'unavailable'

interface VMEntry {
  vm: BaseLuaVM
  createdAt: number
  networked: boolean
  persistent: boolean
  interactive: boolean
}

interface SessionEntry {
  session: InteractiveSession
  attached: boolean
  detachListener?: () => void
  lastActivity: number
  stopTracking: () => void
}

const MAX_CLUSTER_SIZE = 1000

/**
 * Manages VMs by id, with the original `VMManager`'s surface in TypeScript
 * form: sync and async execution (any number of jobs per VM, each with its
 * own handle), interactive sessions, clusters, stats, and a shutdown that
 * settles every promise and leaves no engine behind.
 *
 * Every failure is a typed `LuaVMError` whose message says what to do.
 * After `shutdownAll()` every method throws `VMManagerError`.
 *
 * Interactive VMs: a VM made by `createInteractiveVM` belongs to its
 * session, so `terminateSession` removes that VM too and its id can be
 * used again. A VM made by `createVM` keeps running when its session is
 * terminated.
 */
export class VMManager implements AsyncDisposable {
  readonly #registry: BackendRegistry
  readonly #config: ConfigManager | undefined
  readonly #defaultBackend: string
  readonly #limits: Partial<ExecDefaults>
  readonly #logger: Logger
  readonly #jobQueue: TaskQueue
  readonly #jobHistoryLimit: number

  readonly #vms = new Map<string, VMEntry>()
  readonly #creating = new Map<string, Promise<unknown>>()
  readonly #jobs = new Map<string, ExecutionJob>()
  readonly #sessions = new Map<string, SessionEntry>()
  readonly #clusters = new Map<string, VMCluster>()
  readonly #counts = { completed: 0, failed: 0, cancelled: 0 }
  #shutdown: Promise<void> | undefined

  /**
   * @param options - registry, default backend, config, limits, logger and the job cap.
   * @throws InvalidArgumentError on a bad `maxConcurrentJobs` or `jobHistoryLimit`
   */
  constructor(options: VMManagerOptions = {}) {
    const max = options.maxConcurrentJobs ?? Number.POSITIVE_INFINITY
    if (typeof max !== 'number' || !(max >= 1)) {
      throw new InvalidArgumentError(`maxConcurrentJobs must be at least 1, got ${String(options.maxConcurrentJobs)}`)
    }
    const history = options.jobHistoryLimit ?? 1000
    if (typeof history !== 'number' || !(history >= 0)) {
      throw new InvalidArgumentError(`jobHistoryLimit must be a non-negative number, got ${String(history)}`)
    }
    this.#registry = options.registry ?? defaultRegistry
    this.#config = options.config
    this.#defaultBackend = options.defaultBackend ?? options.config?.defaultBackend ?? 'auto'
    this.#limits = { ...options.config?.limits, ...checkLimits(options.limits ?? {}, 'limits.') }
    this.#logger = (options.logger ?? silentLogger).child('manager')
    this.#jobQueue = new TaskQueue(max)
    this.#jobHistoryLimit = history
  }

  /** True once `shutdownAll()` was called. */
  get isShutDown(): boolean {
    return this.#shutdown !== undefined
  }

  // ---- VMs -----------------------------------------------------------------

  /**
   * Creates and starts a VM. The id is reserved before anything awaits, so
   * two concurrent creates of one id cannot both succeed. Config merges the
   * config manager's section for the backend under `options.config`.
   */
  async createVM(id: string, options: CreateManagedVMOptions = {}): Promise<BaseLuaVM> {
    this.#assertOpen()
    checkId('VM id', id)
    return this.#reserved(id, () => this.#create(id, options, false))
  }

  /** The VM with this id, or undefined. */
  getVM(id: string): BaseLuaVM | undefined {
    this.#assertOpen()
    return this.#vms.get(id)?.vm
  }

  /** The VM with this id; throws `VMManagerError` when there is none. */
  requireVM(id: string): BaseLuaVM {
    this.#assertOpen()
    return this.#entry(id).vm
  }

  /** Ids of every VM, in creation order. */
  listVMs(): string[] {
    this.#assertOpen()
    return [...this.#vms.keys()]
  }

  /**
   * Removes a VM: cancels its jobs, terminates its session, stops it. The id
   * is free again as soon as this is called. Resolves false for an unknown id.
   */
  async removeVM(id: string): Promise<boolean> {
    this.#assertOpen()
    const entry = this.#vms.get(id)
    if (!entry) return false
    await this.#teardown(id, entry)
    return true
  }

  /** Facts about one VM, or undefined for an unknown id. */
  getVMInfo(id: string): ManagedVMInfo | undefined {
    this.#assertOpen()
    const entry = this.#vms.get(id)
    if (!entry) return undefined
    const s = this.#sessions.get(id)
    return {
      id,
      type: entry.vm.type,
      state: entry.vm.state,
      luaVersion: entry.vm.luaVersion,
      capabilities: { ...entry.vm.capabilities },
      createdAt: entry.createdAt,
      networked: entry.networked,
      persistent: entry.persistent,
      interactive: entry.interactive,
      ...(s ? { sessionId: s.session.id, sessionState: s.session.state } : {}),
      sessionAttached: s?.attached ?? false,
      activeJobs: this.#jobsOf(id).filter((j) => !j.settled).length,
      clusters: [...this.#clusters.values()].filter((c) => c.vmIds.includes(id)).map((c) => c.id),
    }
  }

  // ---- execution -----------------------------------------------------------

  /** Runs code on a VM and waits for it (tracked as a job, so `removeVM` and shutdown cancel it). */
  execute(id: string, code: string, options: ExecOptions = {}): Promise<ExecResult> {
    try {
      return this.executeAsync(id, code, options).promise
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Submits code to a VM and returns its job at once. Bad arguments and
   * unknown VMs throw here, not later through the promise.
   */
  executeAsync(id: string, code: string, options: ExecOptions = {}): ExecutionJob {
    this.#assertOpen()
    const { vm } = this.#entry(id)
    if (typeof code !== 'string') throw new InvalidArgumentError('Lua code must be a string')
    if (code.trim() === '') throw new InvalidArgumentError('Lua code cannot be empty')
    const { signal: callerSignal, throwOnError, ...rest } = options
    const job = new ExecutionJob({ vmId: id, ...(callerSignal ? { signal: callerSignal } : {}) }, (self, signal) =>
      this.#runJob(self, vm, code, { ...rest, signal }, throwOnError === true),
    )
    this.#jobs.set(job.id, job)
    void job.promise.then(
      () => this.#jobSettled(job),
      () => this.#jobSettled(job),
    )
    return job
  }

  /** A job by id, while it is active or among the recent finished ones. */
  getJob(jobId: string): ExecutionJob | undefined {
    this.#assertOpen()
    return this.#jobs.get(jobId)
  }

  /** Known jobs, oldest first, optionally of one VM and/or in one status. */
  listJobs(filter: { vmId?: string; status?: JobStatus } = {}): ExecutionJob[] {
    this.#assertOpen()
    return [...this.#jobs.values()].filter(
      (j) =>
        (filter.vmId === undefined || j.vmId === filter.vmId) &&
        (filter.status === undefined || j.status === filter.status),
    )
  }

  /** Cancels a job. False when it is unknown or already finished. */
  cancelJob(jobId: string, reason?: unknown): boolean {
    this.#assertOpen()
    return this.#jobs.get(jobId)?.cancel(reason) ?? false
  }

  /**
   * Waits for a job's result. With `timeoutMs`, rejects with `VMTimeoutError`
   * when the job is still going by then (the job keeps running; cancel it if
   * you no longer want it).
   */
  async waitForJob(jobId: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ExecResult> {
    this.#assertOpen()
    const job = this.#jobs.get(jobId)
    if (!job) throw jobNotFound(jobId)
    return withDeadline(
      job.promise,
      options,
      () =>
        new VMTimeoutError(
          `job '${jobId}' on VM '${job.vmId}' was still ${job.status} after ${options.timeoutMs} ms; it keeps running — cancelJob() stops it`,
          {
            details: { jobId, vmId: job.vmId },
          },
        ),
    )
  }

  // ---- interactive sessions -----------------------------------------------

  /**
   * Creates a VM with a session on it (and attaches when `autoAttach`, the
   * default). The VM belongs to the session: `terminateSession` removes it.
   */
  async createInteractiveVM(id: string, options: CreateInteractiveVMOptions = {}): Promise<InteractiveSession> {
    this.#assertOpen()
    checkId('VM id', id)
    const { autoAttach = true, onOutput, session: sessionOptions, ...vmOptions } = options
    return this.#reserved(id, async () => {
      const vm = await this.#create(id, vmOptions, true)
      try {
        const session = await this.#openSession(id, vm, sessionOptions ?? {})
        if (autoAttach) await this.attach(id, onOutput)
        return session
      } catch (error) {
        await this.#removeQuietly(id)
        throw error
      }
    })
  }

  /** Opens the session of a VM. A VM has at most one managed session; a live one is `SessionAlreadyExistsError`. */
  async openSession(vmId: string, options: SessionOptions = {}): Promise<InteractiveSession> {
    this.#assertOpen()
    const entry = this.#vms.get(vmId)
    if (!entry) {
      throw new SessionNotFoundError(`VM '${vmId}' not found; create it with createVM() before opening a session`, {
        details: { vmId },
      })
    }
    return this.#openSession(vmId, entry.vm, options)
  }

  /**
   * Attaches to a VM's session, creating the session if needed; `onOutput`
   * then receives its output until `detach`. Attaching twice is `AttachError`.
   */
  async attach(vmId: string, onOutput?: (chunk: string) => void): Promise<InteractiveSession> {
    this.#assertOpen()
    if (!this.#vms.has(vmId)) {
      throw new SessionNotFoundError(
        `VM '${vmId}' not found; create it with createVM() or createInteractiveVM() first`,
        {
          details: { vmId },
        },
      )
    }
    const existing = this.#sessions.get(vmId)
    // A dead session is reported, not silently replaced: the caller lost its Lua state.
    if (existing) return this.#attach(vmId, existing, onOutput)
    const session = await this.openSession(vmId)
    const entry = this.#sessions.get(vmId)
    if (!entry || entry.session !== session) {
      throw new AttachError(`the session of VM '${vmId}' ended while attaching; attach again`, { details: { vmId } })
    }
    return this.#attach(vmId, entry, onOutput)
  }

  /** Detaches from a VM's session. Not attached is `DetachError`; no session is `SessionNotFoundError`. */
  detach(vmId: string): void {
    this.#assertOpen()
    const entry = this.#sessionEntry(vmId)
    if (!entry.attached) {
      throw new DetachError(`session '${entry.session.id}' of VM '${vmId}' is not attached; nothing to detach`, {
        details: { vmId, sessionId: entry.session.id },
      })
    }
    entry.detachListener?.()
    delete entry.detachListener
    entry.attached = false
  }

  /** Sends input to a VM's session. A dead or closed session rejects with `InteractiveSessionError`. */
  async sendInput(
    vmId: string,
    input: string,
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<SessionReply> {
    this.#assertOpen()
    const entry = this.#sessionEntry(vmId)
    entry.lastActivity = Date.now()
    return entry.session.sendInput(input, options)
  }

  /** Reads a VM's session output; see `InteractiveSession.readOutput`. */
  async readOutput(
    vmId: string,
    options: { until?: string | RegExp; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<string> {
    this.#assertOpen()
    const entry = this.#sessionEntry(vmId)
    entry.lastActivity = Date.now()
    return entry.session.readOutput(options)
  }

  /** Every managed session. */
  listSessions(): ManagedSessionInfo[] {
    this.#assertOpen()
    return [...this.#sessions].map(([vmId, e]) => ({
      vmId,
      sessionId: e.session.id,
      attached: e.attached,
      state: e.session.state,
      lastActivity: e.lastActivity,
    }))
  }

  /**
   * Closes a VM's session. When the VM was made by `createInteractiveVM` it
   * is removed too, so its id can be created again. Resolves false when the
   * VM has no session.
   */
  async terminateSession(vmId: string): Promise<boolean> {
    this.#assertOpen()
    const entry = this.#sessions.get(vmId)
    if (!entry) return false
    await this.#closeSession(vmId, entry)
    const vmEntry = this.#vms.get(vmId)
    if (vmEntry?.interactive) await this.#teardown(vmId, vmEntry)
    return true
  }

  // ---- clusters --------------------------------------------------------------

  /**
   * Creates `count` VMs `<clusterId>_000` ... in parallel. If any fails, the
   * ones created are removed and the first error is rethrown.
   */
  async createCluster(
    clusterId: string,
    count: number,
    options: Omit<CreateManagedVMOptions, 'signal'> = {},
  ): Promise<VMCluster> {
    this.#assertOpen()
    checkId('cluster id', clusterId)
    if (!Number.isInteger(count) || count < 1 || count > MAX_CLUSTER_SIZE) {
      throw new InvalidArgumentError(`a cluster needs 1 to ${MAX_CLUSTER_SIZE} VMs, got ${count}`)
    }
    if (this.#clusters.has(clusterId)) {
      throw new VMManagerError(`cluster '${clusterId}' already exists; clean it up first or choose another id`, {
        details: { clusterId },
      })
    }
    const ids = Array.from({ length: count }, (_, i) => `${clusterId}_${String(i).padStart(3, '0')}`)
    const settled = await Promise.allSettled(ids.map((id) => this.createVM(id, options)))
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failure) {
      const created = ids.filter((_, i) => settled[i]?.status === 'fulfilled')
      await Promise.allSettled(created.map((id) => this.#removeQuietly(id)))
      throw failure.reason
    }
    if (this.#shutdown) throw shutDownError()
    const cluster = new VMCluster(this, clusterId, ids)
    this.#clusters.set(clusterId, cluster)
    return cluster
  }

  /** A cluster by id. */
  getCluster(clusterId: string): VMCluster | undefined {
    this.#assertOpen()
    return this.#clusters.get(clusterId)
  }

  /** Every cluster. */
  listClusters(): VMCluster[] {
    this.#assertOpen()
    return [...this.#clusters.values()]
  }

  /**
   * Runs `code` on every VM of a cluster, or on every VM whose id matches a
   * glob (`*`, `?`). One job per VM. No match is `VMManagerError`.
   */
  broadcast(clusterIdOrPattern: string, code: string, options: ExecOptions = {}): Map<string, ExecutionJob> {
    this.#assertOpen()
    const ids = this.#members(clusterIdOrPattern)
    if (typeof code !== 'string' || code.trim() === '') throw new InvalidArgumentError('Lua code cannot be empty')
    const jobs = new Map<string, ExecutionJob>()
    for (const id of ids) jobs.set(id, this.executeAsync(id, code, options))
    return jobs
  }

  /**
   * Waits for every job. Never rejects because of one member: a member
   * whose job rejected (or was still going at `timeoutMs`) gets
   * `{ success: false, error }` with the error as JSON.
   */
  async waitForCluster(
    jobs: Map<string, ExecutionJob> | Record<string, ExecutionJob>,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<ClusterResults> {
    this.#assertOpen()
    const entries = jobs instanceof Map ? [...jobs] : Object.entries(jobs)
    const outcomes = await Promise.all(
      entries.map(async ([vmId, job]): Promise<[string, ClusterMemberResult]> => {
        try {
          const result = await withDeadline(
            job.promise,
            options,
            () =>
              new VMTimeoutError(`VM '${vmId}' was still ${job.status} after ${options.timeoutMs} ms`, {
                details: { vmId, jobId: job.id },
              }),
          )
          return [vmId, result]
        } catch (error) {
          return [vmId, { success: false, error: errorToJSON(error) }]
        }
      }),
    )
    return Object.fromEntries(outcomes)
  }

  /** Status of every VM of a cluster or glob; see {@link ClusterMemberStatus}. */
  clusterStatus(clusterIdOrPattern: string): Record<string, ClusterMemberStatus> {
    this.#assertOpen()
    const out: Record<string, ClusterMemberStatus> = {}
    for (const id of this.#members(clusterIdOrPattern, true, true)) {
      const vm = this.#vms.get(id)?.vm
      const jobs = this.#jobsOf(id)
      if (jobs.some((j) => j.status === 'running')) out[id] = 'running'
      else if (jobs.some((j) => j.status === 'pending')) out[id] = 'pending'
      else if (vm?.state !== 'running') out[id] = 'unavailable'
      else out[id] = jobs.at(-1)?.status ?? 'idle'
    }
    return out
  }

  /** Removes every VM of a cluster or glob (and the cluster record); returns how many VMs were removed. */
  async cleanupCluster(clusterIdOrPattern: string): Promise<number> {
    this.#assertOpen()
    const ids = this.#members(clusterIdOrPattern, true)
    this.#clusters.delete(clusterIdOrPattern)
    const removed = await Promise.all(ids.map((id) => this.removeVM(id)))
    return removed.filter(Boolean).length
  }

  // ---- stats and shutdown ----------------------------------------------------

  /** Counts of VMs, sessions and jobs. */
  getStats(): VMManagerStats {
    this.#assertOpen()
    const byType: Record<string, number> = {}
    for (const { vm } of this.#vms.values()) byType[vm.type] = (byType[vm.type] ?? 0) + 1
    const sessions = [...this.#sessions.values()].filter((e) => e.session.state === 'open')
    return {
      totalVMs: this.#vms.size,
      byType,
      interactiveSessions: sessions.length,
      attachedSessions: sessions.filter((e) => e.attached).length,
      runningJobs: [...this.#jobs.values()].filter((j) => !j.settled).length,
      completedJobs: this.#counts.completed,
      failedJobs: this.#counts.failed,
      cancelledJobs: this.#counts.cancelled,
    }
  }

  /**
   * Cancels every job, closes every session and stops every VM in parallel,
   * then resolves once every job promise has settled. Idempotent. Afterwards
   * every method throws `VMManagerError`.
   */
  shutdownAll(): Promise<void> {
    this.#shutdown ??= this.#doShutdown()
    return this.#shutdown
  }

  /** Shuts down (`await using manager = new VMManager()`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdownAll()
  }

  // ---- internals -------------------------------------------------------------

  async #doShutdown(): Promise<void> {
    const jobs = [...this.#jobs.values()]
    for (const job of jobs) job.cancel(new VMManagerError('the manager is shutting down'))
    // VMs still being created are stopped by #create once it sees the shutdown.
    const creating = [...this.#creating.values()]
    const sessions = [...this.#sessions]
    this.#sessions.clear()
    await Promise.allSettled(sessions.map(([, e]) => this.#closeSessionEntry(e)))
    const vms = [...this.#vms.values()]
    this.#vms.clear()
    this.#clusters.clear()
    const stops = await Promise.allSettled(vms.map((e) => e.vm.stop()))
    for (const [i, s] of stops.entries()) {
      if (s.status === 'rejected') {
        this.#logger.warn('a VM failed to stop during shutdown', { vmId: vms[i]?.vm.id, error: String(s.reason) })
        await vms[i]?.vm.stop({ force: true }).catch(() => {})
      }
    }
    await Promise.allSettled([...creating, ...jobs.map((j) => j.promise)])
  }

  async #create(id: string, options: CreateManagedVMOptions, interactive: boolean): Promise<BaseLuaVM> {
    const type = await this.#registry.resolveType(options.type ?? this.#defaultBackend)
    const descriptor = this.#registry.get(type)
    const caps = descriptor?.capabilities
    if (options.networked && caps && !caps.networking) {
      throw new BackendUnavailableError(
        `backend '${type}' has no networking; create networked VMs with a backend that has it (e.g. 'process')`,
      )
    }
    if (options.persistent && caps && !caps.persistentState) {
      throw new BackendUnavailableError(
        `backend '${type}' does not keep state between executions; use a backend with persistentState`,
      )
    }
    if (interactive && caps && !caps.sessions) {
      throw new BackendUnavailableError(`backend '${type}' has no interactive sessions; use a backend with sessions`)
    }
    const config = {
      ...(this.#config ? this.#config.rawBackend(type, descriptor?.configSchema) : {}),
      // A backend that has a `networked` setting must hear about the request,
      // or it would start without verifying that it can open sockets.
      ...(options.networked && descriptor?.configSchema && 'networked' in descriptor.configSchema
        ? { networked: true }
        : {}),
      ...(options.config ?? {}),
    }
    const limits = { ...this.#limits, ...checkLimits(options.limits ?? {}, 'limits.') }
    const vm = await this.#registry.create(type, id, config, {
      limits,
      logger: this.#logger,
      ...(options.signal ? { signal: options.signal } : {}),
    })
    if (this.#shutdown) {
      await vm.stop({ force: true }).catch(() => {})
      throw shutDownError()
    }
    this.#vms.set(id, {
      vm,
      createdAt: Date.now(),
      networked: options.networked === true,
      persistent: options.persistent === true || interactive,
      interactive,
    })
    this.#logger.debug('VM created', { vmId: id, type })
    return vm
  }

  /**
   * Runs `work` with `id` reserved. The check and the reservation happen
   * before anything awaits, so a concurrent create of the same id fails.
   */
  async #reserved<T>(id: string, work: () => Promise<T>): Promise<T> {
    if (this.#vms.has(id) || this.#creating.has(id)) {
      throw new VMManagerError(`VM '${id}' already exists; remove it with removeVM('${id}') or choose another id`, {
        details: { vmId: id },
      })
    }
    const running = work()
    const tracked = running.then(
      () => {},
      () => {},
    )
    this.#creating.set(id, tracked)
    try {
      return await running
    } finally {
      if (this.#creating.get(id) === tracked) this.#creating.delete(id)
    }
  }

  async #teardown(id: string, entry: VMEntry): Promise<void> {
    // The id is freed first so it can be reused while the VM stops.
    if (this.#vms.get(id) === entry) this.#vms.delete(id)
    for (const job of this.#jobsOf(id)) job.cancel(new VMManagerError(`VM '${id}' was removed`))
    const session = this.#sessions.get(id)
    if (session) await this.#closeSession(id, session)
    try {
      await entry.vm.stop()
    } catch (error) {
      this.#logger.warn('VM failed to stop cleanly; forcing', { vmId: id, error: String(error) })
      await entry.vm.stop({ force: true }).catch(() => {})
    }
  }

  async #removeQuietly(id: string): Promise<void> {
    const entry = this.#vms.get(id)
    if (entry) await this.#teardown(id, entry).catch(() => {})
  }

  async #openSession(vmId: string, vm: BaseLuaVM, options: SessionOptions): Promise<InteractiveSession> {
    const existing = this.#sessions.get(vmId)
    if (existing?.session.state === 'open') {
      throw new SessionAlreadyExistsError(
        `VM '${vmId}' already has session '${existing.session.id}'; use it, or terminateSession('${vmId}') first`,
        { details: { vmId, sessionId: existing.session.id } },
      )
    }
    if (existing) await this.#closeSession(vmId, existing)
    const session = await vm.openSession(options)
    if (this.#shutdown || this.#vms.get(vmId)?.vm !== vm || this.#sessions.has(vmId)) {
      await session.close()
      if (this.#shutdown) throw shutDownError()
      throw new SessionAlreadyExistsError(`VM '${vmId}' got another session (or was removed) while this one opened`, {
        details: { vmId },
      })
    }
    const entry: SessionEntry = { session, attached: false, lastActivity: Date.now(), stopTracking: () => {} }
    entry.stopTracking = session.onOutput(() => {
      entry.lastActivity = Date.now()
    })
    this.#sessions.set(vmId, entry)
    return session
  }

  #attach(vmId: string, entry: SessionEntry, onOutput?: (chunk: string) => void): InteractiveSession {
    if (entry.attached) {
      throw new AttachError(
        `session '${entry.session.id}' of VM '${vmId}' is already attached; detach('${vmId}') first`,
        {
          details: { vmId, sessionId: entry.session.id },
        },
      )
    }
    if (entry.session.state !== 'open') {
      throw new AttachError(
        `session '${entry.session.id}' of VM '${vmId}' is ${entry.session.state}; terminateSession and open a new one`,
        {
          details: { vmId, sessionId: entry.session.id },
        },
      )
    }
    entry.attached = true
    if (onOutput) entry.detachListener = entry.session.onOutput(onOutput)
    entry.lastActivity = Date.now()
    return entry.session
  }

  async #closeSession(vmId: string, entry: SessionEntry): Promise<void> {
    if (this.#sessions.get(vmId) === entry) this.#sessions.delete(vmId)
    await this.#closeSessionEntry(entry)
  }

  async #closeSessionEntry(entry: SessionEntry): Promise<void> {
    entry.detachListener?.()
    entry.stopTracking()
    entry.attached = false
    await entry.session.close()
  }

  #sessionEntry(vmId: string): SessionEntry {
    const entry = this.#sessions.get(vmId)
    if (entry) return entry
    const why = this.#vms.has(vmId)
      ? `VM '${vmId}' has no interactive session; open one with attach('${vmId}') or openSession('${vmId}')`
      : `No interactive session for VM '${vmId}': the VM does not exist; create it with createInteractiveVM('${vmId}')`
    throw new SessionNotFoundError(why, { details: { vmId } })
  }

  #entry(id: string): VMEntry {
    const entry = this.#vms.get(id)
    if (!entry) {
      throw new VMManagerError(`VM '${id}' not found; listVMs() shows the known ids, createVM('${id}') makes one`, {
        details: { vmId: id },
      })
    }
    return entry
  }

  #members(clusterIdOrPattern: string, allowEmpty = false, includeRemoved = false): string[] {
    if (typeof clusterIdOrPattern !== 'string' || clusterIdOrPattern === '') {
      throw new InvalidArgumentError('a cluster id or VM id pattern is required')
    }
    const cluster = this.#clusters.get(clusterIdOrPattern)
    const ids = cluster
      ? cluster.vmIds.filter((id) => includeRemoved || this.#vms.has(id))
      : [...this.#vms.keys()].filter((id) => globToRegExp(clusterIdOrPattern).test(id))
    if (ids.length === 0 && !allowEmpty) {
      throw new VMManagerError(
        `no VM matches '${clusterIdOrPattern}'; pass a cluster id or a glob over VM ids such as 'worker_*' (VMs: ${this.#vms.size ? [...this.#vms.keys()].slice(0, 20).join(', ') : 'none'})`,
        { details: { pattern: clusterIdOrPattern } },
      )
    }
    return ids
  }

  #jobsOf(vmId: string): ExecutionJob[] {
    return [...this.#jobs.values()].filter((j) => j.vmId === vmId)
  }

  async #runJob(
    job: ExecutionJob,
    vm: BaseLuaVM,
    code: string,
    options: ExecOptions & { signal: AbortSignal },
    throwOnError: boolean,
  ): Promise<ExecResult> {
    const started = Date.now()
    let result: ExecResult
    try {
      result = await this.#jobQueue.run(() => {
        job.markRunning()
        return vm.execute(code, options)
      }, options.signal)
    } catch (error) {
      // Cancelled while waiting for a slot: the chunk never ran.
      if (!options.signal.aborted || error !== options.signal.reason) throw error
      result = {
        stdout: '',
        stderr: '',
        stdoutBytes: new Uint8Array(0),
        stderrBytes: new Uint8Array(0),
        values: [],
        exitCode: 3,
        success: false,
        status: 'killed',
        truncated: false,
        durationMs: Date.now() - started,
        backend: vm.type,
        luaVersion: vm.luaVersion,
      }
    }
    if (throwOnError && result.status !== 'ok') throw errorFromResult(result)
    return result
  }

  #jobSettled(job: ExecutionJob): void {
    if (job.status === 'done') this.#counts.completed++
    else if (job.status === 'cancelled') this.#counts.cancelled++
    else this.#counts.failed++
    this.#pruneJobs()
  }

  #pruneJobs(): void {
    let finished = 0
    for (const job of this.#jobs.values()) if (job.settled) finished++
    for (const [id, job] of this.#jobs) {
      if (finished <= this.#jobHistoryLimit) break
      if (!job.settled) continue
      this.#jobs.delete(id)
      finished--
    }
  }

  #assertOpen(): void {
    if (this.#shutdown) throw shutDownError()
  }
}

function shutDownError(): VMManagerError {
  return new VMManagerError('manager is shut down; create a new VMManager')
}

function checkId(what: string, id: unknown): asserts id is string {
  if (typeof id !== 'string' || id.trim() === '' || id.length > 200 || /[\r\n]/.test(id)) {
    throw new InvalidArgumentError(`${what} must be a non-empty single-line string of at most 200 characters`)
  }
}

/** A glob over VM ids: `*` any run of characters, `?` one character; everything else literal. */
export function globToRegExp(glob: string): RegExp {
  let source = ''
  for (const ch of glob) {
    if (ch === '*') source += '.*'
    else if (ch === '?') source += '.'
    else source += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&')
  }
  return new RegExp(`^${source}$`, 's')
}

function withDeadline<T>(
  promise: Promise<T>,
  options: { timeoutMs?: number; signal?: AbortSignal },
  onTimeout: () => Error,
): Promise<T> {
  const { timeoutMs, signal } = options
  if (timeoutMs === undefined && !signal) return promise
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs >= 0))) {
    return Promise.reject(new InvalidArgumentError(`timeoutMs must be a non-negative number, got ${timeoutMs}`))
  }
  return new Promise<T>((resolve, reject) => {
    const timer = timeoutMs === undefined ? undefined : startTimer(timeoutMs, () => done(() => reject(onTimeout())))
    // A typed error like every other rejection; the caller's reason rides along as the cause.
    const onAbort = () =>
      done(() => reject(new VMManagerError('the wait was aborted by its signal', { cause: signal?.reason })))
    const done = (settle: () => void) => {
      timer?.cancel()
      signal?.removeEventListener('abort', onAbort)
      settle()
    }
    if (signal?.aborted) return onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => done(() => resolve(v)),
      (e: unknown) => done(() => reject(e)),
    )
  })
}
