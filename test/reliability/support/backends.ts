import { processBackend } from '@bioxen-luavm/backend-process'
import { fengariBackend, shutdownWorkers, wasmBackend } from '@bioxen-luavm/backend-wasm'
import { BackendRegistry, type CreateManagedVMOptions, type ExecResult, VMManager } from '@bioxen-luavm/core'

/** A registry with the three local backends: process (native lua5.4), wasm and fengari. */
export function localRegistry(): BackendRegistry {
  return new BackendRegistry().register(processBackend).register(wasmBackend).register(fengariBackend)
}

/** A manager over {@link localRegistry}. */
export function localManager(options: { maxConcurrentJobs?: number } = {}): VMManager {
  return new VMManager({ registry: localRegistry(), jobHistoryLimit: 200, ...options })
}

/** VM settings the suite uses, by role. The process backend is pinned to lua5.4 (plain `lua` may be 5.1). */
export const VM_KINDS = {
  wasm: { type: 'wasm' },
  fengari: { type: 'fengari' },
  processPool: { type: 'process', config: { luaExecutable: 'lua5.4', mode: 'pool', poolSize: 2 } },
  processPersistent: { type: 'process', config: { luaExecutable: 'lua5.4', mode: 'persistent' } },
} as const satisfies Record<string, CreateManagedVMOptions>

/** Terminates every wasm/fengari worker thread this process started. */
export const stopWorkers = shutdownWorkers

/** A one-line summary of a result for assertion messages. */
export function brief(r: ExecResult | undefined): string {
  if (!r) return 'undefined'
  return JSON.stringify({
    status: r.status,
    backend: r.backend,
    stdout: r.stdout.slice(0, 200),
    values: r.values,
    error: r.error?.message.slice(0, 200),
  })
}
