import type { BackendDescriptor, ExecDefaults, Logger } from '@bioxen-luavm/core'
import { newId, validateSection } from '@bioxen-luavm/core'
import type { WasmBackendConfig, WasmBackendOptions, WasmVMConfig } from './config.js'
import type { WasmLuaVM } from './wasm-vm.js'

/** Options of `createWasmVM` / `createFengariVM`: config keys, programmatic options and VM settings. */
export interface CreateVMOptions extends Omit<WasmBackendConfig, 'workerUrl' | 'wasmUrl'>, WasmBackendOptions {
  /** VM id (default: a generated one). */
  id?: string
  /** Default execution limits. */
  limits?: Partial<ExecDefaults>
  logger?: Logger
  /** Start the VM before returning it (default true). */
  autoStart?: boolean
}

// Keys config files cannot express: they skip schema validation.
const PROGRAMMATIC = new Set(['hostFunctions', 'modules', 'wasmModule'])

/**
 * Creates a VM without a registry: config keys are validated like the
 * registry does, programmatic options (host functions, modules, a compiled
 * module, URL objects) are passed through.
 */
export async function createVMFrom(
  descriptor: BackendDescriptor<WasmVMConfig>,
  options: CreateVMOptions = {},
): Promise<WasmLuaVM> {
  const { id, limits, logger, autoStart, ...rest } = options
  const config: Record<string, unknown> = {}
  const extra: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(rest)) {
    if (value === undefined) continue
    if (PROGRAMMATIC.has(key) || value instanceof URL) extra[key] = value
    else config[key] = value
  }
  const validated = descriptor.configSchema
    ? validateSection(descriptor.configSchema, config, `backends.${descriptor.type}`)
    : config
  const impl = await descriptor.load()
  const vm = impl.createVM({
    id: id ?? newId(descriptor.type),
    type: descriptor.type,
    config: { ...validated, ...extra } as WasmVMConfig,
    ...(limits ? { limits } : {}),
    ...(logger ? { logger } : {}),
  }) as WasmLuaVM
  if (autoStart !== false) {
    try {
      await vm.start()
    } catch (error) {
      await vm.stop({ force: true }).catch(() => undefined)
      throw error
    }
  }
  return vm
}
