/** Host variables an interpreter may see; everything else is scrubbed. */
export const ENV_ALLOWLIST: readonly string[] = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR']

/** What shapes an interpreter's environment. */
export interface EnvironmentOptions {
  /** `LUA_PATH` (e.g. a luarocks tree); the host's own `LUA_PATH*` never leaks through. */
  luaPath?: string
  /** `LUA_CPATH`. */
  luaCPath?: string
  /** Extra variables from the caller; they win over the allowlisted ones. */
  extra?: Record<string, string>
}

/**
 * Builds the environment of an interpreter process from an allowlist:
 * `PATH`, `HOME`, `LANG`, `LC_*`, `TZ`, `TMPDIR` from the host, `LUA_PATH` /
 * `LUA_CPATH` only from config, plus what the caller passes. Secrets in the
 * host environment (tokens, passwords, cloud keys) therefore never reach Lua
 * code, and the host's `LUA_PATH_5_4`-style variables cannot redirect
 * `require`.
 */
export function buildEnvironment(
  options: EnvironmentOptions = {},
  host: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(host)) {
    if (value === undefined) continue
    if (ENV_ALLOWLIST.includes(name) || /^LC_[A-Z_]+$/.test(name)) env[name] = value
  }
  // Without PATH, os.execute("sleep 1") and luarocks-installed commands stop working.
  env.PATH ??= '/usr/local/bin:/usr/bin:/bin'
  if (options.luaPath !== undefined) env.LUA_PATH = options.luaPath
  if (options.luaCPath !== undefined) env.LUA_CPATH = options.luaCPath
  for (const [name, value] of Object.entries(options.extra ?? {})) {
    if (value.includes('\0')) throw new TypeError(`environment variable ${name} contains a NUL byte`)
    env[name] = value
  }
  return env
}
