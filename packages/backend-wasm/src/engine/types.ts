import type { LuaValue } from '@bioxen-luavm/core'

/** Which interpreter an engine runs. */
export type EngineKind = 'wasmoon' | 'fengari'

/** Everything an engine needs to come up; plain data so it can cross to a worker. */
export interface EngineOptions {
  kind: EngineKind
  /** Source of the shared Lua runtime (core's `RUNTIME_LUA`). */
  runtimeSource: string
  /** Run user code in the runtime's sandbox env (default true). */
  sandbox: boolean
  /** Runtime grants (`io`, `os`, `debug`, ...); see runtime.lua's KNOWN_GRANTS. */
  grants: string[]
  /** Default cap on the Lua heap in bytes (wasmoon only; fengari has no allocator hook). */
  memoryLimitBytes?: number
  /** Names exposed to Lua as `host.<name>(...)`; calls go to `EngineHooks.callHost`. */
  hostFunctions: string[]
  /** Pure-Lua modules mounted at start: name → source. */
  modules: Record<string, string>
}

/** One execution, as the runtime's `vm:exec` takes it. */
export interface EngineExecRequest {
  /** The chunk: text (run as UTF-8) or its exact bytes. */
  code: string | Uint8Array
  chunkName: string
  echo: boolean
  repl: boolean
  /** The execution's deadline budget; the runtime enforces it only when `softDeadline` is true. */
  timeoutMs: number
  /**
   * Whether the runtime arms its deadline hook. `false`: Lua runs with no
   * hook at all and only the host's worker kill enforces `timeoutMs`.
   */
  softDeadline: boolean
  maxOutputBytes: number
  /** Heap cap for this execution only (wasmoon). */
  memoryLimitBytes?: number
}

/**
 * The `timeout_ms` an engine passes to the runtime's `vm:exec`. The runtime
 * arms its count hook only for a positive timeout, so hook-free executions
 * pass 0: no `sethook` at all (the runtime then reads the clock on writes
 * only, to stream output).
 */
export function runtimeTimeoutMs(request: EngineExecRequest): number {
  return request.softDeadline ? request.timeoutMs : 0
}

/** Outcome of a host function call, as the engine hands it back to Lua. */
export type HostCallOutcome = { ok: true; json: string } | { ok: false; message: string }

/**
 * What an engine calls back into while Lua runs. All three are invoked
 * synchronously from inside the interpreter and must never throw.
 */
export interface EngineHooks {
  /** Output bytes the runtime flushed; stream 1 = stdout, 2 = stderr. */
  emit(stream: 1 | 2, bytes: Uint8Array): void
  /** Wall clock in ms for the runtime's deadline; returning Infinity aborts the run. */
  clock(): number
  /** Runs a granted host function; `args` are JSON-safe. */
  callHost(name: string, args: LuaValue[]): HostCallOutcome
}

/** Facts an engine reports for `getStatus().details`. */
export interface EngineStats {
  kind: EngineKind
  luaVersion: string
  /** Lua stack top of the main state between executions: constant unless something leaks. */
  stackTop: number
  /** Bytes the Lua heap holds (wasmoon with allocation tracing). */
  memoryUsedBytes?: number
  /** Size of the engine's WebAssembly linear memory (wasmoon). */
  wasmHeapBytes?: number
}

/**
 * A running interpreter with the runtime loaded: synchronous, single
 * threaded, and owned by exactly one VM. `exec` returns the runtime's JSON
 * string; it throws only when the engine itself broke (then it is dead and
 * must be replaced).
 */
export interface LuaEngine {
  readonly kind: EngineKind
  readonly luaVersion: string
  exec(request: EngineExecRequest): string
  mount(name: string, source: string): string | undefined
  reset(): void
  stats(): EngineStats
  close(): void
}

/** The engine broke (wasm trap, abort, JS exception through the interpreter): its state is gone. */
export class EngineCrashedError extends Error {
  override readonly name = 'EngineCrashedError'
  constructor(
    message: string,
    /** The engine died for lack of memory (the run's status is then `memory`). */
    readonly memory = false,
  ) {
    super(message)
  }
}

/** Whether an error escaping an engine means memory ran out (wasm memory growth, a JS allocation). */
export function isMemoryFailure(error: unknown): boolean {
  const text = error instanceof Error ? `${error.name} ${error.message}` : String(error)
  return (
    error instanceof RangeError ||
    /out of memory|Cannot enlarge memory|allocation failed|Array buffer allocation|Memory\.grow/i.test(text)
  )
}
