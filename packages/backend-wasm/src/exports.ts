// What both entry points export besides the platform-bound API.
export type { WasmBackendApi } from './api.js'
export {
  fengariConfigSchema,
  type Isolation,
  WASM_DEFAULTS,
  type WasmBackendConfig,
  type WasmBackendOptions,
  type WasmVMConfig,
  wasmConfigSchema,
} from './config.js'
export type { CreateVMOptions } from './create-vm.js'
export { FENGARI_CAPABILITIES, WASM_CAPABILITIES } from './descriptors.js'
export type { HostFunctions, StateLoss } from './isolation/types.js'
export type { InstalledPackage, RockBytes, SandboxInstallOptions } from './packages/index.js'
export type { WasmLuaVM } from './wasm-vm.js'
