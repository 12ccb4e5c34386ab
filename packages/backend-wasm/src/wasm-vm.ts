import {
  type BackendCapabilities,
  BackendUnavailableError,
  BaseLuaVM,
  type ExecResult,
  type InstallOptions,
  type InstallResult,
  InvalidArgumentError,
  type LuaValue,
  OutputCollector,
  ProtocolError,
  type ResolvedExecOptions,
  RUNTIME_LUA,
  restoreByteStrings,
  restoreErrorInfo,
  type StopOptions,
  type VMInit,
  VMStateError,
} from '@bioxen-luavm/core'
import { checkWasmConfig, type Isolation, WASM_DEFAULTS, type WasmVMConfig } from './config.js'
import type { EngineKind, EngineOptions } from './engine/types.js'
import { createInlineHandle } from './isolation/inline-host.js'
import type { EngineHandle, EngineRequest, PlacementStats, StateLoss } from './isolation/types.js'
import { sharedPool } from './isolation/worker-pool.js'
import type { SandboxInstallOptions, SandboxPackages } from './packages/index.js'
import type { Platform } from './platform/types.js'

// How long getStatus waits for a busy engine's figures before reporting the last ones.
const STATS_WAIT_MS = 100
/** The runtime's result JSON (see runtime.lua). */
interface RuntimeResult {
  status: ExecResult['status']
  values?: LuaValue[]
  truncated?: boolean
  incomplete?: boolean
  error?: ExecResult['error']
}

/** What distinguishes a `wasm` VM from a `fengari` one. */
export interface WasmVMKind {
  engine: EngineKind
  /** Capabilities of the backend with worker isolation; inline VMs lose `hardTimeout`. */
  capabilities: BackendCapabilities
}

/**
 * A VM of the `wasm` (Lua 5.4, wasmoon) or `fengari` (Lua 5.3, pure JS)
 * backend. Each VM owns its engine — its own WebAssembly instance, or its
 * own fengari state — running inline or in a (shared) worker thread.
 */
export class WasmLuaVM extends BaseLuaVM {
  readonly capabilities: BackendCapabilities
  /** Where the engine runs. */
  readonly isolation: Isolation
  /**
   * Whether the runtime's deadline hook stops chunks (keeping the state);
   * `false`: hook-free, deadlines and cancels end by a worker kill.
   */
  readonly softDeadline: boolean
  readonly #config: WasmVMConfig
  readonly #kind: WasmVMKind
  readonly #platform: Platform
  #handle: EngineHandle | undefined
  #lastLoss: StateLoss | undefined
  #lastStats: PlacementStats | undefined
  #lossCount = 0
  /** Packages installed since the engine started; created on the first install. */
  #packages: Promise<SandboxPackages> | undefined

  constructor(init: VMInit<WasmVMConfig>, kind: WasmVMKind, platform: Platform) {
    super(init)
    this.#config = init.config ?? {}
    this.#kind = kind
    this.#platform = platform
    // Direct createVM calls skip the registry's schema; check here too.
    checkWasmConfig(this.type, this.#config)
    this.isolation = this.#config.isolation ?? WASM_DEFAULTS.isolation
    this.softDeadline = this.#config.softDeadline ?? WASM_DEFAULTS.softDeadline
    this.capabilities = Object.freeze({
      ...kind.capabilities,
      hardTimeout: kind.capabilities.hardTimeout && this.isolation === 'worker',
    })
  }

  /**
   * Drops the VM's Lua state: globals, loaded modules and `require` cache
   * are gone; mounted module sources stay. Queued behind running executions.
   */
  async reset(): Promise<void> {
    await this.#engine('reset').reset()
  }

  /**
   * Makes a pure-Lua module available to `require(name)`. The source is
   * compiled (never run) now; it runs on the first `require`. Throws
   * `InvalidArgumentError` for a bad name or a syntax error.
   */
  async mount(name: string, source: string): Promise<void> {
    if (typeof name !== 'string' || typeof source !== 'string') {
      throw new InvalidArgumentError('mount(name, source) takes two strings')
    }
    const problem = await this.#engine('mount').mount(name, source)
    if (problem !== undefined) throw new InvalidArgumentError(`cannot mount module '${name}': ${problem}`)
  }

  /**
   * Installs a pure-Lua rock: from the VM's `servers` (or `options.servers`),
   * or from `options.rock` bytes. The rock and its dependencies are
   * unpacked in memory and their modules mounted, so `require` finds them
   * (and still does after a worker restart). Rocks with C code are refused
   * with `PackageError`; a bad name or option is an `InvalidArgumentError`
   * thrown before anything is read. See {@link SandboxInstallOptions}.
   */
  protected override async doInstallPackage(name: string, options: InstallOptions): Promise<InstallResult> {
    this.#packages ??= this.#loadInstaller()
    const packages = await this.#packages
    return packages.install(name, options as SandboxInstallOptions)
  }

  // The installer (and its zip library) loads on the first install only.
  async #loadInstaller(): Promise<SandboxPackages> {
    const { SandboxPackages } = await import('./packages/index.js')
    const platform = this.#platform
    const readFile = platform.readBinaryFile?.bind(platform)
    const baseUrl = (globalThis as { location?: { href?: string } }).location?.href
    return new SandboxPackages({
      vmId: this.id,
      backend: this.type,
      luaVersion: this.#kind.engine === 'wasmoon' ? '5.4' : '5.3',
      servers: this.#config.servers ?? [],
      access: {
        ...(readFile ? { readFile } : {}),
        ...(baseUrl ? { baseUrl } : {}),
      },
      mount: (module, source) => this.mount(module, source),
    })
  }

  protected async doStart(): Promise<void> {
    // A fresh engine has only the configured modules: nothing installed.
    this.#packages = undefined
    const config = this.#config
    const options: EngineOptions = {
      kind: this.#kind.engine,
      runtimeSource: RUNTIME_LUA,
      sandbox: config.sandbox ?? WASM_DEFAULTS.sandbox,
      grants: [...(config.grants ?? [])],
      ...(this.#kind.engine === 'wasmoon'
        ? { memoryLimitBytes: config.memoryLimitBytes ?? WASM_DEFAULTS.memoryLimitBytes }
        : config.memoryLimitBytes === undefined
          ? {}
          : { memoryLimitBytes: config.memoryLimitBytes }),
      hostFunctions: Object.keys(config.hostFunctions ?? {}),
      modules: { ...(config.modules ?? {}) },
    }
    const request: EngineRequest = {
      vmId: this.id,
      options,
      hostFunctions: config.hostFunctions ?? {},
      onStateLost: (loss) => this.#stateLost(loss),
    }
    const wasm = { module: config.wasmModule, url: config.wasmUrl }
    try {
      this.#handle =
        this.isolation === 'inline'
          ? await createInlineHandle(request, this.#platform, wasm)
          : await sharedPool(this.#platform, {
              maxWorkers: config.workers ?? Math.max(1, Math.min(4, this.#platform.cpus)),
              vmsPerWorker: config.vmsPerWorker ?? WASM_DEFAULTS.vmsPerWorker,
              graceMs: config.hardKillGraceMs ?? WASM_DEFAULTS.hardKillGraceMs,
              softDeadline: this.softDeadline,
              engine: options.kind,
              maxHeapMb: config.workerMaxHeapMb ?? WASM_DEFAULTS.workerMaxHeapMb,
              workerUrl: config.workerUrl,
              wasm,
            }).attach(request)
    } catch (error) {
      throw new BackendUnavailableError(
        `the ${this.type} engine of VM '${this.id}' could not start: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      )
    }
    this.setLuaVersion(this.#handle.luaVersion)
  }

  protected async doStop(_options: StopOptions): Promise<void> {
    // Running installs stop before their next read or mount.
    void this.#packages?.then((p) => p.close()).catch(() => undefined)
    const handle = this.#handle
    this.#handle = undefined
    await handle?.close()
  }

  protected async runCode(code: string | Uint8Array, options: ResolvedExecOptions): Promise<ExecResult> {
    const handle = this.#engine('execute')
    const started = performance.now()
    const output = new OutputCollector(options.onStdout, options.onStderr)
    const memoryLimitBytes = this.#kind.engine === 'wasmoon' ? options.memoryLimitBytes : undefined
    let outcome: Awaited<ReturnType<EngineHandle['exec']>>
    try {
      outcome = await handle.exec(
        {
          code,
          chunkName: options.chunkName,
          echo: options.echoReturnValues,
          repl: options.repl,
          timeoutMs: options.timeoutMs,
          softDeadline: this.softDeadline,
          maxOutputBytes: options.maxOutputBytes,
          ...(memoryLimitBytes === undefined ? {} : { memoryLimitBytes }),
        },
        { onOutput: output.push, signal: options.signal },
      )
    } catch (error) {
      throw new ProtocolError(
        `the ${this.type} engine of VM '${this.id}' failed: ${error instanceof Error ? error.message : String(error)}; it was restarted and its Lua state is lost`,
        { cause: error },
      )
    }
    const durationMs = performance.now() - started
    if ('stop' in outcome) {
      output.finish(true)
      return this.result({
        status: outcome.stop.status,
        ...output.fields(),
        error: { message: outcome.stop.message, kind: 'runtime' },
        durationMs,
      })
    }
    const parsed = JSON.parse(outcome.json) as RuntimeResult
    output.finish(parsed.truncated === true)
    // Strings the runtime escaped as bytes (runtime.lua `jstr`) become bytes again.
    if (parsed.values) restoreByteStrings(parsed.values)
    if (parsed.error) restoreErrorInfo(parsed.error)
    // A cancel (signal, or stop() while running) reaches the runtime as an
    // expired deadline; report what it was.
    const stopping = this.state === 'stopping' || this.state === 'stopped'
    const cancelled = (options.signal?.aborted === true || stopping) && parsed.status === 'timeout'
    const status = cancelled ? 'killed' : parsed.status
    const error = cancelled ? { message: 'execution cancelled', kind: 'runtime' as const } : parsed.error
    return this.result({
      status,
      ...output.fields(),
      values: status === 'ok' ? (parsed.values ?? []) : [],
      truncated: parsed.truncated === true,
      durationMs,
      ...(error ? { error } : {}),
      ...(parsed.incomplete ? { incomplete: true } : {}),
    })
  }

  protected override async readSourceFile(path: string): Promise<string | Uint8Array> {
    if (!this.#platform.readFile) return super.readSourceFile(path)
    return this.#platform.readFile(path)
  }

  protected override async statusDetails(): Promise<Record<string, unknown>> {
    const details: Record<string, unknown> = {
      engine: this.#kind.engine,
      isolation: this.isolation,
      softDeadline: this.softDeadline,
    }
    if (this.#packages) details.packages = (await this.#packages.catch(() => undefined))?.list() ?? {}
    if (this.#lastLoss) {
      details.stateLost = { count: this.#lossCount, ...this.#lastLoss }
    }
    if (this.#handle && this.state === 'running') {
      // The engine answers between chunks, so a busy VM (or a busy
      // neighbour on a shared worker) would hold status up for as long as
      // its Lua runs: give it a moment, then report the last figures.
      const fresh = this.#handle.stats().then((stats) => {
        this.#lastStats = stats
        return stats
      })
      try {
        let timer: ReturnType<typeof setTimeout> | undefined
        const stats = await Promise.race([
          fresh,
          new Promise<undefined>((resolve) => {
            timer = setTimeout(() => resolve(undefined), STATS_WAIT_MS)
          }),
        ]).finally(() => clearTimeout(timer))
        if (stats) Object.assign(details, stats)
        else {
          fresh.catch(() => {})
          Object.assign(details, this.#lastStats, { statsStale: true })
        }
      } catch (error) {
        details.statsError = error instanceof Error ? error.message : String(error)
      }
    }
    return details
  }

  #engine(operation: string): EngineHandle {
    if (this.state !== 'running' || !this.#handle) {
      throw new VMStateError(`cannot ${operation} on VM '${this.id}': it is ${this.state}; call start() first`, {
        details: { vmId: this.id, state: this.state, operation },
      })
    }
    return this.#handle
  }

  #stateLost(loss: StateLoss): void {
    this.#lastLoss = loss
    this.#lossCount++
    this.noteRestart()
    this.logger.warn('Lua state lost: the engine was restarted', {
      vmId: this.id,
      reason: loss.reason,
      vmIds: loss.vmIds,
    })
  }
}
