import type { ExecErrorInfo, ExecResult, LuaValue } from '../contract/types.js'

// Lua strings are bytes. These helpers carry them across the host's text
// APIs without ever turning a byte into U+FFFD.
//
// The runtime's JSON (runtime.lua, `jstr`) writes a string that is not
// valid UTF-8 with each byte of its ill-formed parts as the escape
// `\udcXX` — the lone low surrogate U+DC00 + byte, as Python's
// "surrogateescape" does (PEP 383). Bytes below 0x80 are always valid
// UTF-8, so only U+DC80..U+DCFF occur; valid UTF-8 never encodes a
// surrogate, so a parsed string holding a lone surrogate came from bytes
// and nothing else. The JSON text itself stays ASCII-escaped valid UTF-8,
// so every transport (a wasm heap string, a worker message, a pipe frame)
// carries it unchanged.

const encoder = new TextEncoder()
const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const lenient = new TextDecoder('utf-8', { ignoreBOM: true })
const EMPTY = new Uint8Array(0)

// A lone surrogate: a high one not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const wellFormed: (text: string) => boolean =
  typeof (String.prototype as { isWellFormed?: () => boolean }).isWellFormed === 'function'
    ? (text) => (text as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (text) => !LONE_SURROGATE.test(text)

/** Whether `bytes` are well-formed UTF-8 (what a Lua string must be to arrive as a JS `string`). */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    strict.decode(bytes)
    return true
  } catch {
    return false
  }
}

/**
 * `bytes` as text: UTF-8 with each ill-formed sequence as U+FFFD (a view
 * for display; the bytes stay the truth). With `cut`, an incomplete
 * character at the end — left by an output cap cutting inside it — is
 * dropped instead, so the text is never longer than the bytes.
 */
export function bytesToText(bytes: Uint8Array, cut = false): string {
  if (cut) bytes = bytes.subarray(0, completeLength(bytes))
  return lenient.decode(bytes)
}

// Length of `bytes` without a trailing incomplete UTF-8 sequence.
function completeLength(bytes: Uint8Array): number {
  const n = bytes.length
  // A sequence is at most 4 bytes: find the last lead byte in the tail.
  for (let i = n - 1; i >= 0 && i >= n - 4; i--) {
    const b = bytes[i] as number
    if (b < 0x80) return n
    if (b >= 0xc0) {
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2
      return n - i < need ? i : n
    }
  }
  return n
}

/**
 * The exact bytes of a Lua string that reached JS as text: UTF-8 for its
 * characters, and the byte XX for each lone surrogate U+DCXX — the form
 * table keys take when they are not valid UTF-8 (see {@link LuaValue}).
 * For a well-formed string this is plain UTF-8.
 */
export function luaStringBytes(text: string): Uint8Array {
  if (wellFormed(text)) return encoder.encode(text)
  const out: number[] = []
  let run = 0
  const flush = (end: number) => {
    if (end > run) for (const b of encoder.encode(text.slice(run, end))) out.push(b)
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++ // a pair: part of the UTF-8 run
      continue
    }
    if (c >= 0xdc00 && c <= 0xdfff) {
      flush(i)
      // Only U+DC80..U+DCFF come from the runtime; anything else keeps its low byte.
      out.push(c & 0xff)
      run = i + 1
    }
  }
  flush(text.length)
  return Uint8Array.from(out)
}

/**
 * The text form of a Lua string's bytes that {@link luaStringBytes} undoes:
 * UTF-8 for its well-formed parts, U+DC00 + byte for each other byte (the
 * form table keys take; see {@link LuaValue}). Exactly what the runtime's
 * JSON gives, so every backend names such a key alike.
 */
export function luaStringText(bytes: Uint8Array): string {
  if (isUtf8(bytes)) return lenient.decode(bytes)
  let text = ''
  let run = 0
  let i = 0
  while (i < bytes.length) {
    const n = sequenceLength(bytes, i)
    if (n > 0) {
      i += n
      continue
    }
    text += lenient.decode(bytes.subarray(run, i)) + String.fromCharCode(0xdc00 + (bytes[i] as number))
    i++
    run = i
  }
  return text + lenient.decode(bytes.subarray(run))
}

// Length of the well-formed UTF-8 sequence at `i`, or 0 (the rules of runtime.lua's escape_run).
function sequenceLength(bytes: Uint8Array, i: number): number {
  const c = bytes[i] as number
  if (c < 0x80) return 1
  const need = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0
  if (need === 0 || i + need >= bytes.length) return 0
  for (let k = 1; k <= need; k++) if (((bytes[i + k] as number) & 0xc0) !== 0x80) return 0
  const c2 = bytes[i + 1] as number
  if (
    (c === 0xe0 && c2 < 0xa0) ||
    (c === 0xed && c2 > 0x9f) ||
    (c === 0xf0 && c2 < 0x90) ||
    (c === 0xf4 && c2 > 0x8f)
  ) {
    return 0
  }
  return need + 1
}

/**
 * Values of the runtime's JSON with byte strings restored: every string
 * that is not well-formed becomes the `Uint8Array` of its bytes. Object
 * keys stay strings (JSON keys are text; see {@link LuaValue}).
 */
export function restoreByteStrings(values: unknown[]): LuaValue[] {
  restoreIn(values)
  return values as LuaValue[]
}

// In place: containers keep their identity, only ill-formed strings are replaced.
function restoreIn(container: unknown[] | Record<string, unknown>): void {
  if (Array.isArray(container)) {
    for (let i = 0; i < container.length; i++) {
      const replaced = restore(container[i])
      if (replaced !== undefined) container[i] = replaced
    }
    return
  }
  for (const key of Object.keys(container)) {
    const replaced = restore(container[key])
    // defineProperty: a key named "__proto__" is an own property here, not the prototype.
    if (replaced !== undefined)
      Object.defineProperty(container, key, { value: replaced, writable: true, enumerable: true, configurable: true })
  }
}

// The replacement of an ill-formed string, or undefined when `value` stays.
function restore(value: unknown): Uint8Array | undefined {
  if (typeof value === 'string') return wellFormed(value) ? undefined : luaStringBytes(value)
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    restoreIn(value as unknown[] | Record<string, unknown>)
  }
  return undefined
}

/**
 * An error of the runtime's JSON with its message as text: when the
 * message was not valid UTF-8, `message` is its UTF-8 view and
 * `messageBytes` its exact bytes. The traceback is text (a view).
 */
export function restoreErrorInfo(info: ExecErrorInfo): ExecErrorInfo {
  if (!wellFormed(info.message)) {
    const bytes = luaStringBytes(info.message)
    info.message = bytesToText(bytes)
    info.messageBytes = bytes
  }
  if (info.traceback !== undefined && !wellFormed(info.traceback)) {
    info.traceback = bytesToText(luaStringBytes(info.traceback))
  }
  return info
}

/** One array of all `chunks`, in order (no copy for zero or one chunk). */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 0) return EMPTY
  if (chunks.length === 1) return chunks[0] as Uint8Array
  let length = 0
  for (const c of chunks) length += c.length
  const out = new Uint8Array(length)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}

/** Code as the backends take it: valid UTF-8 bytes become a string, other bytes stay bytes (see `BaseLuaVM.runCode`). */
export function codeArgument(code: string | Uint8Array): string | Uint8Array {
  if (typeof code === 'string') return code
  try {
    return strict.decode(code)
  } catch {
    return code
  }
}

/** Base64 of `bytes` (browser-safe: btoa over a binary string, built in slices). */
function toBase64(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000) as unknown as number[])
  }
  return btoa(binary)
}

/**
 * `JSON.stringify` replacer giving byte strings their JSON form: a
 * `Uint8Array` becomes `{"$bytes": "<base64>"}` (the form of the CLI's
 * `--json`; docs/cli.md). A Lua table whose only key is `$bytes` holding a
 * string looks the same: read it back with {@link bytesReviver} only where
 * that cannot occur or does not matter.
 */
export function bytesReplacer(_key: string, value: unknown): unknown {
  return value instanceof Uint8Array ? { $bytes: toBase64(value) } : value
}

/** `JSON.parse` reviver undoing {@link bytesReplacer}: `{"$bytes": "<base64>"}` becomes a `Uint8Array`. */
export function bytesReviver(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
  const keys = Object.keys(value)
  const b64 = (value as { $bytes?: unknown }).$bytes
  if (keys.length !== 1 || typeof b64 !== 'string') return value
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
}

/**
 * The JSON form of an execution result (the CLI's `--json`, docs/cli.md):
 * byte strings that are not UTF-8 (values, `error.messageBytes`) as
 * `{"$bytes": "<base64>"}` (see {@link bytesReplacer}); `stdoutBytes` and
 * `stderrBytes` only when the output is not UTF-8 — otherwise `stdout` and
 * `stderr` are exact and the bytes would only repeat them.
 */
export function execResultJson(result: ExecResult): string {
  const { stdoutBytes, stderrBytes, ...rest } = result
  const exact = {
    ...rest,
    ...(isUtf8(stdoutBytes) ? {} : { stdoutBytes }),
    ...(isUtf8(stderrBytes) ? {} : { stderrBytes }),
  }
  return JSON.stringify(exact, bytesReplacer)
}
