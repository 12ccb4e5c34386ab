import type { BackendCapabilities, BackendDescriptor, DetectResult } from '@bioxen-luavm/core'
import {
  fengariConfigSchema,
  type WasmBackendOptions,
  type WasmVMConfig,
  wasmConfigProblem,
  wasmConfigSchema,
} from './config.js'
import type { Platform } from './platform/types.js'
import type { WasmVMKind } from './wasm-vm.js'

/**
 * What both backends can do (with the default worker isolation). Packages:
 * pure-Lua rocks, unpacked in memory and mounted into the VM; the sandbox
 * cannot load C modules, so installers skip native rocks here.
 */
const COMMON: Omit<BackendCapabilities, 'memoryLimit'> = {
  sandboxed: true,
  persistentState: true,
  sessions: true,
  packages: true,
  packageKinds: Object.freeze(['pure'] as const),
  networking: false,
  hardTimeout: true,
  remote: false,
}

/** Capabilities of the `wasm` backend: the allocator enforces `memoryLimitBytes`. */
export const WASM_CAPABILITIES: Readonly<BackendCapabilities> = Object.freeze({ ...COMMON, memoryLimit: true })

/**
 * Capabilities of the `fengari` backend. fengari allocates through the JS
 * garbage collector and has no allocator hook, so no heap cap is enforced
 * inside the engine (`memoryLimit: false`); in worker isolation the worker's
 * V8 heap limit (`workerMaxHeapMb`) bounds it from outside.
 */
export const FENGARI_CAPABILITIES: Readonly<BackendCapabilities> = Object.freeze({ ...COMMON, memoryLimit: false })

/** Loads the platform layer (Node or browser); chosen by the package entry point. */
export type PlatformLoader = () => Promise<Platform>

/** Builds the `wasm` descriptor for a platform. Used by the entry points. */
export function wasmDescriptor(
  loadPlatform: PlatformLoader,
  options: WasmBackendOptions = {},
): BackendDescriptor<WasmVMConfig> {
  const kind: WasmVMKind = { engine: 'wasmoon', capabilities: WASM_CAPABILITIES }
  return {
    type: 'wasm',
    description: 'Lua 5.4 in a WebAssembly sandbox (wasmoon), in a worker thread or inline; Node and browsers',
    capabilities: WASM_CAPABILITIES,
    configSchema: wasmConfigSchema,
    checkConfig: (config) => wasmConfigProblem('wasm', config),
    detect(): Promise<DetectResult> {
      return Promise.resolve(
        typeof WebAssembly === 'object'
          ? { available: true, version: 'Lua 5.4', details: { engine: 'wasmoon 1.16.0' } }
          : {
              available: false,
              reason:
                'WebAssembly is not available here (or blocked by a Content-Security-Policy); use the fengari backend',
            },
      )
    },
    async load() {
      const [impl, platform] = await Promise.all([import('./impl.js'), loadPlatform()])
      return impl.implementation(kind, platform, options)
    },
  }
}

/** Builds the `fengari` descriptor for a platform. Used by the entry points. */
export function fengariDescriptor(
  loadPlatform: PlatformLoader,
  options: WasmBackendOptions = {},
): BackendDescriptor<WasmVMConfig> {
  const kind: WasmVMKind = { engine: 'fengari', capabilities: FENGARI_CAPABILITIES }
  return {
    type: 'fengari',
    description: 'Lua 5.3 in pure JavaScript (fengari): no WebAssembly needed, 32-bit integers, no heap cap',
    capabilities: FENGARI_CAPABILITIES,
    configSchema: fengariConfigSchema,
    checkConfig: (config) => wasmConfigProblem('fengari', config),
    detect(): Promise<DetectResult> {
      return Promise.resolve({ available: true, version: 'Lua 5.3', details: { engine: 'fengari 0.1.5', intBits: 32 } })
    },
    async load() {
      const [impl, platform] = await Promise.all([import('./impl.js'), loadPlatform()])
      return impl.implementation(kind, platform, options)
    },
  }
}
