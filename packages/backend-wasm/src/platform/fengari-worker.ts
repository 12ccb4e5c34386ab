import { createFengariEngine } from '../engine/fengari-engine.js'
import { serveWorker } from '../isolation/worker-entry.js'
import { workerScopePort } from './worker-scope.js'

// Web Worker entry for fengari VMs (dist/browser/fengari-worker.js): fengari
// only, and no WebAssembly at all, so it runs under a CSP without
// 'wasm-unsafe-eval'.
serveWorker(workerScopePort(), {
  fengari: async (options, hooks) => createFengariEngine(options, hooks),
})
