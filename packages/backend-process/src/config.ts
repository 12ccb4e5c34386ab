import { isAbsolute } from 'node:path'
import { ConfigError, type ConfigSchema } from '@bioxen-luavm/core'

/** How a process VM runs its executions. */
export type ProcessMode = 'oneshot' | 'persistent' | 'pool'

/**
 * Settings of a `process` VM (the `backends.process` config section).
 * Everything is optional; the registry validates it against
 * {@link processConfigSchema} and fills the defaults.
 */
export interface ProcessBackendConfig {
  /**
   * Interpreter to run: a name looked up on PATH (`lua5.4`) or a path. When
   * absent the first of `lua5.4`, `lua5.3`, `lua5.2`, `lua5.1`, `luajit`,
   * `lua` found on PATH is used — never plain `lua` first, which is 5.1 on
   * Debian once luarocks is installed.
   */
  luaExecutable?: string
  /** `persistent` (default), `oneshot` or `pool`. */
  mode?: ProcessMode
  /** Number of workers in `pool` mode (default 2). */
  poolSize?: number
  /** Run the sandbox prelude in the native interpreter (default false). */
  sandbox?: boolean
  /** Capabilities the sandbox grants back (runtime names, e.g. `io`, `os.execute`). */
  grants?: string[]
  /** Extra environment variables, as `NAME=value` entries (or an object when calling `createVM` directly). */
  env?: string[] | Record<string, string>
  /** Address-space cap of each interpreter process beyond its start-up footprint, in bytes (needs `prlimit`). */
  memoryLimitBytes?: number
  /** Verify LuaSocket at start; `require("socket")` must work. */
  networked?: boolean
  /** Working directory of the interpreter (default: the host's). */
  cwd?: string
  /** `LUA_PATH` of the interpreter (e.g. a luarocks tree). */
  luaPath?: string
  /** `LUA_CPATH` of the interpreter. */
  luaCPath?: string
  /**
   * A named luarocks environment (see `EnvironmentManager`): its tree comes
   * first on `LUA_PATH`/`LUA_CPATH`, and `installPackage` installs into it.
   * Without one, `installPackage` uses a private environment removed when
   * the VM stops.
   */
  environment?: string
  /** Directory of named environments (default `$XDG_DATA_HOME/bioxen-luavm/envs`); must be absolute. */
  envRoot?: string
  /** Rock servers for installs: URLs or local directories with a luarocks manifest (offline, reproducible). */
  servers?: string[]
  /** Extra wait after a deadline before the process group is killed (default 100 ms). */
  killGraceMs?: number
  /** Deadline of starting a worker (spawn + handshake), default 10 s. */
  startTimeoutMs?: number
  /**
   * Pass each deadline to the runtime's instruction hook, the soft layer
   * that stops a chunk while keeping the VM's state and partial output
   * (default true). The hook costs CPU-bound code about 2x on PUC Lua
   * 5.3/5.4 and runs LuaJIT with its JIT off; `false` leaves only the hard
   * layer (the process group is killed at the deadline and the worker
   * replaced), which runs Lua at full speed.
   */
  softDeadline?: boolean
  /**
   * Oneshot mode: keep one started, never-used spare process ready, so an
   * execution does not wait for a spawn (default true). Every execution
   * still runs in a process nothing ran in before.
   */
  prespawn?: boolean
}

/** The defaults a config gets when a key is absent. */
export const PROCESS_CONFIG_DEFAULTS = Object.freeze({
  mode: 'persistent' as ProcessMode,
  poolSize: 2,
  sandbox: false,
  networked: false,
  killGraceMs: 100,
  startTimeoutMs: 10_000,
  softDeadline: true,
  prespawn: true,
})

const envEntry = /^[A-Za-z_][A-Za-z0-9_]*=/

/** Config keys of the `process` backend, for `ConfigManager` and the registry. */
export const processConfigSchema: ConfigSchema = Object.freeze({
  luaExecutable: {
    type: 'string',
    description:
      'interpreter name on PATH or path, e.g. lua5.4 (default: first of lua5.4, lua5.3, lua5.2, lua5.1, luajit, lua)',
    env: ['LUAVM_LUA'],
    check: (v) => (typeof v === 'string' && /[\0\n\r]/.test(v) ? 'must not contain NUL or line breaks' : undefined),
  },
  mode: {
    type: 'string',
    description: 'oneshot (fresh process per execution), persistent (one long-lived driver) or pool (N drivers)',
    enum: ['oneshot', 'persistent', 'pool'],
    default: PROCESS_CONFIG_DEFAULTS.mode,
  },
  poolSize: {
    type: 'integer',
    description: 'number of workers in pool mode',
    min: 1,
    max: 256,
    default: PROCESS_CONFIG_DEFAULTS.poolSize,
  },
  sandbox: {
    type: 'boolean',
    description: 'run the sandbox prelude inside the native interpreter',
    default: PROCESS_CONFIG_DEFAULTS.sandbox,
  },
  grants: { type: 'string[]', description: 'capabilities the sandbox grants back (e.g. io, os.execute, require)' },
  env: {
    type: 'string[]',
    description: 'extra environment variables as NAME=value',
    check: (v) =>
      Array.isArray(v) && v.some((e) => typeof e !== 'string' || !envEntry.test(e) || e.includes('\0'))
        ? 'each entry must look like NAME=value'
        : undefined,
  },
  memoryLimitBytes: {
    type: 'size',
    description: 'memory cap of each interpreter process (RLIMIT_AS via prlimit), e.g. "64MB"',
    min: 1024 * 1024,
  },
  networked: {
    type: 'boolean',
    description: 'require LuaSocket (checked at start)',
    default: PROCESS_CONFIG_DEFAULTS.networked,
  },
  cwd: { type: 'string', description: 'working directory of the interpreter' },
  luaPath: { type: 'string', description: 'LUA_PATH of the interpreter (e.g. a luarocks tree)' },
  luaCPath: { type: 'string', description: 'LUA_CPATH of the interpreter' },
  environment: {
    type: 'string',
    description: 'named luarocks environment whose modules the VM loads and installs into (default: private per VM)',
    pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
  },
  envRoot: {
    type: 'string',
    description: 'absolute directory of named environments (default $XDG_DATA_HOME/bioxen-luavm/envs)',
    env: ['LUAVM_ENV_ROOT'],
    check: (v) => (typeof v === 'string' && !isAbsolute(v) ? 'must be an absolute path' : undefined),
  },
  servers: {
    type: 'string[]',
    description: 'rock servers for installs: URLs or local directories (used with --only-server)',
    env: ['LUAVM_ROCK_SERVERS'],
    check: (v) =>
      Array.isArray(v) && v.some((s) => typeof s !== 'string' || /[\0\r\n]/.test(s))
        ? 'each server must be a URL or a directory'
        : undefined,
  },
  killGraceMs: {
    type: 'integer',
    description: 'wait after a deadline before the whole process group is killed',
    min: 0,
    max: 60_000,
    default: PROCESS_CONFIG_DEFAULTS.killGraceMs,
  },
  startTimeoutMs: {
    type: 'integer',
    description: 'deadline of starting one worker process',
    min: 100,
    max: 600_000,
    default: PROCESS_CONFIG_DEFAULTS.startTimeoutMs,
  },
  softDeadline: {
    type: 'boolean',
    description:
      'stop chunks at the deadline with the runtime hook (keeps state; ~2x CPU cost on Lua 5.3/5.4); false: process kill only',
    default: PROCESS_CONFIG_DEFAULTS.softDeadline,
  },
  prespawn: {
    type: 'boolean',
    description: 'oneshot mode: keep one fresh spare process started ahead of time',
    default: PROCESS_CONFIG_DEFAULTS.prespawn,
  },
})

/** A config with defaults applied and `env` as an object. */
export interface ResolvedProcessConfig extends Omit<ProcessBackendConfig, 'env'> {
  mode: ProcessMode
  poolSize: number
  sandbox: boolean
  networked: boolean
  killGraceMs: number
  startTimeoutMs: number
  softDeadline: boolean
  prespawn: boolean
  grants: string[]
  env: Record<string, string>
}

/**
 * Applies defaults and normalises `env`. The registry has validated the
 * config already; this also guards direct `createVM` calls, which skip it.
 */
export function resolveProcessConfig(input: ProcessBackendConfig = {}): ResolvedProcessConfig {
  const mode = input.mode ?? PROCESS_CONFIG_DEFAULTS.mode
  if (!['oneshot', 'persistent', 'pool'].includes(mode)) {
    throw new ConfigError(
      `backends.process.mode: must be one of oneshot, persistent, pool, got ${JSON.stringify(mode)}`,
    )
  }
  const poolSize = input.poolSize ?? PROCESS_CONFIG_DEFAULTS.poolSize
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new ConfigError(`backends.process.poolSize: must be an integer of at least 1, got ${poolSize}`)
  }
  if (input.memoryLimitBytes !== undefined && !(input.memoryLimitBytes > 0)) {
    throw new ConfigError(
      `backends.process.memoryLimitBytes: must be a positive number of bytes, got ${input.memoryLimitBytes}`,
    )
  }
  if (input.environment !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(input.environment)) {
    throw new ConfigError(
      `backends.process.environment: invalid environment name ${JSON.stringify(input.environment)}; use letters, digits, '.', '_' and '-'`,
    )
  }
  if (input.envRoot !== undefined && !isAbsolute(input.envRoot)) {
    throw new ConfigError(`backends.process.envRoot: must be an absolute path, got ${JSON.stringify(input.envRoot)}`)
  }
  return {
    ...input,
    mode,
    poolSize,
    sandbox: input.sandbox ?? PROCESS_CONFIG_DEFAULTS.sandbox,
    networked: input.networked ?? PROCESS_CONFIG_DEFAULTS.networked,
    killGraceMs: input.killGraceMs ?? PROCESS_CONFIG_DEFAULTS.killGraceMs,
    startTimeoutMs: input.startTimeoutMs ?? PROCESS_CONFIG_DEFAULTS.startTimeoutMs,
    softDeadline: input.softDeadline ?? PROCESS_CONFIG_DEFAULTS.softDeadline,
    prespawn: input.prespawn ?? PROCESS_CONFIG_DEFAULTS.prespawn,
    grants: [...(input.grants ?? [])],
    env: parseEnv(input.env),
  }
}

function parseEnv(env: ProcessBackendConfig['env']): Record<string, string> {
  if (env === undefined) return {}
  if (Array.isArray(env)) {
    const out: Record<string, string> = {}
    for (const entry of env) {
      if (typeof entry !== 'string' || !envEntry.test(entry)) {
        throw new ConfigError(`backends.process.env: entries must look like NAME=value, got ${JSON.stringify(entry)}`)
      }
      const i = entry.indexOf('=')
      out[entry.slice(0, i)] = entry.slice(i + 1)
    }
    return out
  }
  if (typeof env !== 'object' || env === null)
    throw new ConfigError('backends.process.env: expected NAME=value entries')
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || typeof v !== 'string') {
      throw new ConfigError(`backends.process.env: '${k}' must be a variable name with a string value`)
    }
  }
  return { ...env }
}
