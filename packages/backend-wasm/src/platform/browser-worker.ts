import { serveWorker } from '../isolation/worker-entry.js'

// Web Worker entry (dist/browser/browser-worker.js).
const scope = globalThis as unknown as {
  postMessage(message: unknown, transfer?: Transferable[]): void
  onmessage: ((event: MessageEvent) => void) | null
}
serveWorker({
  post: (message, transfer) => scope.postMessage(message, transfer ?? []),
  listen: (handler) => {
    scope.onmessage = (event) => handler(event.data)
  },
})
