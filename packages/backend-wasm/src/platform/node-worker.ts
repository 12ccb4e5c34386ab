import { parentPort } from 'node:worker_threads'
import { serveWorker } from '../isolation/worker-entry.js'

// Node worker_threads entry (dist/node-worker.js).
if (!parentPort) throw new Error('@bioxen-luavm/backend-wasm: node-worker must run as a worker thread')
const port = parentPort
serveWorker({
  post: (message, transfer) => port.postMessage(message, transfer as never),
  listen: (handler) => port.on('message', handler),
})
