import { parentPort } from 'node:worker_threads'
import { serveWorker } from './worker-entry.js'

// Node worker_threads entry (dist/worker-node.js).
if (!parentPort) throw new Error('@bioxen-luavm/backend-wasm: worker-node must run as a worker thread')
const port = parentPort
serveWorker({
  post: (message, transfer) => port.postMessage(message, transfer as never),
  listen: (handler) => port.on('message', handler),
})
