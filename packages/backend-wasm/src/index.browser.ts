/**
 * `@bioxen-luavm/backend-wasm`, browser entry: the same API as the Node
 * entry, with Web Workers and glue.wasm fetched from the app's own origin.
 * Nothing here imports a Node built-in.
 *
 * @packageDocumentation
 */
import { bindApi } from './api.js'

const api = bindApi(() => import('./platform/browser.js').then((m) => m.browserPlatform))

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
