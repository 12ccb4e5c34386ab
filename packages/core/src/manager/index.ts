/**
 * The VM manager and what it hands out: jobs, clusters and REPL sessions.
 *
 * @module
 */
export {
  ExecutionJob,
  type ExecutionJobInit,
  errorToJSON,
  type JobStatus,
} from './jobs.js'
export {
  type ReadOutputOptions,
  ReplSession,
  type ReplSessionOptions,
  type SendInputOptions,
} from './repl-session.js'
export { VMCluster } from './vm-cluster.js'
export {
  type ClusterMemberResult,
  type ClusterMemberStatus,
  type ClusterResults,
  type CreateInteractiveVMOptions,
  type CreateManagedVMOptions,
  globToRegExp,
  type ManagedSessionInfo,
  type ManagedVMInfo,
  VMManager,
  type VMManagerOptions,
  type VMManagerStats,
} from './vm-manager.js'
