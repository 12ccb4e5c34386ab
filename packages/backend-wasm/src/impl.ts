import type { BackendImplementation, VMInit } from '@bioxen-luavm/core'
import type { WasmBackendOptions, WasmVMConfig } from './config.js'
import type { Platform } from './platform/types.js'
import { WasmLuaVM, type WasmVMKind } from './wasm-vm.js'

/**
 * The heavy half of both backends, loaded by `descriptor.load()`. Options
 * given to `createWasmBackend()` fill in what config cannot express;
 * config keys win where both name the same thing.
 */
export function implementation(
  kind: WasmVMKind,
  platform: Platform,
  defaults: WasmBackendOptions,
): BackendImplementation<WasmVMConfig> {
  return {
    createVM(init: VMInit<WasmVMConfig>): WasmLuaVM {
      const config = stripUndefined(init.config ?? {})
      return new WasmLuaVM({ ...init, config: { ...defaults, ...config } }, kind, platform)
    },
  }
}

export { WasmLuaVM }

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
