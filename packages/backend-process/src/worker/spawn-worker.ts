import type { DriverHello } from '@bioxen-luavm/core'
import { DriverWorker, type DriverWorkerOptions } from './driver-worker.js'
import { needsStdoutGuard, STDOUT_GUARD_LUA } from './stdout-guard.js'

/** Everything needed to start a driver worker; shared by all workers of a VM. */
export type WorkerSpec = DriverWorkerOptions

/** A started worker and what its driver said at start. */
export interface SpawnedWorker {
  worker: DriverWorker
  hello: DriverHello
}

/**
 * Starts a worker and prepares it for user code: the handshake, then the
 * stdout guard where Lua can start processes. Leaves nothing running when
 * it rejects.
 */
export async function startWorker(spec: WorkerSpec): Promise<SpawnedWorker> {
  const worker = new DriverWorker(spec)
  const hello = await worker.start()
  if (needsStdoutGuard(spec.sandbox, spec.grants)) {
    try {
      const r = await worker.exec(STDOUT_GUARD_LUA, {
        chunkName: 'luavm-stdout-guard',
        echo: false,
        repl: false,
        timeoutMs: spec.startTimeoutMs,
        maxOutputBytes: 0,
      })
      if (r.died) throw new Error(r.died)
    } catch (error) {
      await worker.stop({ force: true })
      throw error
    }
  }
  return { worker, hello }
}
