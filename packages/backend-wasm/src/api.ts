import type { BackendDescriptor } from '@bioxen-luavm/core'
import type { WasmBackendOptions, WasmVMConfig } from './config.js'
import { type CreateVMOptions, createVMFrom } from './create-vm.js'
import { fengariDescriptor, type PlatformLoader, wasmDescriptor } from './descriptors.js'
import type { WasmLuaVM } from './wasm-vm.js'

/** The package's public functions and descriptors, bound to one platform (Node or browser). */
export interface WasmBackendApi {
  /** The `wasm` backend (Lua 5.4 in WebAssembly). Register it with a `BackendRegistry`. */
  readonly wasmBackend: BackendDescriptor<WasmVMConfig>
  /** The `fengari` backend (Lua 5.3 in pure JavaScript). Register it with a `BackendRegistry`. */
  readonly fengariBackend: BackendDescriptor<WasmVMConfig>
  /**
   * A `wasm` descriptor whose VMs also get `options` — host functions,
   * modules, a compiled glue.wasm: things a config file cannot hold.
   */
  createWasmBackend(options?: WasmBackendOptions): BackendDescriptor<WasmVMConfig>
  /** A `fengari` descriptor whose VMs also get `options`. */
  createFengariBackend(options?: WasmBackendOptions): BackendDescriptor<WasmVMConfig>
  /** Creates (and starts) a `wasm` VM directly, config and programmatic options together. */
  createWasmVM(options?: CreateVMOptions): Promise<WasmLuaVM>
  /** Creates (and starts) a `fengari` VM directly. */
  createFengariVM(options?: CreateVMOptions): Promise<WasmLuaVM>
  /** Terminates every worker this package started in this thread; VMs on them fail afterwards. */
  shutdownWorkers(): Promise<void>
}

/** Binds the API to a platform; each entry point (Node, browser) calls this once. */
export function bindApi(loadPlatform: PlatformLoader): WasmBackendApi {
  const createWasmBackend = (options: WasmBackendOptions = {}) => wasmDescriptor(loadPlatform, options)
  const createFengariBackend = (options: WasmBackendOptions = {}) => fengariDescriptor(loadPlatform, options)
  const wasmBackend = createWasmBackend()
  const fengariBackend = createFengariBackend()
  return {
    wasmBackend,
    fengariBackend,
    createWasmBackend,
    createFengariBackend,
    createWasmVM: (options = {}) => createVMFrom(wasmBackend, options),
    createFengariVM: (options = {}) => createVMFrom(fengariBackend, options),
    async shutdownWorkers() {
      const { closeSharedPools } = await import('./isolation/worker-pool.js')
      await closeSharedPools()
    },
  }
}
