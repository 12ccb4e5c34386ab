import type { Stats } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import {
  type BackendCapabilities,
  BaseLuaVM,
  ConfigError,
  type ExecResult,
  type InstallOptions,
  type InstallResult,
  type InteractiveSession,
  InvalidArgumentError,
  PackageError,
  ReplSession,
  type ResolvedExecOptions,
  type SessionOptions,
  type StartOptions,
  type StopOptions,
  type VMInit,
} from '@bioxen-luavm/core'
import { type ProcessBackendConfig, type ResolvedProcessConfig, resolveProcessConfig } from './config.js'
import { luaVersionOf, normalizeServers, prependPath } from './environments/paths.js'
import { VMEnvironment } from './environments/vm-environment.js'
import { type LuaInterpreter, resolveInterpreter } from './interpreters/detect.js'
import type { ExecutionMode } from './modes/mode.js'
import { OneshotMode } from './modes/oneshot.js'
import { PersistentMode } from './modes/persistent.js'
import { PoolMode } from './modes/pool.js'
import { checkLuaSocket } from './networking/luasocket.js'
import { type SessionHost, SessionVM } from './session/session-vm.js'
import { buildEnvironment } from './spawn/environment.js'
import { findPrlimit } from './spawn/rlimit.js'
import { DriverWorker, type WorkerExecOptions } from './worker/driver-worker.js'
import { resultFields } from './worker/outcome.js'
import { startWorker, type WorkerSpec } from './worker/spawn-worker.js'

/**
 * A VM backed by native Lua processes (the `process` backend, alias
 * `basic`). See the package README for modes, limits and sessions.
 *
 * - `persistent` (default): one driver process; globals persist.
 * - `oneshot`: a fresh process per execution.
 * - `pool`: `poolSize` persistent processes; executions spread over them.
 *
 * Every process runs in its own process group; deadlines and cancels kill
 * the whole group (and what it started), after which the worker is
 * replaced and the result says `timeout` or `killed`.
 */
export class ProcessLuaVM extends BaseLuaVM implements SessionHost {
  readonly capabilities: BackendCapabilities
  readonly config: ResolvedProcessConfig
  #interpreter: LuaInterpreter | undefined
  #mode: ExecutionMode | undefined
  #prlimit: { path?: string; problem?: string } = findPrlimit()
  #luaSocket: string | undefined
  #packages: VMEnvironment | undefined
  readonly #views = new Set<SessionVM>()

  constructor(init: VMInit<ProcessBackendConfig>) {
    super(init)
    this.config = resolveProcessConfig(init.config)
    const sandboxed = this.config.sandbox && this.config.grants.length === 0
    this.capabilities = Object.freeze({
      sandboxed,
      persistentState: this.config.mode !== 'oneshot',
      sessions: true,
      packages: canRequire(this.config),
      packageKinds: Object.freeze(['pure', 'native'] as const),
      networking: canLoadLuaSocket(this.config),
      memoryLimit: this.#prlimit.path !== undefined,
      hardTimeout: true,
      remote: false,
    })
  }

  /** The interpreter in use, once started. */
  get interpreter(): LuaInterpreter | undefined {
    return this.#interpreter
  }

  /** Executions at once: `poolSize` in pool mode, else 1. */
  protected override get concurrency(): number {
    return this.config.mode === 'pool' ? this.config.poolSize : 1
  }

  protected async doStart(_options: StartOptions): Promise<void> {
    const c = this.config
    if (c.memoryLimitBytes !== undefined && !this.#prlimit.path) {
      throw new ConfigError(
        `backends.process.memoryLimitBytes is set, but ${this.#prlimit.problem ?? 'prlimit is missing'}`,
      )
    }
    if (c.networked && !canLoadLuaSocket(c)) {
      throw new ConfigError(
        "backends.process: a networked sandbox VM needs grants: ['require', 'package'] so Lua code can load LuaSocket (a C module)",
      )
    }
    const interpreter = await resolveInterpreter(c.luaExecutable)
    this.#interpreter = interpreter
    const packages = this.capabilities.packages
      ? new VMEnvironment({
          luaVersion: luaVersionOf(interpreter.languageVersion),
          ...(c.environment === undefined ? {} : { environment: c.environment }),
          ...(c.envRoot === undefined ? {} : { envRoot: c.envRoot }),
          ...(c.servers === undefined ? {} : { servers: c.servers }),
        })
      : undefined
    this.#packages = packages
    const tree = packages?.paths()
    const luaPath = tree ? prependPath(tree.LUA_PATH, c.luaPath) : c.luaPath
    const luaCPath = tree ? prependPath(tree.LUA_CPATH, c.luaCPath) : c.luaCPath
    const env = buildEnvironment({
      ...(luaPath === undefined ? {} : { luaPath }),
      ...(luaCPath === undefined ? {} : { luaCPath }),
      extra: c.env,
    })
    if (c.networked) this.#luaSocket = await checkLuaSocket(interpreter, env, c.cwd)
    const spec = (memoryLimitBytes: number | undefined): WorkerSpec => ({
      interpreter,
      env,
      ...(c.cwd === undefined ? {} : { cwd: c.cwd }),
      sandbox: c.sandbox,
      grants: c.grants,
      ...(memoryLimitBytes === undefined ? {} : { memoryLimitBytes }),
      ...(this.#prlimit.path === undefined ? {} : { prlimitPath: this.#prlimit.path }),
      startTimeoutMs: c.startTimeoutMs,
      killGraceMs: c.killGraceMs,
      softDeadline: c.softDeadline,
    })
    const hooks = {
      onReplaced: () => this.noteRestart(),
      onReplaceFailed: (_slot: unknown, error: unknown) => {
        this.logger.error('a dead Lua worker could not be replaced', { vmId: this.id, error: String(error) })
        if (this.state === 'running') this.markFailed()
      },
    }
    const mode: ExecutionMode =
      c.mode === 'oneshot'
        ? new OneshotMode({
            create: (limit) => new DriverWorker(spec(this.#ceiling(limit))),
            startWorker: () => startWorker(spec(c.memoryLimitBytes)),
            prespawn: c.prespawn,
          })
        : c.mode === 'pool'
          ? new PoolMode(c.poolSize, () => startWorker(spec(c.memoryLimitBytes)), hooks)
          : new PersistentMode(() => startWorker(spec(c.memoryLimitBytes)), hooks)
    const hello = await mode.start()
    this.#mode = mode
    this.setLuaVersion(hello.jit ?? hello.lua)
  }

  protected async doStop(options: StopOptions): Promise<void> {
    const views = [...this.#views]
    this.#views.clear()
    await Promise.allSettled(views.map((v) => v.stop()))
    const mode = this.#mode
    this.#mode = undefined
    const packages = this.#packages
    this.#packages = undefined
    await Promise.all([mode?.stop(options.force === true), packages?.dispose()])
  }

  /**
   * Installs a rock with luarocks into the VM's environment — the named one
   * from config, else a private one removed on stop — after which
   * `require` finds it in every worker without a restart (the tree is on
   * `LUA_PATH`/`LUA_CPATH` from the start). Options: `version`, `servers`
   * (or `server`), `signal`, `timeoutMs`. A luarocks failure is a
   * `PackageError` quoting luarocks.
   */
  protected override async doInstallPackage(name: string, options: InstallOptions): Promise<InstallResult> {
    const packages = this.#packages
    if (!packages) {
      throw new PackageError(
        this.capabilities.packages
          ? `VM '${this.id}' is not running`
          : `VM '${this.id}' runs sandboxed without the 'require' grant, so installed packages could not be loaded; add grants: ['require']`,
      )
    }
    const servers = Array.isArray(options.servers)
      ? normalizeServers(options.servers as string[])
      : typeof options.server === 'string'
        ? normalizeServers([options.server])
        : undefined
    return packages.install(name, {
      ...(options.version === undefined ? {} : { version: options.version }),
      ...(servers ? { servers } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    })
  }

  protected async runCode(code: string | Uint8Array, options: ResolvedExecOptions): Promise<ExecResult> {
    const mode = this.#mode
    if (!mode) throw new InvalidArgumentError(`VM '${this.id}' has no running workers`)
    return this.result(resultFields(await mode.run(code, this.workerOptions(options))))
  }

  protected override memoryLimitProblem(): string | undefined {
    return this.#prlimit.path ? undefined : (this.#prlimit.problem ?? 'prlimit is missing')
  }

  /** Worker options for a resolved execution: the memory cap is checked and clamped here. */
  workerOptions(options: ResolvedExecOptions): WorkerExecOptions {
    const memoryLimitBytes = this.#ceiling(options.memoryLimitBytes)
    if (memoryLimitBytes !== undefined && !this.#prlimit.path) {
      throw new ConfigError(`memoryLimitBytes was asked for, but ${this.#prlimit.problem ?? 'prlimit is missing'}`)
    }
    return {
      chunkName: options.chunkName,
      echo: options.echoReturnValues,
      repl: options.repl,
      timeoutMs: options.timeoutMs,
      maxOutputBytes: options.maxOutputBytes,
      ...(memoryLimitBytes === undefined ? {} : { memoryLimitBytes }),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onStdout ? { onStdout: options.onStdout } : {}),
      ...(options.onStderr ? { onStderr: options.onStderr } : {}),
    }
  }

  protected override readSourceFile(path: string): Promise<Uint8Array> {
    return readLuaFile(path)
  }

  protected override async createSession(options: SessionOptions): Promise<InteractiveSession> {
    const mode = this.#mode
    if (!mode) throw new InvalidArgumentError(`VM '${this.id}' has no running workers`)
    const view = new SessionVM(this, await mode.lease())
    await view.start()
    this.#views.add(view)
    const session = new ReplSession(view, options)
    const close = session.close.bind(session)
    session.close = async () => {
      await close()
      this.#views.delete(view)
      await view.stop()
    }
    return session
  }

  protected override async statusDetails(): Promise<Record<string, unknown>> {
    const c = this.config
    return {
      mode: c.mode,
      interpreter: this.#interpreter
        ? { command: this.#interpreter.command, path: this.#interpreter.path, version: this.#interpreter.label }
        : undefined,
      sandbox: c.sandbox,
      grants: c.grants,
      softDeadline: c.softDeadline,
      memoryLimitBytes: c.memoryLimitBytes,
      prlimit: this.#prlimit.path ?? this.#prlimit.problem,
      networked: c.networked,
      ...(this.#packages ? { environment: this.#packages.describe() } : {}),
      ...(this.#luaSocket ? { luaSocket: this.#luaSocket } : {}),
      sessions: this.#views.size,
      ...(this.#mode?.describe() ?? {}),
    }
  }

  // A VM-level memoryLimitBytes is a ceiling: an execution may ask for less, never more.
  #ceiling(limit: number | undefined): number | undefined {
    const vmLimit = this.config.memoryLimitBytes
    if (limit === undefined) return vmLimit
    return vmLimit === undefined ? limit : Math.min(limit, vmLimit)
  }
}

/** Reads the bytes of a Lua source file for `executeFile` (Lua source is bytes), with errors that name the path. */
export async function readLuaFile(path: string): Promise<Uint8Array> {
  let info: Stats
  try {
    info = await stat(path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new InvalidArgumentError(
      code === 'ENOENT'
        ? `Lua script not found: ${path}`
        : `cannot read Lua script ${path}: ${(error as Error).message}`,
      { cause: error, details: { path } },
    )
  }
  if (!info.isFile()) throw new InvalidArgumentError(`path is not a file: ${path}`, { details: { path } })
  return readFile(path)
}

// LuaSocket is socket.lua (the require grant) over socket.core, a C module
// (the package grant: native code).
function canLoadLuaSocket(config: ResolvedProcessConfig): boolean {
  return !config.sandbox || (config.grants.includes('require') && config.grants.includes('package'))
}

// Installed rocks are loaded with `require`, which a sandbox only offers with the grant.
function canRequire(config: ResolvedProcessConfig): boolean {
  return !config.sandbox || config.grants.includes('require')
}
