import type { BaseLuaVM, ConfigManager } from '@bioxen-luavm/core'
import type { Command } from 'commander'
import { loadContext } from './context.js'
import type { CliIO } from './io.js'

/** Flags shared by commands that make a VM. */
export interface VMFlags {
  backend?: string
  timeout?: number
  memory?: number
  maxOutput?: number
}

/** Creates and starts a VM of the chosen backend (`--backend`, else config, else wasm) with the flags' limits. */
export async function openVM(
  id: string,
  command: Command,
  io: CliIO,
): Promise<{ vm: BaseLuaVM; config: ConfigManager }> {
  const flags = command.opts<VMFlags>()
  const { config, registry } = await loadContext(command, io)
  const type = await registry.resolveType(flags.backend ?? config.defaultBackend)
  const schema = registry.get(type)?.configSchema
  const vm = await registry.create(type, id, schema ? config.backend(type, schema) : {}, {
    limits: {
      ...config.limits,
      ...(flags.timeout === undefined ? {} : { timeoutMs: flags.timeout }),
      ...(flags.memory === undefined ? {} : { memoryLimitBytes: flags.memory }),
      ...(flags.maxOutput === undefined ? {} : { maxOutputBytes: flags.maxOutput }),
    },
  })
  return { vm, config }
}
