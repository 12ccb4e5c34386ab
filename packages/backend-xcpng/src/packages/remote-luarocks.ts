import { type InstallResult, PackageError } from '@bioxen-luavm/core'
import type { SshConnection } from '../ssh/connection.js'
import { shellQuote } from '../ssh/shell.js'

// Deliberately small and isolated: the shared installer of the package
// issue will replace it; until then this runs luarocks on the guest.

/** Rock names luarocks accepts and a shell cannot misread. */
export const ROCK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
/** Rock versions (`1.2.3-1`, `scm-1`, `2.0+beta`). */
export const ROCK_VERSION = /^[0-9A-Za-z.+-]+$/
const LUA_VERSIONS = ['5.1', '5.2', '5.3', '5.4'] as const

function checkTree(tree: string): string {
  // The config schema restricts the charset; relative paths resolve against
  // the SSH user's home, where sshd starts every session.
  const t = tree.startsWith('~/') ? tree.slice(2) : tree
  if (t === '' || t.includes('..') || !/^[A-Za-z0-9._/-]+$/.test(t)) throw new PackageError(`luarocks_tree '${tree}' is not a plain path`)
  return t.replace(/\/+$/, '')
}

/**
 * Environment for the driver so `require` finds rocks in the tree, for
 * whichever Lua the guest runs: 5.2–5.4 read `LUA_PATH_5_x` first, 5.1 and
 * LuaJIT read `LUA_PATH`. `;;` keeps the default paths.
 */
export function rockPathEnv(tree: string): Record<string, string> {
  const t = checkTree(tree)
  const env: Record<string, string> = {}
  for (const v of LUA_VERSIONS) {
    const suffix = v === '5.1' ? '' : `_${v.replace('.', '_')}`
    env[`LUA_PATH${suffix}`] = `${t}/share/lua/${v}/?.lua;${t}/share/lua/${v}/?/init.lua;;`
    env[`LUA_CPATH${suffix}`] = `${t}/lib/lua/${v}/?.so;;`
  }
  return env
}

/** What to install. */
export interface RockRequest {
  name: string
  version?: string | undefined
  /** `5.4` etc.: the guest interpreter's version (from the driver's hello). */
  luaVersion: string
  tree: string
  /** A rocks server URL or directory on the guest (`--only-server`), e.g. a local mirror. */
  server?: string | undefined
  timeoutMs?: number | undefined
  signal?: AbortSignal | undefined
}

/**
 * The luarocks command line. Every argument is validated, then quoted for
 * the remote shell; the whole command runs under `timeout -s KILL` so it
 * cannot outlive its deadline on the guest.
 */
export function luarocksCommand(req: RockRequest, subcommand: readonly string[]): string {
  const seconds = Math.max(1, Math.ceil((req.timeoutMs ?? 600_000) / 1000))
  const args = ['luarocks', '--lua-version', req.luaVersion, '--tree', checkTree(req.tree), ...subcommand]
  return `timeout -s KILL ${seconds} ${args.map(shellQuote).join(' ')}`
}

function validate(req: RockRequest): void {
  if (!ROCK_NAME.test(req.name)) {
    throw new PackageError(`'${req.name}' is not a valid rock name (letters, digits, '.', '_', '-'; not starting with a symbol)`)
  }
  if (req.version !== undefined && !ROCK_VERSION.test(req.version)) {
    throw new PackageError(`'${req.version}' is not a valid rock version`)
  }
  if (!/^\d\.\d$/.test(req.luaVersion)) throw new PackageError(`cannot tell the guest's Lua version (${req.luaVersion})`)
  if (req.server !== undefined && (req.server === '' || /[\0\n]/.test(req.server))) throw new PackageError('invalid rocks server')
}

/** Installs a rock into the guest's tree with luarocks over SSH. */
export async function installRock(ssh: SshConnection, req: RockRequest): Promise<InstallResult> {
  validate(req)
  const install = [
    'install',
    ...(req.server ? [`--only-server=${req.server}`] : []),
    req.name,
    ...(req.version ? [req.version] : []),
  ]
  const opts = { timeoutMs: (req.timeoutMs ?? 600_000) + 5_000, ...(req.signal ? { signal: req.signal } : {}) }
  const run = await ssh.run(luarocksCommand(req, install), opts)
  const log = `${run.stdout}${run.stderr}`
  if (run.code !== 0) {
    const why = run.code === 137 ? 'it ran out of time' : run.code === 127 ? 'luarocks is not installed on the guest' : `exit status ${run.code}`
    throw new PackageError(`installing '${req.name}' on the guest failed (${why}): ${log.trim().split('\n').slice(-5).join(' | ')}`, {
      details: { log: log.slice(-4000) },
    })
  }
  const shown = await ssh.run(luarocksCommand(req, ['show', '--mversion', req.name]), opts)
  const modules = await ssh.run(luarocksCommand(req, ['show', '--modules', req.name]), opts)
  return {
    name: req.name,
    version: shown.code === 0 && shown.stdout.trim() ? shown.stdout.trim() : (req.version ?? 'unknown'),
    success: true,
    location: checkTree(req.tree),
    modules: modules.code === 0 ? modules.stdout.split('\n').map((s) => s.trim()).filter(Boolean) : [],
    log,
  }
}
