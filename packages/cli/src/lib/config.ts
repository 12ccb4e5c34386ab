import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { ConfigManager } from '@bioxen-luavm/core'

/** The CLI runs on the embedded WebAssembly sandbox unless told otherwise: nothing native needed. */
export const CLI_DEFAULT_BACKEND = 'wasm'

/**
 * Loads the CLI's config: `--config FILE`, else `LUAVM_CONFIG`, else
 * `$XDG_CONFIG_HOME/bioxen-luavm/config.json` when it exists. Never reads or
 * writes the current directory unless asked to.
 */
export async function loadConfig(
  explicitFile: string | undefined,
  env: Record<string, string | undefined>,
): Promise<ConfigManager> {
  const file = explicitFile ?? env.LUAVM_CONFIG ?? defaultConfigFile(env)
  if (file && (explicitFile || env.LUAVM_CONFIG || existsSync(file))) {
    return ConfigManager.fromFile(file, readFile, { env, fallbackBackend: CLI_DEFAULT_BACKEND })
  }
  return new ConfigManager({ env, fallbackBackend: CLI_DEFAULT_BACKEND })
}

function defaultConfigFile(env: Record<string, string | undefined>): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'bioxen-luavm', 'config.json')
}
