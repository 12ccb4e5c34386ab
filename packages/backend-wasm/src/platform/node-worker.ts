import { parentPort } from 'node:worker_threads'
import { serveWorker, wasmSetup } from '../isolation/worker-entry.js'

// Node worker_threads entry (dist/node-worker.js): both engines, each loaded
// on first use (a worker hosts one kind of engine: see PoolSettings.engine).
if (!parentPort) throw new Error('@bioxen-luavm/backend-wasm: node-worker must run as a worker thread')
const port = parentPort
serveWorker(
  {
    post: (message, transfer) => port.postMessage(message, transfer as never),
    listen: (handler) => port.on('message', handler),
  },
  {
    wasmoon: async (options, hooks, init) =>
      (await import('../engine/wasmoon-engine.js')).createWasmoonEngine(options, hooks, wasmSetup(init)),
    fengari: async (options, hooks) =>
      (await import('../engine/fengari-engine.js')).createFengariEngine(options, hooks),
  },
)
