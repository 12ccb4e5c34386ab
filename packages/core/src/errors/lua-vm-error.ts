import { redactFields, redactText } from '../util/redact.js'

/**
 * Base class of every error the SDK raises. Errors are data: each carries a
 * stable `_tag` equal to its class name (so Effect users can `catchTag`) and a
 * stable machine-readable `code`. Messages say what happened and what to do,
 * and never contain secrets: the message and details of every error go
 * through `redactText`/`redactFields` (credentials in URLs, secret-named
 * fields), except the text of a Lua error, which is what the program said.
 */
export class LuaVMError extends Error {
  /** Stable discriminant, equal to the class name. */
  readonly _tag: string = 'LuaVMError'
  /** Stable machine-readable code, e.g. `E_LUA_RUNTIME`. */
  readonly code: string = 'E_LUAVM'
  /** Extra structured context; never holds secrets. */
  readonly details: Readonly<Record<string, unknown>>

  /**
   * True on the classes whose message is text the Lua program produced
   * (its error value): kept verbatim, since the SDK did not write it.
   */
  static readonly luaText: boolean = false

  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    // Redacted before super(): the stack trace copies the message.
    const verbatim = (new.target as typeof LuaVMError).luaText
    super(verbatim ? message : redactText(message), options.cause === undefined ? undefined : { cause: options.cause })
    const details = options.details ?? {}
    this.details = Object.freeze(verbatim ? { ...details } : (redactFields(details) as Record<string, unknown>))
  }

  /** A JSON-safe view, e.g. for `--json` output and logs. */
  toJSON(): Record<string, unknown> {
    return { _tag: this._tag, code: this.code, message: this.message, ...this.details }
  }
}

// `name` is the stable `_tag` (a string literal on each class), never the
// class's own name: minifiers rename classes, and String(error) and stack
// headers must still read "VMTimeoutError: …" in a minified bundle.
Object.defineProperty(LuaVMError.prototype, 'name', {
  configurable: true,
  get(this: LuaVMError): string {
    return this._tag ?? 'LuaVMError'
  },
  set(this: LuaVMError, value: string) {
    Object.defineProperty(this, 'name', { value, writable: true, configurable: true })
  },
})

/** True when `value` is a {@link LuaVMError} (also across package copies). */
export function isLuaVMError(value: unknown): value is LuaVMError {
  return (
    value instanceof LuaVMError ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as { _tag?: unknown })._tag === 'string' &&
      typeof (value as { code?: unknown }).code === 'string' &&
      value instanceof Error)
  )
}
