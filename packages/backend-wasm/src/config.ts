import { ConfigError, type ConfigSchema } from '@bioxen-luavm/core'
import type { HostFunctions } from './isolation/types.js'

/** Where a VM's engine runs. */
export type Isolation = 'worker' | 'inline'

/**
 * Settings of a `wasm` or `fengari` VM (the `backends.wasm` /
 * `backends.fengari` config sections). The registry validates them against
 * {@link wasmConfigSchema} / {@link fengariConfigSchema} and fills defaults.
 */
export interface WasmBackendConfig {
  /**
   * `worker` (default): the engine runs in a worker thread that the host
   * terminates past the deadline, so no Lua code or C call can overrun it.
   * `inline`: same thread, fastest, soft deadline only — for trusted code.
   */
  isolation?: Isolation
  /** Cap on the VM's Lua heap in bytes (wasm: enforced by the allocator; default 256 MiB). */
  memoryLimitBytes?: number
  /** Capabilities granted back to the sandbox (`io`, `os`, `debug`, `require`, `string.dump`, ...). */
  grants?: string[]
  /** Run user code in the runtime's sandbox env (default true). */
  sandbox?: boolean
  /** Most worker threads the shared pool starts (default: CPUs, at most 4). */
  workers?: number
  /** VMs a worker hosts before the pool prefers another worker (default 8). */
  vmsPerWorker?: number
  /** Wait after the deadline before a worker still running is terminated (default 25 ms). */
  hardKillGraceMs?: number
  /**
   * Stop chunks at the deadline with the runtime's instruction hook, the
   * soft layer that keeps the VM's Lua state after a timeout (default
   * true). On Lua 5.4 any count hook sends every instruction through the
   * interpreter's trace path, which makes call-heavy code about 2x slower.
   *
   * `false` (hook-free mode) runs Lua with no hook at all and leaves the
   * deadline to the worker kill alone, at the deadline itself (no
   * `hardKillGraceMs`): every timeout and every cancel terminates the
   * worker, so the VM — and every VM sharing its worker — loses its Lua
   * state (`getStatus().details.stateLost`). Hook-free VMs get workers of
   * their own pool, never shared with soft-deadline VMs. Needs `isolation:
   * 'worker'`: inline isolation would have no way to stop the code, so
   * that combination is a `ConfigError`. Memory and output caps do not
   * depend on the hook and hold the same.
   */
  softDeadline?: boolean
  /** V8 heap limit of each worker in MiB (bounds fengari tables; wasm memory is capped separately). */
  workerMaxHeapMb?: number
  /**
   * URL or path of the worker script for this VM's engine, when the bundled
   * one cannot be found: in browsers `wasm-worker.js` (wasm VMs) or
   * `fengari-worker.js` (fengari VMs) from the package's `dist/browser/`.
   */
  workerUrl?: string
  /** URL (browser) or path (Node) of glue.wasm; default: the copy shipped with the package. */
  wasmUrl?: string
  /**
   * Rock servers `installPackage` reads: URLs, or (Node) local directories
   * and `file:` URLs, each holding a luarocks manifest. An install's own
   * `servers` option replaces these.
   */
  servers?: string[]
}

/**
 * Options that only code can pass (functions, compiled modules, module
 * sources): given to `createWasmBackend()` / `createFengariBackend()` or to
 * `createWasmVM()` / `createFengariVM()`. Config files cannot express them.
 */
export interface WasmBackendOptions {
  /** Functions Lua may call as `host.<name>(...)`. Nothing is exposed unless listed here. */
  hostFunctions?: HostFunctions
  /** Pure-Lua modules `require` can load: name → source text. */
  modules?: Readonly<Record<string, string>>
  /** A compiled glue.wasm to use instead of loading `wasmUrl` (browsers: avoids a fetch). */
  wasmModule?: WebAssembly.Module
  /** Worker script as a URL object (e.g. `new URL('...', import.meta.url)`). */
  workerUrl?: string | URL
  /** glue.wasm location as a URL object. */
  wasmUrl?: string | URL
}

/** What a VM of this package is built from: validated config plus programmatic options. */
export type WasmVMConfig = Omit<WasmBackendConfig, 'workerUrl' | 'wasmUrl'> & WasmBackendOptions

/** Defaults shared by both backends. */
export const WASM_DEFAULTS = Object.freeze({
  isolation: 'worker' as Isolation,
  sandbox: true,
  vmsPerWorker: 8,
  hardKillGraceMs: 25,
  softDeadline: true,
  workerMaxHeapMb: 512,
  /** Default heap cap of a wasm VM. */
  memoryLimitBytes: 256 * 1024 * 1024,
})

/** Largest heap cap: wasm32 linear memory tops out at 4 GiB, and the engine needs room of its own. */
const MAX_MEMORY = 3 * 1024 * 1024 * 1024

function schema(memoryDefault: number | undefined, memoryText: string): ConfigSchema {
  return Object.freeze({
    isolation: {
      type: 'string',
      enum: ['worker', 'inline'],
      default: WASM_DEFAULTS.isolation,
      description:
        'worker: engine in a worker thread, hard-killed past the deadline; inline: same thread, soft deadline only',
    },
    memoryLimitBytes: {
      type: 'size',
      ...(memoryDefault === undefined ? {} : { default: memoryDefault }),
      min: 1024 * 1024,
      max: MAX_MEMORY,
      description: memoryText,
    },
    grants: {
      type: 'string[]',
      default: [],
      description:
        'capabilities granted back to the sandbox: io, os, debug, package, require, string.dump, collectgarbage, dofile, loadfile, load.binary',
    },
    sandbox: { type: 'boolean', default: WASM_DEFAULTS.sandbox, description: 'run user code in the sandbox env' },
    workers: {
      type: 'integer',
      min: 1,
      max: 64,
      description: 'most worker threads in the shared pool (default: CPUs, at most 4)',
    },
    vmsPerWorker: {
      type: 'integer',
      min: 1,
      max: 1000,
      default: WASM_DEFAULTS.vmsPerWorker,
      description: 'VMs one worker hosts before the pool prefers another',
    },
    hardKillGraceMs: {
      type: 'integer',
      min: 0,
      max: 60_000,
      default: WASM_DEFAULTS.hardKillGraceMs,
      description: 'wait after the deadline before a still-running worker is terminated',
    },
    softDeadline: {
      type: 'boolean',
      default: WASM_DEFAULTS.softDeadline,
      description:
        'stop chunks at the deadline with the runtime hook (keeps state; ~2x CPU cost on call-heavy Lua 5.4); false: worker kill only (needs isolation worker; state lost on timeout)',
    },
    workerMaxHeapMb: {
      type: 'integer',
      min: 16,
      max: 65_536,
      default: WASM_DEFAULTS.workerMaxHeapMb,
      description: 'V8 heap limit of each worker in MiB',
    },
    workerUrl: {
      type: 'string',
      description: "URL or path of the worker script of the VM's engine (default: the bundled one)",
    },
    wasmUrl: { type: 'string', description: 'URL (browser) or path (Node) of glue.wasm (default: the bundled one)' },
    servers: {
      type: 'string[]',
      description: 'rock servers for installPackage: URLs, or local directories (Node), with a luarocks manifest',
      // The same variable the process backend reads: one offline rock server for every backend.
      env: ['LUAVM_ROCK_SERVERS'],
      check: (v) =>
        Array.isArray(v) && v.some((s) => typeof s !== 'string' || /[\0\r\n]/.test(s))
          ? 'each server must be a URL or a directory'
          : undefined,
    },
  })
}

/** Config keys of the `wasm` backend. */
export const wasmConfigSchema: ConfigSchema = schema(
  WASM_DEFAULTS.memoryLimitBytes,
  'cap on the Lua heap, e.g. "256MiB" (enforced by the allocator)',
)

/** Config keys of the `fengari` backend (no memory default: fengari cannot cap its heap). */
export const fengariConfigSchema: ConfigSchema = schema(
  undefined,
  'largest string.rep result (fengari has no allocator hook; in worker mode workerMaxHeapMb bounds the JS heap)',
)

/**
 * What is wrong with settings that cannot work together, naming the keys;
 * undefined when nothing is. A schema checks each key on its own, so the
 * descriptors run this on a whole section (`config validate`,
 * `registry.create`) and VMs run it when created from code.
 */
export function wasmConfigProblem(
  type: string,
  config: Pick<WasmBackendConfig, 'isolation' | 'softDeadline'>,
): string | undefined {
  const isolation = config.isolation ?? WASM_DEFAULTS.isolation
  if (config.softDeadline === false && isolation === 'inline') {
    return `backends.${type}.softDeadline: false needs backends.${type}.isolation "worker": with isolation "inline" the engine runs on the caller's thread and nothing could stop it at the deadline; set isolation to "worker" or softDeadline to true`
  }
  return undefined
}

/** Throws {@link wasmConfigProblem}'s finding as a `ConfigError`. */
export function checkWasmConfig(type: string, config: Pick<WasmBackendConfig, 'isolation' | 'softDeadline'>): void {
  const problem = wasmConfigProblem(type, config)
  if (problem) {
    throw new ConfigError(problem, {
      details: { keys: ['isolation', 'softDeadline'], isolation: config.isolation, softDeadline: config.softDeadline },
    })
  }
}
