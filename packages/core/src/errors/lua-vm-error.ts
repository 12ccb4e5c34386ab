/**
 * Base class of every error the SDK raises. Errors are data: each carries a
 * stable `_tag` equal to its class name (so Effect users can `catchTag`) and a
 * stable machine-readable `code`. Messages say what happened and what to do,
 * and never contain secrets.
 */
export class LuaVMError extends Error {
  /** Stable discriminant, equal to the class name. */
  readonly _tag: string = 'LuaVMError'
  /** Stable machine-readable code, e.g. `E_LUA_RUNTIME`. */
  readonly code: string = 'E_LUAVM'
  /** Extra structured context; never holds secrets. */
  readonly details: Readonly<Record<string, unknown>>

  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.details = Object.freeze({ ...(options.details ?? {}) })
  }

  /** A JSON-safe view, e.g. for `--json` output and logs. */
  toJSON(): Record<string, unknown> {
    return { _tag: this._tag, code: this.code, message: this.message, ...this.details }
  }
}

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
