import { validateSection } from '../config/schema.js'
import type { BaseLuaVM, ExecDefaults } from '../contract/base-vm.js'
import type { BackendCapabilities } from '../contract/types.js'
import type { BackendDescriptor } from '../registry/backend-descriptor.js'
import type { BackendRegistry } from '../registry/backend-registry.js'

/** Options of `runConformance` and {@link createConformanceContext}. */
export interface ConformanceOptions {
  /** Backend config every VM of the run gets (merged under a check's own config). */
  config?: Record<string, unknown>
  /**
   * Registry to create VMs through; the descriptor must be registered in it.
   * Default: the descriptor's own `load()`, with its schema validating the config.
   */
  registry?: BackendRegistry
  /** Names of checks to skip (reported as skipped, with the reason "skipped by options"). */
  skip?: string[]
  /** Per-check test timeout in milliseconds (default 30 000). */
  timeoutMs?: number
  /** What `luaVersion` must match (default `/Lua 5\.[1-4]|LuaJIT/`). */
  luaVersion?: RegExp
  /** Default execution limits of every VM. */
  limits?: Partial<ExecDefaults>
  /**
   * Capabilities that differ from the descriptor's for the config under test
   * (a `process` VM in `oneshot` mode keeps no state, for example); checks
   * are chosen by the merged set.
   */
  capabilities?: Partial<BackendCapabilities>
}

/** Options of {@link ConformanceContext.createVM}. */
export interface ConformanceVMOptions {
  /** Start the VM before returning it (default true). */
  start?: boolean
}

/** What a check runs against. */
export interface ConformanceContext {
  /** The backend under test. */
  readonly descriptor: BackendDescriptor<never> | BackendDescriptor
  /** Options of the run. */
  readonly options: ConformanceOptions
  /** The backend's declared capabilities. */
  readonly capabilities: BackendCapabilities
  /** The pattern `luaVersion` must match. */
  readonly luaVersion: RegExp
  /** Creates a VM of the backend (started unless `start: false`); it is stopped by `dispose`. */
  createVM(config?: Record<string, unknown>, options?: ConformanceVMOptions): Promise<BaseLuaVM>
  /** Stops every VM this context created. */
  dispose(): Promise<void>
}

/** The default pattern of an acceptable `luaVersion`. */
export const DEFAULT_LUA_VERSION = /Lua 5\.[1-4]|LuaJIT/

let counter = 0

/**
 * A context for running conformance checks by hand (outside `describe`),
 * e.g. to prove that a deliberately broken backend fails a check. Call
 * `dispose()` when done.
 */
export function createConformanceContext(
  descriptor: BackendDescriptor<never> | BackendDescriptor,
  options: ConformanceOptions = {},
): ConformanceContext {
  const vms: BaseLuaVM[] = []
  const d = descriptor as BackendDescriptor
  return {
    descriptor,
    options,
    capabilities: { ...d.capabilities, ...options.capabilities },
    luaVersion: options.luaVersion ?? DEFAULT_LUA_VERSION,
    async createVM(config = {}, vmOptions = {}) {
      const id = `conformance-${d.type}-${++counter}`
      const merged = { ...options.config, ...config }
      const start = vmOptions.start !== false
      if (options.registry) {
        const vm = await options.registry.create(d.type, id, merged, {
          autoStart: false,
          ...(options.limits ? { limits: options.limits } : {}),
        })
        vms.push(vm)
        if (start) await vm.start()
        return vm
      }
      const validated = d.configSchema ? validateSection(d.configSchema, merged, `backends.${d.type}`) : merged
      const impl = await d.load()
      const vm = impl.createVM({
        id,
        type: d.type,
        config: validated,
        ...(options.limits ? { limits: options.limits } : {}),
      })
      vms.push(vm)
      if (start) await vm.start()
      return vm
    },
    async dispose() {
      const all = vms.splice(0)
      await Promise.allSettled(all.map((vm) => vm.stop({ force: true })))
    },
  }
}
