import type { WorkerPort } from '../isolation/worker-entry.js'

/** The Web Worker's own scope as a {@link WorkerPort}. */
export function workerScopePort(): WorkerPort {
  const scope = globalThis as unknown as {
    postMessage(message: unknown, transfer?: Transferable[]): void
    onmessage: ((event: MessageEvent) => void) | null
  }
  return {
    post: (message, transfer) => scope.postMessage(message, transfer ?? []),
    listen: (handler) => {
      scope.onmessage = (event) => handler(event.data)
    },
  }
}
