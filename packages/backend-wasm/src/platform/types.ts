import type { EngineKind } from '../engine/types.js'

/** Callbacks a spawned worker reports to. */
export interface WorkerEvents {
  message(data: unknown): void
  /** The worker died (uncaught error, out of memory, load failure). */
  error(error: Error): void
}

/** A worker thread as the pool uses it, whatever the platform. */
export interface WorkerLike {
  post(message: unknown, transfer?: Transferable[]): void
  /** Stops the thread at once, even inside a long C call. */
  terminate(): Promise<void>
  /** Node only: let an idle worker not keep the process alive. */
  ref?(): void
  unref?(): void
}

/** Where glue.wasm comes from. */
export interface WasmSource {
  /** A compiled module the host already has. */
  module?: WebAssembly.Module | undefined
  /** A URL (browser) or file path / file URL (Node) of glue.wasm. */
  url?: string | URL | undefined
}

/** What differs between Node and browsers. Chosen by the entry point, never sniffed at runtime. */
export interface Platform {
  readonly name: 'node' | 'browser'
  /** Compiled glue.wasm for `source` (cached per source). */
  wasmModule(source: WasmSource): Promise<WebAssembly.Module>
  /** What Emscripten may "locate" as glue.wasm in an engine's thread. */
  locateFile(): Promise<string>
  /** Starts a worker running this package's worker entry for `engine` (or `url`). */
  spawnWorker(
    url: string | URL | undefined,
    settings: { engine: EngineKind; maxHeapMb?: number | undefined },
    events: WorkerEvents,
  ): Promise<WorkerLike>
  /** SharedArrayBuffer + Atomics.wait are usable (host functions and soft cancel in workers). */
  readonly sharedMemory: boolean
  /** Logical CPUs, for the default pool size. */
  readonly cpus: number
  /** Reads a file's bytes (Node only): how `executeFile` reads Lua source, which is bytes. */
  readFile?(path: string): Promise<Uint8Array>
  /**
   * Reads a file (a path or a `file:` URL) into memory, refusing one larger
   * than `maxBytes`; `undefined` when it does not exist. Node only: it is
   * how package installs read local rock servers.
   */
  readBinaryFile?(path: string, options: { signal?: AbortSignal; maxBytes: number }): Promise<Uint8Array | undefined>
}
