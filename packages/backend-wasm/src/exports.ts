// What both entry points export besides the platform-bound API.
export type { WasmBackendApi } from './api.js'
export {
  type Isolation,
  type WasmBackendConfig,
  type WasmBackendOptions,
  type WasmVMConfig,
  WASM_DEFAULTS,
  fengariConfigSchema,
  wasmConfigSchema,
} from './config.js'
export type { CreateVMOptions } from './create-vm.js'
export { FENGARI_CAPABILITIES, WASM_CAPABILITIES } from './descriptors.js'
export type { HostFunctions, StateLoss } from './isolation/types.js'
export type { WasmLuaVM } from './wasm-vm.js'
