import type { ExecErrorInfo, LuaValue } from './types.js'

/** State of an interactive session. `dead` means its Lua engine went away. */
export type SessionState = 'open' | 'closed' | 'dead'

/** Options of `openSession`. */
export interface SessionOptions {
  /** Session id; defaults to a generated one. */
  id?: string
  /** Deadline of each input, in milliseconds. */
  timeoutMs?: number
  /** Cap on the output of each input. */
  maxOutputBytes?: number
  /** Chunk name in error messages (e.g. `stdin`, as lua.c's REPL says). */
  chunkName?: string
}

/** Reply to one `sendInput`. */
export interface SessionReply {
  /** `incomplete` when the input is an unfinished chunk that waits for more lines. */
  status: 'complete' | 'incomplete' | 'error' | 'timeout' | 'memory' | 'output-limit' | 'killed'
  /** stdout then stderr of this input, clean: no echo, prompts, CRLF or escapes. */
  output: string
  stdout: string
  stderr: string
  values: LuaValue[]
  error?: ExecErrorInfo
}

/**
 * A REPL on a VM, framed rather than timed: `sendInput` resolves when the
 * chunk ran or needs more lines; expressions print their value; errors keep
 * the session; a dead session rejects instead of swallowing input.
 */
export interface InteractiveSession extends AsyncDisposable {
  readonly id: string
  readonly vmId: string
  get state(): SessionState
  /** Sends one or more lines; resolves with what they printed. */
  sendInput(input: string, options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<SessionReply>
  /**
   * Takes output buffered since the last read. With `until`, waits (up to
   * `timeoutMs`) until the buffer contains it; rejects with `VMTimeoutError`
   * if it never comes.
   */
  readOutput(options?: { until?: string | RegExp; timeoutMs?: number; signal?: AbortSignal }): Promise<string>
  /** Calls `listener` with every piece of output; returns an unsubscribe function. */
  onOutput(listener: (chunk: string) => void): () => void
  /** Ends the session. Idempotent. */
  close(): Promise<void>
}
