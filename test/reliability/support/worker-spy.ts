import { Worker } from 'node:worker_threads'

/**
 * Sees every worker thread this process starts, without touching
 * backend-wasm: it wraps `Worker.prototype.postMessage` (every worker of the
 * package gets an init message first), so the suite can
 * - prove that no worker thread outlives its VMs (`threadId` is -1 once a
 *   worker has exited), and
 * - inject a crash: terminate the thread that is running a given chunk, the
 *   way a V8 fatal error or an OOM kill of the thread would end it.
 *
 * backend-wasm has no crash hook of its own (no test hook, no thread id in
 * `getStatus().details`, only its own `workerId` counter); this spy is the
 * stand-in. It depends on the worker protocol sending
 * `{ t: 'exec', request: { code } }` for executions, and falls back to the
 * worker that received the latest exec when that shape changes.
 */
interface Seen {
  worker: Worker
  lastExecCode?: string
  lastExecAt: number
}

const KEY = Symbol.for('luavm.reliability.workerSpy')
type Registry = Map<Worker, Seen>

function registry(): Registry {
  const g = globalThis as unknown as Record<symbol, Registry | undefined>
  let seen = g[KEY]
  if (!seen) {
    const map: Registry = new Map()
    seen = map
    g[KEY] = seen
    const original = Worker.prototype.postMessage
    Worker.prototype.postMessage = function postMessage(this: Worker, message: unknown, ...rest: unknown[]) {
      let entry = map.get(this)
      if (!entry) {
        entry = { worker: this, lastExecAt: 0 }
        map.set(this, entry)
      }
      const m = message as { t?: unknown; request?: { code?: unknown } } | null
      if (m && typeof m === 'object' && m.t === 'exec') {
        entry.lastExecAt = performance.now()
        entry.lastExecCode = typeof m.request?.code === 'string' ? m.request.code : undefined
      }
      return (original as (...a: unknown[]) => void).call(this, message, ...rest)
    } as typeof Worker.prototype.postMessage
  }
  return seen
}

/** Installs the spy (idempotent). Call before the first wasm/fengari VM starts. */
export function installWorkerSpy(): void {
  registry()
}

/** Worker threads seen so far that are still running. */
export function liveWorkers(): Worker[] {
  return [...registry().values()].map((s) => s.worker).filter((w) => w.threadId !== -1)
}

/** How many worker threads were seen in total. */
export function workersSeen(): number {
  return registry().size
}

/**
 * The live worker running the chunk that contains `marker` (the one whose
 * latest exec carried it), else the live worker with the most recent exec.
 */
export function workerRunning(marker: string): Worker | undefined {
  const live = [...registry().values()].filter((s) => s.worker.threadId !== -1)
  const exact = live.filter((s) => s.lastExecCode?.includes(marker))
  const pool = exact.length ? exact : live
  return pool.sort((a, b) => b.lastExecAt - a.lastExecAt)[0]?.worker
}

/** Waits (polling) until every seen worker thread has exited; returns those still alive after `timeoutMs`. */
export async function workersGone(timeoutMs = 5_000): Promise<Worker[]> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const live = liveWorkers()
    if (live.length === 0 || Date.now() > end) return live
    await new Promise((r) => setTimeout(r, 25))
  }
}
