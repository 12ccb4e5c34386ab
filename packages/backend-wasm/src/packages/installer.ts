/**
 * `installPackage` for the `wasm` and `fengari` backends: rocks are
 * resolved from rock servers (or given as bytes), unpacked in memory, and
 * their Lua modules mounted into the VM so `require` finds them. Mounts are
 * part of the VM's options, so they survive worker restarts.
 *
 * Browser-safe: URLs are read with `fetch`, local directories through the
 * platform's file reader (Node only); nothing is written anywhere and no
 * process is started.
 */
import {
  type InstallResult,
  InvalidArgumentError,
  isLuaVMError,
  PackageError,
  validatePackageName,
  validatePackageVersion,
} from '@bioxen-luavm/core'
import { ArchiveError, ByteBudget } from './archive.js'
import { MAX_MANIFEST_BYTES, MAX_ROCK_BYTES, MAX_UNPACKED_BYTES } from './limits.js'
import { LuaDataError, preview } from './lua-data.js'
import { checkedRockFileName, NativeRockError, type RockFileName, RockFormatError, unpackRock } from './rock.js'
import {
  classifyServers,
  type FileAccess,
  parseManifest,
  type RockManifest,
  type RockServer,
  readServerFile,
  ServerError,
} from './servers.js'
import {
  compareVersions,
  constraintText,
  parseVersion,
  type RockVersion,
  satisfies,
  type VersionConstraint,
} from './versions.js'

/** A rock given by the host instead of a server: its bytes and its file name (`name-1.0-1.src.rock`). */
export interface RockBytes {
  bytes: Uint8Array
  fileName: string
}

/** Options of `installPackage` on `wasm` and `fengari` VMs. */
export interface SandboxInstallOptions {
  /** Exact version (`1.0-1`, or `1.0` for any revision); default: the newest. */
  version?: string
  /** Rock servers (URLs or local directories) for this install; default: the VM's `servers` config. */
  servers?: readonly string[]
  /** One server, as the `process`/`xcpng` backends also accept. */
  server?: string
  /** The rock itself; its dependencies still come from the servers. */
  rock?: RockBytes
  signal?: AbortSignal
  /** Deadline of the whole install, dependencies included (default 300 s). */
  timeoutMs?: number
}

/** One package installed into a VM, as `getStatus().details.packages` shows it. */
export interface InstalledPackage {
  version: string
  /** `all` or `src` (or a platform for a pure binary rock). */
  arch: string
  /** Modules it mounted. */
  modules: string[]
  /** Where the rock came from: its URL or path, or `(bytes) <file name>`. */
  source: string
  /** False when it was installed as another package's dependency. */
  explicit: boolean
  installedAt: string
}

/** What the installer needs of its VM. */
export interface PackageHost {
  readonly vmId: string
  /** `wasm` or `fengari`, for messages. */
  readonly backend: string
  /** Lua version of the engine (`5.4`, `5.3`): which `manifest-5.x` to read. */
  readonly luaVersion: string
  /** Rock servers from the VM's config. */
  readonly servers: readonly string[]
  readonly access: FileAccess
  /** Mounts one module (the VM's `mount`). */
  mount(name: string, source: string): Promise<void>
}

const DEFAULT_TIMEOUT_MS = 300_000

/** A request after validation. */
interface Request {
  name: string
  version: string | undefined
  servers: RockServer[]
  rock: { bytes: Uint8Array; file: RockFileName } | undefined
  signal: AbortSignal | undefined
  timeoutMs: number
}

/**
 * The per-VM installer: validates, resolves, unpacks and mounts, one
 * install at a time, and remembers what it installed.
 */
export class SandboxPackages {
  readonly #host: PackageHost
  readonly #installed = new Map<string, InstalledPackage>()
  readonly #closed = new AbortController()
  #queue: Promise<unknown> = Promise.resolve()

  constructor(host: PackageHost) {
    this.#host = host
  }

  /**
   * Installs `name` and its dependencies. Everything about the request is
   * checked before anything is read (`InvalidArgumentError`); failures to
   * resolve, read, unpack or mount are `PackageError`s.
   */
  install(name: string, options: SandboxInstallOptions = {}): Promise<InstallResult> {
    let request: Request
    try {
      request = this.#check(name, options)
    } catch (error) {
      return Promise.reject(error)
    }
    // One install at a time per VM: dependency checks and the record never interleave.
    const run = this.#queue.then(() => this.#run(request))
    this.#queue = run.catch(() => undefined)
    return run
  }

  /** What is installed, by package name. */
  list(): Record<string, InstalledPackage> {
    return Object.fromEntries([...this.#installed].map(([n, p]) => [n, { ...p, modules: [...p.modules] }]))
  }

  /** Cancels running and queued installs (the VM is stopping). */
  close(): void {
    this.#closed.abort(new PackageError(`VM '${this.#host.vmId}' stopped during the install`))
  }

  #check(name: string, options: SandboxInstallOptions): Request {
    validatePackageName(name)
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('installPackage options must be an object')
    }
    const version = options.version === undefined ? undefined : validatePackageVersion(options.version)
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
      throw new InvalidArgumentError(`timeoutMs must be a positive number, got ${String(timeoutMs)}`)
    }
    if (options.servers !== undefined && !Array.isArray(options.servers)) {
      throw new InvalidArgumentError('servers must be an array of URLs or directories')
    }
    if (options.server !== undefined && typeof options.server !== 'string') {
      throw new InvalidArgumentError('server must be a URL or a directory')
    }
    const given = options.servers ?? (options.server === undefined ? undefined : [options.server])
    const servers = classifyServers(given ?? this.#host.servers, this.#host.access)
    let rock: Request['rock']
    if (options.rock !== undefined) {
      const { bytes, fileName } = options.rock ?? {}
      if (!(bytes instanceof Uint8Array) || typeof fileName !== 'string') {
        throw new InvalidArgumentError('rock must be { bytes: Uint8Array, fileName: string }')
      }
      const file = checkedRockFileName(
        fileName.slice(Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\')) + 1),
      )
      if (!file) {
        throw new InvalidArgumentError(
          `rock file name ${JSON.stringify(fileName)} is not <name>-<version>-<revision>.<arch>.rock`,
        )
      }
      if (file.name !== name) {
        throw new InvalidArgumentError(`the rock ${fileName} is '${file.name}', not '${name}'`)
      }
      if (version !== undefined && !satisfies(file.version, [{ op: '==', version: parseVersionOnly(version) }])) {
        throw new InvalidArgumentError(`the rock ${fileName} is version ${file.version}, not ${version}`)
      }
      if (bytes.length > MAX_ROCK_BYTES) throw new InvalidArgumentError(`the rock ${fileName} is larger than 32 MiB`)
      rock = { bytes, file }
    } else if (servers.length === 0) {
      throw new PackageError(
        `no rock servers for installing '${name}' into VM '${this.#host.vmId}': set servers in the ${this.#host.backend} config, pass installPackage(name, { servers }), or pass the rock's bytes`,
        { details: { name, vmId: this.#host.vmId } },
      )
    }
    return { name, version, servers, rock, signal: options.signal, timeoutMs }
  }

  async #run(request: Request): Promise<InstallResult> {
    const host = this.#host
    const controller = new AbortController()
    const abort = (reason: unknown) => {
      if (!controller.signal.aborted) controller.abort(reason)
    }
    const timedOut = () => new PackageError(`installing '${request.name}' timed out after ${request.timeoutMs} ms`)
    const deadline = performance.now() + request.timeoutMs
    const timer = setTimeout(() => abort(timedOut()), request.timeoutMs)
    const onStop = () => abort(this.#closed.signal.reason)
    const onCancel = () => abort(new PackageError(`installing '${request.name}' was cancelled`))
    this.#closed.signal.addEventListener('abort', onStop, { once: true })
    request.signal?.addEventListener('abort', onCancel, { once: true })
    if (this.#closed.signal.aborted) onStop()
    if (request.signal?.aborted) onCancel()
    // Parsing and unpacking are synchronous: the timer cannot fire while they
    // run, so they call this, which reads the clock itself.
    const stop = () => {
      if (!controller.signal.aborted && performance.now() >= deadline) abort(timedOut())
      controller.signal.throwIfAborted()
    }
    const session = new InstallSession(host, request, this.#installed, controller.signal, stop)
    try {
      return await session.run()
    } catch (error) {
      throw asPackageError(error, request.name, host)
    } finally {
      clearTimeout(timer)
      this.#closed.signal.removeEventListener('abort', onStop)
      request.signal?.removeEventListener('abort', onCancel)
    }
  }
}

/** A chosen rock on a server. */
interface Located {
  server: RockServer
  file: RockFileName
}

/** One `installPackage` call: its manifests, byte budget and progress. */
class InstallSession {
  readonly #host: PackageHost
  readonly #request: Request
  readonly #installed: Map<string, InstalledPackage>
  readonly #signal: AbortSignal
  readonly #stop: () => void
  readonly #budget: ByteBudget
  readonly #manifests = new Map<RockServer, Promise<RockManifest | ServerError | undefined>>()
  /** Installed (or found present) during this call: name → version. */
  readonly #done = new Map<string, string>()
  readonly #log: string[] = []

  constructor(
    host: PackageHost,
    request: Request,
    installed: Map<string, InstalledPackage>,
    signal: AbortSignal,
    stop: () => void,
  ) {
    this.#host = host
    this.#request = request
    this.#installed = installed
    this.#signal = signal
    this.#stop = stop
    this.#budget = new ByteBudget(MAX_UNPACKED_BYTES, stop)
  }

  async run(): Promise<InstallResult> {
    const { name, version } = this.#request
    const constraints = version === undefined ? [] : [{ op: '==' as const, version: parseVersionOnly(version) }]
    const record = await this.#ensure(name, constraints, [], true)
    return {
      name,
      version: record.version,
      success: true,
      location: 'vm',
      modules: [...record.modules],
      log: this.#log.join('\n'),
    }
  }

  /** Installs `name` (unless present and suitable), its dependencies first. */
  async #ensure(
    name: string,
    constraints: readonly VersionConstraint[],
    chain: readonly string[],
    explicit: boolean,
  ): Promise<InstalledPackage> {
    this.#checkSignal()
    if (chain.includes(name)) {
      throw new PackageError(`dependency cycle: ${[...chain, name].join(' → ')}`, {
        details: { cycle: [...chain, name] },
      })
    }
    const requiredBy = chain[chain.length - 1]
    const want = `${name}${constraints.length ? ` ${constraintText(constraints)}` : ''}`
    const present = this.#installed.get(name)
    const doneVersion = this.#done.get(name)
    if (doneVersion !== undefined && present) {
      if (satisfies(doneVersion, constraints)) return present
      throw new PackageError(`'${requiredBy}' needs ${want}, but this install already chose ${name} ${doneVersion}`)
    }
    // A dependency already in the VM is kept when it fits (luarocks does the same).
    if (!explicit && present && satisfies(present.version, constraints)) {
      this.#done.set(name, present.version)
      this.#log.push(`${name} ${present.version} is already installed`)
      return present
    }

    const given = explicit ? this.#request.rock : undefined
    let file: RockFileName
    let source: string
    let bytes: Uint8Array
    if (given) {
      file = given.file
      bytes = given.bytes
      source = `(bytes) ${file.name}-${file.version}.${file.arch}.rock`
    } else {
      const located = await this.#locate(name, constraints, requiredBy)
      file = located.file
      if (explicit && present && present.version === file.version) {
        this.#done.set(name, present.version)
        this.#log.push(`${name} ${present.version} is already installed`)
        return present
      }
      const fileName = `${file.name}-${file.version}.${file.arch}.rock`
      const read = await readServerFile(located.server, fileName, this.#host.access, this.#signal, MAX_ROCK_BYTES)
      if (!read) {
        throw new PackageError(`${located.server.label} lists ${fileName} in its manifest but does not serve it`)
      }
      bytes = read
      source = `${located.server.base}/${fileName}`
    }
    this.#checkSignal()
    const rock = unpackRock(bytes, file, this.#budget)
    for (const note of rock.notes) this.#log.push(note)

    for (const dep of rock.dependencies) {
      await this.#ensure(dep.name, dep.constraints, [...chain, name], false)
    }

    this.#checkSignal()
    const modules = [...rock.modules.keys()].sort()
    for (const module of modules) {
      const owner = [...this.#installed].find(([n, p]) => n !== name && p.modules.includes(module))
      if (owner) this.#log.push(`module '${module}' of ${owner[0]} is replaced by ${name}'s`)
      try {
        await this.#host.mount(module, rock.modules.get(module) as string)
      } catch (error) {
        // mount() says InvalidArgumentError for a module that does not compile;
        // anything else (the VM stopped, its worker failed) is passed on as is.
        if (!(error instanceof InvalidArgumentError)) throw error
        throw new PackageError(
          `module '${module}' of ${name} ${file.version} cannot be loaded by ${this.#host.backend} (Lua ${this.#host.luaVersion}): ${(error as Error).message}`,
          { cause: error, details: { name, module } },
        )
      }
      if (owner) owner[1].modules = owner[1].modules.filter((m) => m !== module)
    }
    const previous = this.#installed.get(name)
    const stale = previous?.modules.filter((m) => !modules.includes(m)) ?? []
    if (stale.length) {
      this.#log.push(
        `modules of ${name} ${previous?.version} still mounted (no longer in ${file.version}): ${stale.join(', ')}`,
      )
    }
    const record: InstalledPackage = {
      version: file.version,
      arch: file.arch,
      modules,
      source,
      explicit: explicit || previous?.explicit === true,
      installedAt: new Date().toISOString(),
    }
    this.#installed.set(name, record)
    this.#done.set(name, file.version)
    this.#log.push(
      `installed ${name} ${file.version} (${file.arch}${explicit ? '' : `, for ${requiredBy}`}): ${modules.join(', ') || 'no modules'}`,
    )
    return record
  }

  /** The newest version matching `constraints` on any server: `all` rocks before `src` ones, earlier servers on ties. */
  async #locate(
    name: string,
    constraints: readonly VersionConstraint[],
    requiredBy: string | undefined,
  ): Promise<Located> {
    const servers = this.#request.servers
    const want = `${name}${constraints.length ? ` ${constraintText(constraints)}` : ''}`
    if (servers.length === 0) {
      throw new PackageError(
        requiredBy
          ? `'${requiredBy}' depends on '${want}', which is not installed, and there are no rock servers to get it from`
          : `no rock servers to get '${want}' from`,
        { details: { name, ...(requiredBy ? { requiredBy } : {}) } },
      )
    }
    let best: { located: Located; version: RockVersion } | undefined
    const unreachable: string[] = []
    const seen: RockVersion[] = []
    const nonPure: string[] = []
    for (const server of servers) {
      const manifest = await this.#manifest(server)
      if (manifest instanceof ServerError) {
        unreachable.push(manifest.message)
        continue
      }
      if (!manifest) {
        unreachable.push(`${server.label}: no manifest-${this.#host.luaVersion} or manifest`)
        continue
      }
      // luarocks keys manifests by lower-case name; the rock files follow the key.
      const key = manifest.has(name) ? name : name.toLowerCase()
      for (const [version, arches] of manifest.get(key) ?? []) {
        // Parsed once: comparisons below reuse it (a manifest may list thousands).
        const parsed = parseVersion(version)
        seen.push(parsed)
        if (!satisfies(parsed, constraints)) continue
        const arch = arches.includes('all') ? 'all' : arches.includes('src') ? 'src' : undefined
        if (!arch) {
          nonPure.push(`${version} (${arches.map((a) => preview(a, 40)).join(', ') || 'no rocks'})`)
          continue
        }
        if (!best || compareVersions(parsed, best.version) > 0) {
          best = { located: { server, file: { name: key, version, arch } }, version: parsed }
        }
      }
      this.#stop()
    }
    if (best) return best.located
    const where = `on ${servers.map((s) => s.label).join(', ')}`
    const why =
      nonPure.length > 0
        ? `only as rockspecs or binary rocks, which need a build (${newest(nonPure).join('; ')})`
        : seen.length > 0
          ? `no version matches ${constraintText(constraints)} (available: ${newest(
              [...new Map(seen.map((v) => [v.text, v])).values()].sort(compareVersions).map((v) => v.text),
            ).join(', ')})`
          : 'not found'
    const subject = requiredBy ? `'${requiredBy}' depends on '${want}', which is` : `'${name}' is`
    throw new PackageError(
      `${subject} ${why} ${where}${unreachable.length ? `; unreadable: ${unreachable.join('; ')}` : ''}`,
      { details: { name, ...(requiredBy ? { requiredBy } : {}), servers: servers.map((s) => s.label) } },
    )
  }

  /** A server's manifest for this Lua version (or the generic one), read once per install. */
  #manifest(server: RockServer): Promise<RockManifest | ServerError | undefined> {
    let pending = this.#manifests.get(server)
    if (!pending) {
      pending = this.#readManifest(server).catch((error: unknown) => {
        if (this.#signal.aborted) throw this.#signal.reason
        if (error instanceof ServerError) return error
        if (error instanceof LuaDataError) return new ServerError(`${server.label}: bad manifest: ${error.message}`)
        throw error
      })
      this.#manifests.set(server, pending)
    }
    return pending
  }

  async #readManifest(server: RockServer): Promise<RockManifest | undefined> {
    for (const file of [`manifest-${this.#host.luaVersion}`, 'manifest']) {
      const bytes = await readServerFile(server, file, this.#host.access, this.#signal, MAX_MANIFEST_BYTES)
      if (bytes) return parseManifest(new TextDecoder().decode(bytes), `${server.label}/${file}`, this.#stop)
    }
    return undefined
  }

  #checkSignal(): void {
    if (this.#signal.aborted) throw this.#signal.reason
  }
}

/** The last few of a list for a message (a manifest may list thousands of versions). */
function newest(list: readonly string[], max = 20): string[] {
  return list.length > max ? [`… ${list.length - max} older`, ...list.slice(-max)] : [...list]
}

/** A version the caller pinned, compared with `==` (`1.0` matches any revision, `1.0-1` only that one). */
function parseVersionOnly(version: string): VersionConstraint['version'] {
  return parseVersion(version)
}

// Everything that leaves the installer is a LuaVMError: PackageError for
// what went wrong with the packages, InvalidArgumentError for bad requests.
function asPackageError(error: unknown, name: string, host: PackageHost): Error {
  if (isLuaVMError(error)) return error
  const details = { name, vmId: host.vmId, backend: host.backend }
  if (error instanceof NativeRockError) {
    return new PackageError(
      `cannot install '${name}' into ${host.backend} VM '${host.vmId}': ${error.message}. The ${host.backend} sandbox can only load pure-Lua modules; install it on the process backend, where luarocks builds C modules`,
      { cause: error, details: { ...details, native: true } },
    )
  }
  if (error instanceof ArchiveError || error instanceof RockFormatError || error instanceof ServerError) {
    return new PackageError(`cannot install '${name}': ${error.message}`, { cause: error, details })
  }
  if (error instanceof LuaDataError) {
    return new PackageError(`cannot install '${name}': cannot read ${error.message}`, { cause: error, details })
  }
  return new PackageError(`cannot install '${name}': ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
    details,
  })
}
