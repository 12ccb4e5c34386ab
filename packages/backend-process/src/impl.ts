import type { BackendImplementation, VMInit } from '@bioxen-luavm/core'
import type { ProcessBackendConfig } from './config.js'
import { ProcessLuaVM } from './process-vm.js'

/** What the registry loads lazily for the `process` backend. */
export const implementation: BackendImplementation<ProcessBackendConfig> = {
  createVM: (init: VMInit<ProcessBackendConfig>) => new ProcessLuaVM(init),
}

/** Builds a (not yet started) process VM. */
export const createVM = implementation.createVM
