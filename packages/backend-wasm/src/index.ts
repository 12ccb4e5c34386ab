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
import { bindApi } from './api.js'

const api = bindApi(() => import('./platform/node.js').then((m) => m.nodePlatform))

export const {
  wasmBackend,
  fengariBackend,
  createWasmBackend,
  createFengariBackend,
  createWasmVM,
  createFengariVM,
  shutdownWorkers,
} = api

export * from './exports.js'
