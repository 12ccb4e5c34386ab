/**
 * The wire protocol between the `http-runner` backend and a runner: plain
 * JSON over HTTP, small enough to implement in any language.
 *
 * | request | body | reply |
 * |---|---|---|
 * | `GET /health` | — | `200` {@link HealthReply} |
 * | `POST /sessions` | — | `201` {@link SessionReply} (a Lua state that persists between executions) |
 * | `DELETE /sessions/<id>` | — | `204`; `404` when unknown |
 * | `POST /execute` | {@link ExecuteRequest} | `200` an `ExecResult` |
 *
 * Every reply that is not 2xx carries {@link ErrorReply}. With a token
 * configured, every request carries `Authorization: Bearer <token>` and a
 * runner answers `401` without it.
 *
 * This module is shared by the backend and the server and imports nothing
 * but types, so it is safe in browsers.
 *
 * @module
 */
import type { BackendCapabilities, ExecResult, ExecStatus, LuaValue } from '@bioxen-luavm/core'

/** Version of this protocol; a runner reports it in `/health`. */
export const PROTOCOL_VERSION = 1

/** Execution options that travel to the runner (callbacks and signals stay local). */
export interface WireExecOptions {
  timeoutMs?: number
  memoryLimitBytes?: number
  maxOutputBytes?: number
  chunkName?: string
  echoReturnValues?: boolean
  /** REPL mode, used by interactive sessions. */
  repl?: boolean
}

/**
 * Body of `POST /execute`. Bodies and replies are JSON in which a byte
 * string that is not UTF-8 (code, a value, an error message, output) is
 * `{"$bytes": "<base64>"}` — core's `bytesReplacer`/`bytesReviver`, the
 * form of the CLI's `--json`.
 */
export interface ExecuteRequest {
  /** The chunk: text, or its bytes when they are not UTF-8. */
  code: string | Uint8Array
  options: WireExecOptions
  /** Run in this session's Lua state; without it the chunk runs in a fresh one. */
  sessionId?: string
}

/** Reply of `GET /health`. */
export interface HealthReply {
  ok: true
  protocol: number
  /** `_VERSION` of the runner's Lua. */
  luaVersion: string
  /** What the runner's VMs can do; the backend never claims more than this. */
  capabilities: Partial<BackendCapabilities>
}

/** Reply of `POST /sessions`. */
export interface SessionReply {
  sessionId: string
  luaVersion: string
}

/** Body of every non-2xx reply. */
export interface ErrorReply {
  error: {
    /** The error's class name, e.g. `InvalidArgumentError`. */
    tag: string
    message: string
  }
}

const encoder = new TextEncoder()

const STATUSES: readonly ExecStatus[] = ['ok', 'error', 'timeout', 'memory', 'output-limit', 'killed']

/** Option keys a runner accepts, with the type each must have. */
export const WIRE_OPTION_TYPES: Readonly<Record<keyof WireExecOptions, 'number' | 'string' | 'boolean'>> = {
  timeoutMs: 'number',
  memoryLimitBytes: 'number',
  maxOutputBytes: 'number',
  chunkName: 'string',
  echoReturnValues: 'boolean',
  repl: 'boolean',
}

/** The part of an `ExecResult` a runner reports; the backend fills in `backend` and the derived fields. */
export type WireResult = Pick<
  ExecResult,
  'stdout' | 'stderr' | 'stdoutBytes' | 'stderrBytes' | 'values' | 'status' | 'truncated' | 'durationMs'
> &
  Pick<Partial<ExecResult>, 'error' | 'incomplete' | 'luaVersion'>

/**
 * Checks that `body` is an execution result and returns its fields, or a
 * description of what is wrong with it (for a `ProtocolError`).
 */
export function parseWireResult(body: unknown): WireResult | string {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'the reply is not a JSON object'
  const r = body as Record<string, unknown>
  if (typeof r.stdout !== 'string') return '`stdout` is not a string'
  if (typeof r.stderr !== 'string') return '`stderr` is not a string'
  if (!Array.isArray(r.values)) return '`values` is not an array'
  if (!STATUSES.includes(r.status as ExecStatus)) return `\`status\` ${JSON.stringify(r.status)} is not an ExecStatus`
  if (typeof r.truncated !== 'boolean') return '`truncated` is not a boolean'
  const durationMs = typeof r.durationMs === 'number' && Number.isFinite(r.durationMs) ? r.durationMs : 0
  // Output bytes travel only when they are not UTF-8; otherwise the text is exact.
  const out: WireResult = {
    stdout: r.stdout,
    stderr: r.stderr,
    stdoutBytes: r.stdoutBytes instanceof Uint8Array ? r.stdoutBytes : encoder.encode(r.stdout),
    stderrBytes: r.stderrBytes instanceof Uint8Array ? r.stderrBytes : encoder.encode(r.stderr),
    values: r.values as LuaValue[],
    status: r.status as ExecStatus,
    truncated: r.truncated,
    durationMs,
  }
  if (r.error !== undefined) {
    const e = r.error as Record<string, unknown>
    if (e === null || typeof e !== 'object' || typeof e.message !== 'string') return '`error` has no message'
    if (e.kind !== 'syntax' && e.kind !== 'runtime') return '`error.kind` is neither "syntax" nor "runtime"'
    out.error = {
      message: e.message,
      ...(e.messageBytes instanceof Uint8Array ? { messageBytes: e.messageBytes } : {}),
      kind: e.kind,
      ...(typeof e.line === 'number' ? { line: e.line } : {}),
      ...(typeof e.traceback === 'string' ? { traceback: e.traceback } : {}),
    }
  }
  if (r.incomplete === true) out.incomplete = true
  if (typeof r.luaVersion === 'string') out.luaVersion = r.luaVersion
  return out
}
