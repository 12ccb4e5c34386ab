/** Lifecycle of a VM. Legal moves are listed in `vm-state.ts`. */
export type VMState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed'

/**
 * How an execution ended. Everything the Lua program did is a status; only
 * failures of the SDK or backend itself reject the promise.
 */
export type ExecStatus = 'ok' | 'error' | 'timeout' | 'memory' | 'output-limit' | 'killed'

/**
 * A Lua value converted to JSON-safe data. Tables with only consecutive
 * integer keys from 1 become arrays, other tables objects (keys stringified).
 * Integers outside ±2^53 become decimal strings so no digit is lost; NaN and
 * ±inf become the strings `"nan"`, `"inf"`, `"-inf"`; functions, userdata and
 * threads become their `tostring` text; cycles become `"<cycle>"`. A result
 * holds at most 10,000 values and 32 levels of nesting: past either the rest
 * becomes `"<truncated>"` and the result's `truncated` is set (a table
 * referenced twice is encoded twice, since JSON has no sharing, so a deep DAG
 * is cut there instead of expanding into millions of nodes).
 *
 * Lua strings are byte strings: one that is valid UTF-8 arrives as a JS
 * `string`, any other as a `Uint8Array` holding its exact bytes (so
 * `string.char(255)` is `Uint8Array [255]`, never U+FFFD). Object keys are
 * always JS strings: a key that is not valid UTF-8 keeps each byte of its
 * ill-formed parts as the lone surrogate U+DC80–U+DCFF (U+DC00 + the byte,
 * Python's "surrogateescape"); `luaStringBytes(key)` gives its exact bytes.
 */
export type LuaValue = null | boolean | number | string | Uint8Array | LuaValue[] | { [key: string]: LuaValue }

/** Options of one execution. Every limit is enforced, never advisory. */
export interface ExecOptions {
  /** Wall-clock deadline in milliseconds. Defaults to the VM's `defaultTimeoutMs`. */
  timeoutMs?: number
  /** Memory cap in bytes, for backends whose `capabilities.memoryLimit` is true; the others refuse it with a `ConfigError`. */
  memoryLimitBytes?: number
  /**
   * Cap, in bytes (not characters), on everything the execution sends out of the VM,
   * together: stdout, stderr, then the error message and traceback or the
   * returned values (as JSON). Output past it is cut to the byte, `truncated`
   * is set and the run ends `output-limit`. An error message and traceback
   * are cut to what is left (the status stays `error`, `truncated` is set).
   * Returned values that do not fit end `output-limit`, with no values and an
   * error message naming the size reached and the room left; the encoding
   * stops there, so a huge result is never built. The same number bounds the
   * string bytes of one host function call's arguments. Defaults to the VM's
   * `maxOutputBytes` (8 MiB).
   */
  maxOutputBytes?: number
  /**
   * Receives stdout as it is produced, while the chunk still runs: batched
   * by time, so it arrives at most a few tens of milliseconds after the
   * write (or at once after `io.stdout:flush()`) on every backend. In
   * `inline` isolation Lua runs on the calling thread, so "live" means this
   * is called synchronously from inside the run; nothing else on that
   * thread (timers, rendering) runs until the chunk ends (docs/backends.md,
   * "Live output"). `chunk` is text (a streaming UTF-8 decode, so a
   * character split across two flushes arrives whole in the later call;
   * `chunk` may then be `''`), `bytes` the exact bytes of this piece. The
   * chunks join to `stdout`, the bytes to `stdoutBytes`.
   */
  onStdout?(chunk: string, bytes: Uint8Array): void
  /** Receives stderr as it is produced; as `onStdout`. */
  onStderr?(chunk: string, bytes: Uint8Array): void
  /** Cancels the execution; the result then has `status: 'killed'`. */
  signal?: AbortSignal
  /** Name of the chunk in error messages and tracebacks (default `"chunk"`). */
  chunkName?: string
  /** Reject with the typed error instead of resolving with a non-ok result. */
  throwOnError?: boolean
  /** Echo returned values to stdout like Lua's REPL does (default true). */
  echoReturnValues?: boolean
  /**
   * REPL mode, used by interactive sessions: a line is first tried as an
   * expression (`1 + 1` prints `2`, `= x` works), and a chunk that is only
   * incomplete yields `incomplete: true` instead of a syntax error.
   */
  repl?: boolean
}

/** Structured description of a Lua error. */
export interface ExecErrorInfo {
  /** The message as text (UTF-8; bytes that are not UTF-8 show as U+FFFD). */
  message: string
  /** The exact bytes of the message, present only when they are not valid UTF-8. */
  messageBytes?: Uint8Array
  line?: number
  traceback?: string
  kind: 'syntax' | 'runtime'
}

/** What an execution did. */
export interface ExecResult {
  /**
   * What the program wrote to stdout as text: a UTF-8 view of
   * `stdoutBytes` (bytes that are not UTF-8 show as U+FFFD; a character cut
   * by `maxOutputBytes` is dropped); never trimmed.
   */
  stdout: string
  /** What the program wrote to stderr as text; as `stdout`. */
  stderr: string
  /** The exact bytes the program wrote to stdout (Lua strings are bytes). */
  stdoutBytes: Uint8Array
  /** The exact bytes the program wrote to stderr. */
  stderrBytes: Uint8Array
  /** Values the chunk returned. */
  values: LuaValue[]
  /** 0 for ok; 1 for a Lua error; 3 for timeout, memory, output limit or kill (as the CLI). */
  exitCode: number
  success: boolean
  status: ExecStatus
  error?: ExecErrorInfo
  /**
   * True when something that left the VM was cut: output or an error
   * message at `maxOutputBytes`, or values at the 10,000-value or 32-level
   * limit of a result (see {@link LuaValue}).
   */
  truncated: boolean
  durationMs: number
  /** Backend type that ran the code, e.g. `wasm`. */
  backend: string
  /** `_VERSION` of the interpreter, e.g. `Lua 5.4`. */
  luaVersion: string
  /** REPL mode only: the input is an unfinished chunk and more lines are needed. */
  incomplete?: boolean
}

/** What a backend can do, so hosts and the CLI can choose and explain. */
export interface BackendCapabilities {
  /** Untrusted code cannot reach the host (files, processes, environment). */
  sandboxed: boolean
  /** Globals persist across `execute` calls on one VM. */
  persistentState: boolean
  /** `openSession` gives REPL sessions. */
  sessions: boolean
  /** `installPackage` works. */
  packages: boolean
  /** Lua code can open sockets. */
  networking: boolean
  /** `memoryLimitBytes` is enforced (when false, asking for it is a `ConfigError`). */
  memoryLimit: boolean
  /** A deadline is enforced even inside a long C call (worker/process kill). */
  hardTimeout: boolean
  /** Code runs on another machine. */
  remote: boolean
  /**
   * Kinds of rocks `installPackage` takes: `pure` (Lua only) and/or
   * `native` (C modules). Absent means both when `packages` is true; the
   * WASM sandboxes say `['pure']`, so installers skip native rocks there.
   */
  packageKinds?: readonly PackageKind[]
}

/** What a rock is made of: Lua only (`pure`) or with C modules (`native`). */
export type PackageKind = 'pure' | 'native'

/** A snapshot of a VM's health. */
export interface VMStatus {
  id: string
  type: string
  state: VMState
  luaVersion?: string
  executions: number
  /** Executions running now. */
  running: number
  /** Times the engine was recreated after a hard kill. */
  restarts: number
  uptimeMs: number
  memoryBytes?: number
  /** Backend-specific facts (pid, worker id, guest IP, ...). */
  details?: Record<string, unknown>
}

/** Options of `start`. */
export interface StartOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

/** Options of `stop`. */
export interface StopOptions {
  /** Skip graceful shutdown and kill at once. */
  force?: boolean
  timeoutMs?: number
}

/** Options of `installPackage`. */
export interface InstallOptions {
  version?: string
  signal?: AbortSignal
  timeoutMs?: number
  /** Backend-specific extras (rock server, environment name, bytes of a rock, ...). */
  [key: string]: unknown
}

/** What an install did. */
export interface InstallResult {
  name: string
  version: string
  success: boolean
  /** Where it was installed (a luarocks tree, the VM's virtual FS, a guest). */
  location?: string
  /** Lua modules that `require` can now load. */
  modules: string[]
  /** Installer output, for diagnostics. */
  log?: string
}
