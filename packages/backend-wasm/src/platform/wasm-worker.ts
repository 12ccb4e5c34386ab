import { createWasmoonEngine } from '../engine/wasmoon-engine.js'
import { serveWorker, wasmSetup } from '../isolation/worker-entry.js'
import { workerScopePort } from './worker-scope.js'

// Web Worker entry for wasm VMs (dist/browser/wasm-worker.js): wasmoon only.
serveWorker(workerScopePort(), {
  wasmoon: (options, hooks, init) => createWasmoonEngine(options, hooks, wasmSetup(init)),
})
