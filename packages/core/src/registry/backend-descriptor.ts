import type { ConfigSchema } from '../config/schema.js'
import type { BaseLuaVM, VMInit } from '../contract/base-vm.js'
import type { BackendCapabilities } from '../contract/types.js'

/** Whether a backend can run on this machine, and why not. */
export interface DetectResult {
  available: boolean
  /** Why it is unavailable, with what to do about it. */
  reason?: string
  /** Engine or interpreter version, e.g. `Lua 5.4.4`. */
  version?: string
  /** Backend-specific facts (interpreter path, found interpreters, ...). */
  details?: Record<string, unknown>
}

/** The heavy part of a backend, loaded lazily by the registry. */
export interface BackendImplementation<C = Record<string, unknown>> {
  /** Builds a VM (not yet started). */
  createVM(init: VMInit<C>): BaseLuaVM
}

/**
 * A backend as a plain descriptor object: cheap to import and register; its
 * implementation loads only when a VM is created (`load` should be an
 * `import()`), so hosts pay only for what they use.
 */
export interface BackendDescriptor<C = Record<string, unknown>> {
  /** Type name users ask for, e.g. `wasm`. Lowercase letters, digits and `-`. */
  readonly type: string
  /** Other names for this type (the original's `basic` for `process`). */
  readonly aliases?: readonly string[]
  /** One line for listings. */
  readonly description: string
  /** What VMs of this backend can do. */
  readonly capabilities: BackendCapabilities
  /** Config keys the backend accepts; validated by `ConfigManager` before `createVM`. */
  readonly configSchema?: ConfigSchema
  /**
   * Rules spanning several keys of a validated config section (a schema
   * checks each key on its own): returns what is wrong, naming the keys, or
   * undefined. Run by `BackendRegistry.create` and `ConfigManager.validate`.
   */
  checkConfig?(config: Readonly<Record<string, unknown>>): string | undefined
  /** Reports whether the backend can run here. Must not throw; must be quick. */
  detect(): Promise<DetectResult>
  /** Loads the implementation (typically `() => import('./impl.js')`). */
  load(): Promise<BackendImplementation<C>>
}
