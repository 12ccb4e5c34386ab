import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type CommandRunner,
  type InstalledRock,
  type InstallResult,
  InvalidArgumentError,
  LuarocksInstaller,
  TaskQueue,
  validatePackageName,
  validatePackageVersion,
} from '@bioxen-luavm/core'
import { type BootstrapOptions, type BootstrapReport, bootstrapEnvironment } from './bootstrap.js'
import { checkEnvironmentHealth, type HealthOptions, type HealthReport } from './health.js'
import { LocalCommandRunner } from './local-runner.js'
import { withEnvironmentLock } from './lock.js'
import {
  type EnvironmentManifest,
  manifestFile,
  newManifest,
  readManifest,
  syncPackages,
  writeManifest,
} from './manifest.js'
import {
  checkEnvironmentRoot,
  defaultEnvironmentRoot,
  normalizeServers,
  prependPath,
  treePaths,
  validateEnvironmentName,
  validateLuaVersion,
} from './paths.js'

/** Settings of an {@link EnvironmentManager}. */
export interface EnvironmentManagerOptions {
  /** Absolute directory holding the environments (default: {@link defaultEnvironmentRoot}). */
  root?: string
  /** Environment variables to find the default root in (`XDG_DATA_HOME`, `HOME`) and to scrub for commands. */
  env?: NodeJS.ProcessEnv
  /** How commands run (default: a {@link LocalCommandRunner}). */
  runner?: CommandRunner
  /** The luarocks program (default `luarocks`). */
  luarocks?: string
  /** Rock servers for environments that record none (URLs or directories). */
  servers?: readonly string[]
  /** Deadline of each luarocks command (default 300 s). */
  timeoutMs?: number
}

/** One environment, as `list()` shows it. */
export interface EnvironmentSummary {
  name: string
  path: string
  created: string
  updated: string
  luaVersions: string[]
  servers: string[]
  /** Rocks per Lua version. */
  packageCount: Record<string, number>
}

/** One Lua version's tree of an environment, as `inspect()` shows it. */
export interface EnvironmentTree {
  luaVersion: string
  path: string
  /** What luarocks lists in the tree now. */
  rocks: InstalledRock[]
  /** `LUA_PATH` / `LUA_CPATH` a Lua of this version needs for the tree. */
  paths: { LUA_PATH: string; LUA_CPATH: string }
}

/** An environment in detail: its manifest and what luarocks says is in each tree. */
export interface EnvironmentDetails {
  name: string
  path: string
  manifest: EnvironmentManifest
  trees: EnvironmentTree[]
}

/** Options of {@link EnvironmentManager.install}. */
export interface EnvInstallOptions {
  luaVersion?: string
  version?: string
  /** Rock servers for this install (default: the environment's, then the manager's). */
  servers?: readonly string[]
  /** Create the environment (or its tree for `luaVersion`) when missing (default false). */
  create?: boolean
  signal?: AbortSignal
  timeoutMs?: number
}

// One queue per environment directory for the whole process: installs into
// one tree and the manifest's read-modify-write must not interleave, even
// between two managers (a VM's and the host's) pointing at the same root.
// Other processes are kept out by the lock file (./lock.ts).
const queues = new Map<string, TaskQueue>()
function queueFor(dir: string): TaskQueue {
  let q = queues.get(dir)
  if (!q) {
    q = new TaskQueue(1)
    queues.set(dir, q)
  }
  return q
}

/**
 * Named, isolated luarocks environments: `<root>/<name>/` holds one tree
 * per Lua version (`<name>/5.4/`) and a `manifest.json` of what is
 * installed where. Installs go through core's `LuarocksInstaller` with
 * `--tree` and `--lua-version`, so nothing needs root and nothing touches
 * the system tree, the user's `~/.luarocks` or the current directory.
 *
 * @example
 * const envs = new EnvironmentManager({ servers: ['/srv/rocks'] })
 * await envs.create('bio', { luaVersion: '5.4' })
 * await envs.install('bio', 'bio_compute')
 * const { LUA_PATH, LUA_CPATH } = envs.paths('bio', '5.4')
 */
export class EnvironmentManager {
  /** Directory holding the environments. */
  readonly root: string
  /** How luarocks and probes run. */
  readonly runner: CommandRunner
  readonly #options: EnvironmentManagerOptions

  constructor(options: EnvironmentManagerOptions = {}) {
    this.root = options.root === undefined ? defaultEnvironmentRoot(options.env) : checkEnvironmentRoot(options.root)
    this.runner = options.runner ?? new LocalCommandRunner({ ...(options.env ? { hostEnv: options.env } : {}) })
    this.#options = { ...options, servers: normalizeServers(options.servers) }
  }

  /** The luarocks program commands run. */
  get luarocks(): string {
    return this.#options.luarocks ?? 'luarocks'
  }

  /** The directory of environment `name` (validated; it may not exist). */
  envDir(name: string): string {
    return join(this.root, validateEnvironmentName(name))
  }
  // Within this process the queue orders waiters fairly; the lock file
  // then keeps other processes out.
  #exclusive<T>(name: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return queueFor(this.envDir(name)).run(() => withEnvironmentLock(this.root, name, work, { signal }), signal)
  }

  /** The luarocks tree of `name` for `luaVersion` (it may not exist). */
  treeDir(name: string, luaVersion: string): string {
    return join(this.envDir(name), validateLuaVersion(luaVersion))
  }

  /** True when environment `name` exists (has a manifest). */
  async exists(name: string): Promise<boolean> {
    try {
      return (await stat(manifestFile(this.envDir(name)))).isFile()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
      throw error
    }
  }

  /** Creates environment `name` with a tree for `luaVersion` (default 5.4); fails if it exists. */
  async create(
    name: string,
    options: { luaVersion?: string; servers?: readonly string[] } = {},
  ): Promise<EnvironmentManifest> {
    const dir = this.envDir(name)
    const luaVersion = validateLuaVersion(options.luaVersion ?? '5.4')
    const servers = normalizeServers(options.servers)
    return this.#exclusive(name, async () => {
      if (await this.exists(name)) {
        throw new InvalidArgumentError(`environment '${name}' already exists in ${this.root}`, { details: { name } })
      }
      await mkdir(join(dir, luaVersion), { recursive: true, mode: 0o755 })
      const manifest = newManifest(name, luaVersion, servers)
      await writeManifest(dir, manifest)
      return manifest
    })
  }

  /**
   * Makes sure `name` exists with a tree for `luaVersion`: creates the
   * environment, or adds the version to an existing one.
   */
  async ensure(
    name: string,
    options: { luaVersion?: string; servers?: readonly string[] } = {},
  ): Promise<EnvironmentManifest> {
    const dir = this.envDir(name)
    const luaVersion = validateLuaVersion(options.luaVersion ?? '5.4')
    // Checked here so create()'s "already exists" is the only error swallowed below.
    normalizeServers(options.servers)
    if (!(await this.exists(name))) {
      try {
        return await this.create(name, options)
      } catch (error) {
        // Someone else created it meanwhile: fall through and add the version.
        if (!(error instanceof InvalidArgumentError)) throw error
      }
    }
    return this.#exclusive(name, async () => {
      const manifest = await readManifest(dir)
      if (manifest.luaVersions.includes(luaVersion)) return manifest
      await mkdir(join(dir, luaVersion), { recursive: true, mode: 0o755 })
      manifest.luaVersions = [...manifest.luaVersions, luaVersion].sort()
      manifest.packages[luaVersion] ??= {}
      manifest.updated = new Date().toISOString()
      await writeManifest(dir, manifest)
      return manifest
    })
  }

  /** The manifest of `name`; `InvalidArgumentError` when there is no such environment. */
  async manifest(name: string): Promise<EnvironmentManifest> {
    await this.#assertExists(name)
    return readManifest(this.envDir(name))
  }

  /** Every environment under the root, by name. Directories without a manifest are not environments. */
  async list(): Promise<EnvironmentSummary[]> {
    let entries: string[]
    try {
      entries = await readdir(this.root)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
    const out: EnvironmentSummary[] = []
    for (const name of entries.sort()) {
      try {
        validateEnvironmentName(name)
      } catch {
        continue
      }
      const m = await readManifest(join(this.root, name)).catch(() => undefined)
      if (!m) continue
      out.push({
        name,
        path: join(this.root, name),
        created: m.created,
        updated: m.updated,
        luaVersions: m.luaVersions,
        servers: m.servers,
        packageCount: Object.fromEntries(m.luaVersions.map((v) => [v, Object.keys(m.packages[v] ?? {}).length])),
      })
    }
    return out
  }

  /** An environment in detail: manifest plus what luarocks lists in each tree. */
  async inspect(name: string, options: { signal?: AbortSignal } = {}): Promise<EnvironmentDetails> {
    const manifest = await this.manifest(name)
    const trees: EnvironmentTree[] = []
    for (const luaVersion of manifest.luaVersions) {
      trees.push({
        luaVersion,
        path: this.treeDir(name, luaVersion),
        rocks: await this.installer(name, luaVersion).list(options),
        paths: this.paths(name, luaVersion),
      })
    }
    return { name, path: this.envDir(name), manifest, trees }
  }

  /** Removes environment `name` and everything installed in it. */
  async delete(name: string): Promise<void> {
    const dir = this.envDir(name)
    await this.#assertExists(name)
    await this.#exclusive(name, () => rm(dir, { recursive: true, force: true }))
  }

  /**
   * `LUA_PATH` / `LUA_CPATH` for a Lua of `luaVersion` using environment
   * `name`: the tree first, then Lua's defaults (`;;`). Computed, so it is
   * valid before the tree has anything in it.
   */
  paths(name: string, luaVersion: string): { LUA_PATH: string; LUA_CPATH: string } {
    const p = treePaths(this.treeDir(name, luaVersion), luaVersion)
    return { LUA_PATH: prependPath(p.LUA_PATH, undefined), LUA_CPATH: prependPath(p.LUA_CPATH, undefined) }
  }

  /**
   * A `LuarocksInstaller` for one tree of `name`. It does not update the
   * manifest; {@link install} and {@link remove} do.
   */
  installer(name: string, luaVersion: string, options: { servers?: readonly string[] } = {}): LuarocksInstaller {
    const servers = options.servers ? normalizeServers(options.servers) : (this.#options.servers ?? [])
    return new LuarocksInstaller(this.runner, {
      luaVersion: validateLuaVersion(luaVersion),
      tree: this.treeDir(name, luaVersion),
      servers,
      ...(this.#options.luarocks ? { luarocks: this.#options.luarocks } : {}),
    })
  }

  /**
   * Installs rock `pkg` into `name`'s tree for `luaVersion` (dependencies
   * come with it) and records every rock that changed in the manifest.
   * Names are validated before anything runs; a luarocks failure is a
   * `PackageError` quoting luarocks.
   */
  async install(name: string, pkg: string, options: EnvInstallOptions = {}): Promise<InstallResult> {
    validatePackageName(pkg)
    if (options.version !== undefined) validatePackageVersion(options.version)
    const luaVersion = validateLuaVersion(options.luaVersion ?? '5.4')
    const dir = this.envDir(name)
    options.signal?.throwIfAborted()
    if (options.create)
      await this.ensure(name, { luaVersion, ...(options.servers ? { servers: options.servers } : {}) })
    else await this.#assertTree(name, luaVersion)
    return this.#exclusive(
      name,
      async () => {
        const manifest = await readManifest(dir)
        const servers = this.#serversFor(manifest, options.servers)
        const installer = this.installer(name, luaVersion, { servers })
        const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs
        const result = await installer.install(pkg, {
          ...(options.version === undefined ? {} : { version: options.version }),
          ...(options.signal ? { signal: options.signal } : {}),
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
        })
        await this.#record(dir, manifest, luaVersion, installer, servers, {
          requested: { name: pkg, modules: result.modules },
          ...(result.log === undefined ? {} : { log: result.log }),
        })
        return { ...result, location: this.treeDir(name, luaVersion) }
      },
      options.signal,
    )
  }

  /** Removes rock `pkg` from `name`'s tree for `luaVersion` and updates the manifest. */
  async remove(
    name: string,
    pkg: string,
    options: { luaVersion?: string; force?: boolean; signal?: AbortSignal } = {},
  ): Promise<void> {
    validatePackageName(pkg)
    const luaVersion = validateLuaVersion(options.luaVersion ?? '5.4')
    const dir = this.envDir(name)
    await this.#assertTree(name, luaVersion)
    await this.#exclusive(
      name,
      async () => {
        const manifest = await readManifest(dir)
        const installer = this.installer(name, luaVersion)
        await installer.remove(pkg, options)
        await this.#record(dir, manifest, luaVersion, installer, this.#serversFor(manifest, undefined), {})
      },
      options.signal,
    )
  }

  /** Rocks luarocks lists in `name`'s tree for `luaVersion`. */
  async installed(name: string, luaVersion = '5.4', options: { signal?: AbortSignal } = {}): Promise<InstalledRock[]> {
    await this.#assertTree(name, luaVersion)
    return this.installer(name, luaVersion).list(options)
  }

  /** Installs a catalog profile into `name` in dependency order; see {@link bootstrapEnvironment}. */
  bootstrapEnvironment(name: string, profile: string, options: BootstrapOptions = {}): Promise<BootstrapReport> {
    return bootstrapEnvironment(this, name, profile, options)
  }

  /** Checks interpreter, luarocks, profile and every installed module; see {@link checkEnvironmentHealth}. */
  checkEnvironmentHealth(name: string, options: HealthOptions = {}): Promise<HealthReport> {
    return checkEnvironmentHealth(this, name, options)
  }

  async #record(
    dir: string,
    manifest: EnvironmentManifest,
    luaVersion: string,
    installer: LuarocksInstaller,
    servers: readonly string[],
    change: { requested?: { name: string; modules: string[] }; log?: string },
  ): Promise<void> {
    manifest.packages[luaVersion] = await syncPackages(manifest.packages[luaVersion] ?? {}, {
      rocks: await installer.list(),
      servers,
      modulesOf: (rock) => installer.modules(rock),
      ...change,
    })
    manifest.updated = new Date().toISOString()
    await writeManifest(dir, manifest)
  }

  #serversFor(manifest: EnvironmentManifest, override: readonly string[] | undefined): string[] {
    if (override) return normalizeServers(override)
    return manifest.servers.length ? manifest.servers : [...(this.#options.servers ?? [])]
  }

  async #assertExists(name: string): Promise<void> {
    if (!(await this.exists(name))) {
      throw new InvalidArgumentError(
        `no environment '${name}' in ${this.root}; create it with \`bioxen-luavm env create ${name}\``,
        { details: { name } },
      )
    }
  }

  async #assertTree(name: string, luaVersion: string): Promise<void> {
    const manifest = await this.manifest(name)
    if (!manifest.luaVersions.includes(luaVersion)) {
      throw new InvalidArgumentError(
        `environment '${name}' has no Lua ${luaVersion} tree (it has ${manifest.luaVersions.join(', ') || 'none'})`,
        { details: { name, luaVersion } },
      )
    }
  }
}
