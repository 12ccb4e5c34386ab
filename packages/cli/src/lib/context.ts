import type { BackendRegistry, ConfigManager } from '@bioxen-luavm/core'
import type { Command } from 'commander'
import { loadConfig } from './config.js'
import type { GlobalFlags } from './global-flags.js'
import type { CliIO } from './io.js'
import { buildRegistry } from './registry.js'

/** What every command works with: the merged config and a registry with built-ins and plugins. */
export interface CliContext {
  config: ConfigManager
  registry: BackendRegistry
}

/** Loads config (`--config`), then the registry with config and `--plugin` plugins. */
export async function loadContext(command: Command, io: CliIO): Promise<CliContext> {
  const globals = command.optsWithGlobals<GlobalFlags>()
  const config = await loadConfig(globals.config, io.env)
  const registry = await buildRegistry([...config.plugins, ...(globals.plugin ?? [])], io.cwd ?? process.cwd())
  return { config, registry }
}
