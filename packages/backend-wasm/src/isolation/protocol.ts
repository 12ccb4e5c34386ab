import type { LuaValue } from '@bioxen-luavm/core'
import type { EngineExecRequest, EngineOptions, EngineStats } from '../engine/types.js'

/** First message to a worker: everything its engines share. */
export interface InitMessage {
  t: 'init'
  /** glue.wasm, compiled by the host; only workers hosting wasmoon engines get it. */
  module?: WebAssembly.Module
  locateFile?: string
  /** Control block for host calls and soft cancel; absent without SharedArrayBuffer. */
  shared?: SharedArrayBuffer
}

/** Requests the host sends; each is answered by exactly one `reply` with the same `rid`. */
export type Request =
  | { t: 'create'; rid: number; slot: number; options: EngineOptions }
  | { t: 'exec'; rid: number; slot: number; request: EngineExecRequest; sentAt: number }
  | { t: 'mount'; rid: number; slot: number; name: string; source: string }
  | { t: 'reset'; rid: number; slot: number }
  | { t: 'stats'; rid: number; slot: number }
  | { t: 'destroy'; rid: number; slot: number }

/** A request before the connection numbers it. */
export type RequestBody = Request extends infer R ? (R extends unknown ? Omit<R, 'rid'> : never) : never

/** Values replies carry, by request type. */
export interface ReplyValues {
  create: { luaVersion: string }
  exec: { json: string; output: Array<[1 | 2, Uint8Array]> }
  mount: { problem?: string }
  reset: null
  stats: EngineStats
  destroy: null
}

/** Messages a worker sends. */
export type WorkerMessage =
  | { t: 'ready' }
  | { t: 'reply'; rid: number; ok: true; value: unknown }
  | { t: 'reply'; rid: number; ok: false; error: string; crashed?: boolean; memory?: boolean }
  | { t: 'out'; rid: number; chunks: Array<[1 | 2, Uint8Array]> }
  | { t: 'host-call'; rid: number; call: number; slot: number; name: string; args: LuaValue[] }
  | { t: 'host-next'; call: number }
  | { t: 'host-cancel'; call: number }

/** The host's clock as the worker can compare it: both threads share the epoch. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now()
}
