import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { ConfigError, InvalidArgumentError } from '@bioxen-luavm/core'

/** Lua versions luarocks can target; one tree per version in an environment. */
export const LUA_VERSIONS: readonly string[] = ['5.1', '5.2', '5.3', '5.4']

// Names become directory names: nothing that could climb out (`..`), hide
// (`.x`) or be read as a flag (`-x`).
const envNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** Throws `InvalidArgumentError` unless `name` is a usable environment name. */
export function validateEnvironmentName(name: unknown): string {
  if (typeof name !== 'string' || !envNamePattern.test(name) || name.includes('..')) {
    throw new InvalidArgumentError(
      `invalid environment name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-', starting with a letter or digit`,
    )
  }
  return name
}

/** Throws `InvalidArgumentError` unless `version` is `5.1` … `5.4`. */
export function validateLuaVersion(version: unknown): string {
  if (typeof version !== 'string' || !LUA_VERSIONS.includes(version)) {
    throw new InvalidArgumentError(
      `invalid Lua version ${JSON.stringify(version)} for an environment: use one of ${LUA_VERSIONS.join(', ')}`,
    )
  }
  return version
}

/**
 * Where environments live when no root is given:
 * `$XDG_DATA_HOME/bioxen-luavm/envs`, else `~/.local/share/bioxen-luavm/envs`
 * (a relative `XDG_DATA_HOME` is ignored, as the XDG spec says). Never the
 * current directory: the original wrote `./manifest.json` wherever it ran.
 */
export function defaultEnvironmentRoot(env: Record<string, string | undefined> = process.env): string {
  const xdg = env.XDG_DATA_HOME
  const home = env.HOME && isAbsolute(env.HOME) ? env.HOME : homedir()
  const data = xdg && isAbsolute(xdg) ? xdg : join(home, '.local', 'share')
  return join(data, 'bioxen-luavm', 'envs')
}

/** Checks an explicit environment root: it must be absolute, so nothing lands in the current directory. */
export function checkEnvironmentRoot(root: string): string {
  if (typeof root !== 'string' || root === '' || !isAbsolute(root) || root.includes('\0')) {
    throw new ConfigError(`environment root ${JSON.stringify(root)} must be an absolute path`)
  }
  return resolve(root)
}

/**
 * `LUA_PATH` / `LUA_CPATH` entries of a luarocks tree — the same ones
 * `luarocks --tree T path --lr-path/--lr-cpath` prints for the tree itself,
 * computed here so a VM can point at a tree before it exists (and without
 * the user's `~/.luarocks` and `/usr/local` trees luarocks would add).
 */
export function treePaths(tree: string, luaVersion: string): { LUA_PATH: string; LUA_CPATH: string } {
  validateLuaVersion(luaVersion)
  return {
    LUA_PATH: `${tree}/share/lua/${luaVersion}/?.lua;${tree}/share/lua/${luaVersion}/?/init.lua`,
    LUA_CPATH: `${tree}/lib/lua/${luaVersion}/?.so`,
  }
}

/**
 * Puts a tree's entries in front of a search path: the configured path when
 * there is one, else `;;` (Lua's defaults, so system modules such as
 * Debian's LuaSocket still load).
 */
export function prependPath(entries: string, configured: string | undefined): string {
  return `${entries};${configured ?? ';'}`
}

/** `5.4` from an interpreter's `_VERSION` (`Lua 5.4`; LuaJIT says `Lua 5.1`). */
export function luaVersionOf(languageVersion: string): string {
  const v = /(\d+\.\d+)/.exec(languageVersion)?.[1]
  return validateLuaVersion(v ?? languageVersion)
}

/** Interpreters that run a Lua version, best first. */
export function interpretersFor(luaVersion: string): string[] {
  validateLuaVersion(luaVersion)
  return luaVersion === '5.1' ? ['lua5.1', 'luajit'] : [`lua${luaVersion}`]
}

const urlPattern = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//

/**
 * Checks rock servers (URLs or local directories with a luarocks manifest)
 * and makes directories absolute, so an environment records where its
 * rocks came from regardless of the directory a later command runs in.
 */
export function normalizeServers(servers: readonly string[] | undefined): string[] {
  return (servers ?? []).map((s) => {
    if (typeof s !== 'string' || s.trim() === '' || /[\0\r\n]/.test(s)) {
      throw new InvalidArgumentError(`invalid rock server ${JSON.stringify(s)}: give a URL or a directory`)
    }
    return urlPattern.test(s) ? s : resolve(s)
  })
}
