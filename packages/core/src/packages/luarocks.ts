import type { InstallResult } from '../contract/types.js'
import { PackageError } from '../errors/index.js'
import { validatePackageName, validatePackageVersion } from './validate.js'

/**
 * Runs a program with an argv list — locally (`execFile`) or in a guest
 * over SSH. The one thing a backend supplies to get luarocks installs.
 */
export interface CommandRunner {
  run(
    argv: readonly string[],
    options?: { signal?: AbortSignal; timeoutMs?: number; env?: Record<string, string> },
  ): Promise<{ exitCode: number; stdout: string; stderr: string }>
}

/** Where and for which Lua luarocks works. */
export interface LuarocksTarget {
  /** `5.1`, `5.2`, `5.3` or `5.4`. */
  luaVersion: string
  /** The rocks tree (an environment's directory). */
  tree: string
  /** Rock servers: URLs or local directories holding a manifest. */
  servers?: readonly string[]
  /** Use only `servers` (offline, reproducible); default true when servers are given. */
  onlyServers?: boolean
  /** The luarocks program (default `luarocks`). */
  luarocks?: string
}

/** One installed rock, from `luarocks list --porcelain`. */
export interface InstalledRock {
  name: string
  version: string
  status: string
  tree: string
}

/** argv (program first) for a luarocks command against `target`. */
export function luarocksArgv(target: LuarocksTarget, command: string, args: readonly string[] = []): string[] {
  if (!/^5\.[1-4]$/.test(target.luaVersion))
    throw new PackageError(`unsupported Lua version '${target.luaVersion}' for luarocks`)
  const argv = [target.luarocks ?? 'luarocks', '--lua-version', target.luaVersion, '--tree', target.tree]
  const servers = target.servers ?? []
  if (servers.length && (target.onlyServers ?? true)) {
    // luarocks takes one --only-server; extra servers still count as fallbacks.
    argv.push(`--only-server=${servers[0]}`, ...servers.slice(1).map((s) => `--server=${s}`))
  } else {
    argv.push(...servers.map((s) => `--server=${s}`))
  }
  argv.push(command, ...args)
  return argv
}

/**
 * Parses `luarocks list --porcelain`: tab-separated
 * `name version status tree` lines. (The original parsed the human listing
 * and counted its header as a package.)
 */
export function parseLuarocksList(output: string): InstalledRock[] {
  const rocks: InstalledRock[] = []
  for (const line of output.split('\n')) {
    const [name, version, status, tree] = line.split('\t')
    if (!name || !version || !status) continue
    rocks.push({ name, version, status, tree: tree ?? '' })
  }
  return rocks
}

/** The lines of luarocks output that explain a failure (its `Error:` message and what follows). */
export function luarocksFailure(stdout: string, stderr: string): string {
  const text = `${stderr}\n${stdout}`
  const i = text.indexOf('Error:')
  const message = (i >= 0 ? text.slice(i) : text).trim()
  return message.split('\n').slice(0, 6).join('\n') || 'luarocks failed without a message'
}

/**
 * Installs, removes and lists rocks with luarocks through a
 * {@link CommandRunner}: the same code serves a local tree (process
 * backend) and a guest over SSH (xcpng backend).
 */
export class LuarocksInstaller {
  constructor(
    readonly runner: CommandRunner,
    readonly target: LuarocksTarget,
  ) {}

  /** Installs `name` (optionally pinned to `version`) and reports the modules it provides. */
  async install(
    name: string,
    options: { version?: string; signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<InstallResult> {
    validatePackageName(name)
    const args = [name]
    if (options.version !== undefined) args.push(validatePackageVersion(options.version))
    const r = await this.#run('install', args, options)
    if (r.exitCode !== 0) {
      throw new PackageError(`installing '${name}' failed: ${luarocksFailure(r.stdout, r.stderr)}`, {
        details: { name, ...(options.version ? { version: options.version } : {}) },
      })
    }
    const installed = (await this.list(options)).find((rock) => rock.name === name)
    return {
      name,
      version: installed?.version ?? options.version ?? 'unknown',
      success: true,
      location: this.target.tree,
      modules: await this.modules(name, options),
      log: r.stdout,
    }
  }

  /** Removes `name` from the tree. */
  async remove(name: string, options: { signal?: AbortSignal; force?: boolean } = {}): Promise<void> {
    validatePackageName(name)
    const r = await this.#run('remove', options.force ? ['--force', name] : [name], options)
    if (r.exitCode !== 0) throw new PackageError(`removing '${name}' failed: ${luarocksFailure(r.stdout, r.stderr)}`)
  }

  /** Rocks installed in the tree. */
  async list(options: { signal?: AbortSignal } = {}): Promise<InstalledRock[]> {
    const r = await this.#run('list', ['--porcelain'], options)
    if (r.exitCode !== 0) throw new PackageError(`listing rocks failed: ${luarocksFailure(r.stdout, r.stderr)}`)
    return parseLuarocksList(r.stdout)
  }

  /** Lua modules an installed rock provides. */
  async modules(name: string, options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const r = await this.#run('show', [validatePackageName(name), '--modules'], options)
    if (r.exitCode !== 0) return []
    return r.stdout
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean)
  }

  #run(command: string, args: string[], options: { signal?: AbortSignal; timeoutMs?: number }) {
    return this.runner.run(luarocksArgv(this.target, command, args), {
      ...(options.signal ? { signal: options.signal } : {}),
      timeoutMs: options.timeoutMs ?? 300_000,
    })
  }
}
