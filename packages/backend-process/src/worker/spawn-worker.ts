import type { DriverHello } from '@bioxen-luavm/core'
import { DriverWorker, type DriverWorkerOptions } from './driver-worker.js'

/** Everything needed to start a driver worker; shared by all workers of a VM. */
export type WorkerSpec = DriverWorkerOptions

/** A started worker and what its driver said at start. */
export interface SpawnedWorker {
  worker: DriverWorker
  hello: DriverHello
}

/**
 * Starts a worker and prepares it for user code (the handshake). Leaves
 * nothing running when it rejects. Child processes cannot corrupt the frame
 * channel: the driver asks the runtime to point their stdout at stderr
 * (`child_stdout = "stderr"`), which also holds after a reset.
 */
export async function startWorker(spec: WorkerSpec): Promise<SpawnedWorker> {
  const worker = new DriverWorker(spec)
  const hello = await worker.start()
  return { worker, hello }
}
