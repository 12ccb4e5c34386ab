import type { BaseLuaVM, ConfigManager } from '@bioxen-luavm/core'
import type { Command } from 'commander'
import { loadContext } from './context.js'
import { UsageError } from './errors.js'
import type { CliIO } from './io.js'
import { progressLine } from './progress.js'

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
  const descriptor = registry.get(type)
  if (flags.memory !== undefined && descriptor?.capabilities.memoryLimit === false) {
    throw new UsageError(
      `--memory: backend '${type}' cannot enforce a memory cap`,
      'hint: `bioxen-luavm backends` shows which backends enforce memoryLimit (wasm and process do)',
    )
  }
  const schema = descriptor?.configSchema
  const vm = await registry.create(type, id, schema ? config.backend(type, schema) : {}, {
    autoStart: false,
    limits: {
      ...config.limits,
      ...(flags.timeout === undefined ? {} : { timeoutMs: flags.timeout }),
      ...(flags.memory === undefined ? {} : { memoryLimitBytes: flags.memory }),
      ...(flags.maxOutput === undefined ? {} : { maxOutputBytes: flags.maxOutput }),
    },
  })
  await startWithProgress(vm, io)
  return { vm, config }
}

/**
 * Starts a VM; backends that provision (XCP-ng) report their steps, which a
 * terminal shows as a progress line. A failed start leaves nothing behind.
 */
export async function startWithProgress(vm: BaseLuaVM, io: CliIO): Promise<void> {
  const progress = progressLine(io)
  const source = vm as { onProvisionProgress?: (l: (p: { step: string; progress?: number }) => void) => () => void }
  const unsubscribe = source.onProvisionProgress?.((p) => progress.update(p.step, p.progress))
  try {
    await vm.start()
  } catch (error) {
    await vm.stop({ force: true }).catch(() => {})
    throw error
  } finally {
    unsubscribe?.()
    progress.done()
  }
}
