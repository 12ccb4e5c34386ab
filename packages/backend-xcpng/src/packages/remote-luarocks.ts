import { type CommandRunner, type InstallResult, LuarocksInstaller, PackageError } from '@bioxen-luavm/core'
import type { SshConnection } from '../ssh/connection.js'
import { shellJoin, shellQuote } from '../ssh/shell.js'

// The shared luarocks installer of core does the luarocks part (argv,
// validation, parsing); this file only supplies how commands run on the
// guest: over SSH, quoted for the remote shell, under the guest's timeout.

const LUA_VERSIONS = ['5.1', '5.2', '5.3', '5.4'] as const
const DEFAULT_TIMEOUT_MS = 600_000

function checkTree(tree: string): string {
  // Relative paths resolve against the SSH user's home, where sshd starts
  // every session; `..` could escape it.
  const t = tree.startsWith('~/') ? tree.slice(2) : tree
  if (t === '' || t.includes('..') || !/^[A-Za-z0-9._/-]+$/.test(t))
    throw new PackageError(`luarocks_tree '${tree}' is not a plain path`)
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

/**
 * The command line for `argv` on the guest. SSH exec strings go through the
 * remote user's shell, so every argument is single-quoted, and the command
 * runs under `timeout -s KILL` so it cannot outlive its deadline there.
 */
export function remoteCommand(
  argv: readonly string[],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): string {
  if (argv.length === 0) throw new PackageError('empty command')
  const seconds = Math.max(1, Math.ceil((options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000))
  const env = Object.entries(options.env ?? {}).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new PackageError(`invalid environment variable name '${name}'`)
    return `${name}=${shellQuote(value)}`
  })
  return `${env.length ? `env ${env.join(' ')} ` : ''}timeout -s KILL ${seconds} ${shellJoin(argv)}`
}

/** Runs argv lists on the guest over SSH, for core's `LuarocksInstaller`. */
export class SshCommandRunner implements CommandRunner {
  /** @param ssh - the VM's SSH connection */
  constructor(readonly ssh: SshConnection) {}

  async run(
    argv: readonly string[],
    options: { signal?: AbortSignal; timeoutMs?: number; env?: Record<string, string> } = {},
  ): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    const r = await this.ssh.run(remoteCommand(argv, { timeoutMs, ...(options.env ? { env: options.env } : {}) }), {
      timeoutMs: timeoutMs + 5_000,
      ...(options.signal ? { signal: options.signal } : {}),
    })
    const exitCode = r.code ?? 128
    // 137 = killed by `timeout -s KILL`; 127 = the program is not installed.
    const note =
      exitCode === 137
        ? `\nError: ${argv[0]} was killed on the guest after ${Math.ceil(timeoutMs / 1000)} s`
        : exitCode === 127
          ? `\nError: ${argv[0]} is not installed on the guest`
          : ''
    return { exitCode, stdout: r.stdout, stderr: `${r.stderr}${note}` }
  }
}

/** What to install. */
export interface RockRequest {
  name: string
  version?: string | undefined
  /** `5.4` etc.: the guest interpreter's version (from the driver's hello). */
  luaVersion: string
  tree: string
  /** Rocks servers: URLs or directories on the guest, e.g. a local mirror; the first is `--only-server`. */
  servers?: readonly string[] | undefined
  timeoutMs?: number | undefined
  signal?: AbortSignal | undefined
}

/**
 * Installs a rock into the guest's tree with luarocks over SSH (core's
 * `LuarocksInstaller` validates the name and version before anything runs).
 */
export async function installRock(ssh: SshConnection, req: RockRequest): Promise<InstallResult> {
  for (const server of req.servers ?? []) {
    if (typeof server !== 'string' || server === '' || /[\0\n]/.test(server)) {
      throw new PackageError('invalid rocks server')
    }
  }
  const installer = new LuarocksInstaller(new SshCommandRunner(ssh), {
    luaVersion: req.luaVersion,
    tree: checkTree(req.tree),
    ...(req.servers?.length ? { servers: [...req.servers] } : {}),
  })
  return installer.install(req.name, {
    ...(req.version !== undefined ? { version: req.version } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
    timeoutMs: req.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  })
}
