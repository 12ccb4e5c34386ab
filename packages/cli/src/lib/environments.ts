import { defaultEnvironmentRoot, EnvironmentManager, processConfigSchema } from '@bioxen-luavm/backend-process'
import type { Command } from 'commander'
import { loadConfig } from './config.js'
import type { GlobalFlags } from './global-flags.js'
import type { CliIO } from './io.js'

/** Flags of commands that work on environments. */
export interface EnvFlags {
  servers?: string[]
}

/** Parses `--servers a,b`: rock servers (URLs or directories), comma-separated. */
export function serverList(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ]
}

/**
 * The environment manager the CLI uses: root from `backends.process.envRoot`
 * / `LUAVM_ENV_ROOT`, else `$XDG_DATA_HOME/bioxen-luavm/envs` (of the CLI's
 * environment). Rock servers: `--servers` (returned, for the command to
 * pass on) wins over what an environment recorded at creation, which wins
 * over `backends.process.servers` / `LUAVM_ROCK_SERVERS` (the manager's
 * default).
 */
export async function openEnvironments(
  command: Command,
  io: CliIO,
): Promise<{ manager: EnvironmentManager; servers: string[] | undefined }> {
  const globals = command.optsWithGlobals<GlobalFlags & EnvFlags>()
  const config = await loadConfig(globals.config, io.env)
  const section = config.backend('process', processConfigSchema) as { envRoot?: string; servers?: string[] }
  const manager = new EnvironmentManager({
    root: section.envRoot ?? defaultEnvironmentRoot(io.env),
    ...(section.servers ? { servers: section.servers } : {}),
  })
  return { manager, servers: globals.servers?.length ? globals.servers : undefined }
}
