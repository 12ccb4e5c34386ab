/**
 * `@bioxen-luavm/backend-wasm` — two in-process Lua backends for
 * `@bioxen-luavm/core`, in Node and in browsers:
 *
 * - `wasm`: Lua 5.4 compiled to WebAssembly (wasmoon 1.16), one
 *   WebAssembly instance per VM, heap capped by the allocator;
 * - `fengari`: Lua 5.3 in pure JavaScript, where WebAssembly is not allowed.
 *
 * Both run core's runtime (sandbox, deadline hook, output cap) and, by
 * default, inside worker threads the host terminates past the deadline.
 *
 * ```ts
 * import { BackendRegistry } from '@bioxen-luavm/core'
 * import { wasmBackend } from '@bioxen-luavm/backend-wasm'
 * const registry = new BackendRegistry().register(wasmBackend)
 * const vm = await registry.create('wasm')
 * await vm.execute('print("hi")')
 * ```
 *
 * This is the Node entry; bundlers targeting browsers get `index.browser`.
 *
 * @packageDocumentation
 */
import { bindApi, type WasmBackendApi } from './api.js'

const api = bindApi(() => import('./platform/node.js').then((m) => m.nodePlatform))

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
