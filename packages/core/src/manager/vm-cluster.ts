import type { ExecOptions } from '../contract/types.js'
import type { ExecutionJob } from './jobs.js'
import type { ClusterMemberStatus, ClusterResults, VMManager } from './vm-manager.js'

/**
 * A named group of VMs made by `VMManager.createCluster` (ids
 * `<clusterId>_000`, `<clusterId>_001`, ...). A thin handle: every method
 * goes through the manager, so removing a member there is seen here.
 */
export class VMCluster implements AsyncDisposable {
  /** Cluster id. */
  readonly id: string
  /** Member VM ids, in creation order. */
  readonly vmIds: readonly string[]
  readonly #manager: VMManager

  /**
   * @param manager - the manager that owns the members.
   * @param id - the cluster id.
   * @param vmIds - the member ids.
   */
  constructor(manager: VMManager, id: string, vmIds: readonly string[]) {
    this.#manager = manager
    this.id = id
    this.vmIds = Object.freeze([...vmIds])
  }

  /** Number of members. */
  get size(): number {
    return this.vmIds.length
  }

  /** Runs `code` on every member; one job per member. */
  broadcast(code: string, options: ExecOptions = {}): Map<string, ExecutionJob> {
    return this.#manager.broadcast(this.id, code, options)
  }

  /** Waits for every job; one member's failure never rejects (see `VMManager.waitForCluster`). */
  waitAll(jobs: Map<string, ExecutionJob>, options: { timeoutMs?: number } = {}): Promise<ClusterResults> {
    return this.#manager.waitForCluster(jobs, options)
  }

  /** Status of every member. */
  status(): Record<string, ClusterMemberStatus> {
    return this.#manager.clusterStatus(this.id)
  }

  /** Removes every member VM; returns how many were removed. */
  cleanup(): Promise<number> {
    return this.#manager.cleanupCluster(this.id)
  }

  /** Removes every member VM (`await using cluster = ...`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.cleanup()
  }

  /** `VMCluster(id='c', vms=3)`, like the original's repr. */
  toString(): string {
    return `VMCluster(id='${this.id}', vms=${this.size})`
  }
}
