import { VMStateError } from '../errors/index.js'
import type { VMState } from './types.js'

// Legal lifecycle moves. `failed` can be restarted or stopped; `stopped` can
// be started again, so a VM object is reusable after stop().
const transitions: Readonly<Record<VMState, readonly VMState[]>> = {
  created: ['starting', 'stopped'],
  starting: ['running', 'failed', 'stopping'],
  running: ['stopping', 'failed'],
  stopping: ['stopped', 'failed'],
  stopped: ['starting'],
  failed: ['starting', 'stopping', 'stopped'],
}

/** True when a VM may move from `from` to `to`. */
export function canTransition(from: VMState, to: VMState): boolean {
  return transitions[from].includes(to)
}

/** Throws `VMStateError` unless the move is legal. */
export function assertTransition(vmId: string, from: VMState, to: VMState): void {
  if (!canTransition(from, to)) {
    throw new VMStateError(`VM '${vmId}' cannot go from '${from}' to '${to}'`, { details: { vmId, from, to } })
  }
}
