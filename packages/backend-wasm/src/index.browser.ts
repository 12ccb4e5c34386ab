/**
 * `@bioxen-luavm/backend-wasm`, browser entry: the same API as the Node
 * entry, with Web Workers and glue.wasm fetched from the app's own origin.
 * Nothing here imports a Node built-in.
 *
 * @packageDocumentation
 */
import { bindApi, type WasmBackendApi } from './api.js'

const api = bindApi(() => import('./platform/browser.js').then((m) => m.browserPlatform))

/** The `wasm` backend (Lua 5.4 in WebAssembly). Register it with a `BackendRegistry`. */
export const wasmBackend: WasmBackendApi['wasmBackend'] = api.wasmBackend
/** The `fengari` backend (Lua 5.3 in pure JavaScript). Register it with a `BackendRegistry`. */
export const fengariBackend: WasmBackendApi['fengariBackend'] = api.fengariBackend
/** A `wasm` descriptor whose VMs also get programmatic options (host functions, modules, a compiled glue.wasm). */
export const createWasmBackend: WasmBackendApi['createWasmBackend'] = api.createWasmBackend
/** A `fengari` descriptor whose VMs also get programmatic options. */
export const createFengariBackend: WasmBackendApi['createFengariBackend'] = api.createFengariBackend
/** Creates (and starts) a `wasm` VM directly, config and programmatic options together. */
export const createWasmVM: WasmBackendApi['createWasmVM'] = api.createWasmVM
/** Creates (and starts) a `fengari` VM directly. */
export const createFengariVM: WasmBackendApi['createFengariVM'] = api.createFengariVM
/** Terminates every worker this package started in this thread; VMs on them fail afterwards. */
export const shutdownWorkers: WasmBackendApi['shutdownWorkers'] = api.shutdownWorkers

export * from './exports.js'
