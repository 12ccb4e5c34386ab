import { isUtf8, type LuaValue, luaStringText } from '@bioxen-luavm/core'

/** Tables nested deeper than this are refused when passed to a host function. */
export const MAX_DEPTH = 32

/**
 * Most values (tables, keys and scalars together) the arguments of one host
 * call may hold: the same bound as a result's (the runtime's MAX_ITEMS). A
 * table referenced twice is read twice (JSON has no sharing), so a DAG of
 * twenty levels would otherwise expand into a million nodes on the host.
 */
export const MAX_ARG_VALUES = 10_000

/** Raised while converting a Lua argument that has no JSON form. */
export class ConversionError extends Error {
  override readonly name = 'ConversionError'
}

/**
 * What reading the arguments of one host call may cost: at most
 * {@link MAX_ARG_VALUES} values and `maxBytes` bytes of strings (the
 * execution's `maxOutputBytes`: arguments leave the VM as output does),
 * checked before a string is copied out of the VM. Plus the tables on the
 * current path, to refuse cycles.
 */
export class ArgBudget {
  /** Tables on the path being read (their identities). */
  readonly seen = new Set<unknown>()
  #values = 0
  #bytes = 0

  /** @param maxBytes - most string bytes the arguments may hold */
  constructor(readonly maxBytes: number) {}

  /** Counts one value; throws past {@link MAX_ARG_VALUES}. */
  value(): void {
    if (++this.#values > MAX_ARG_VALUES) {
      throw new ConversionError(`goes past the limit of ${MAX_ARG_VALUES} values in one host call's arguments`)
    }
  }

  /** Counts a string of `length` bytes; throws past `maxBytes`. */
  string(length: number): void {
    this.#bytes += length
    if (this.#bytes > this.maxBytes) {
      throw new ConversionError(
        `goes past the limit of ${this.maxBytes} bytes of strings in one host call's arguments (maxOutputBytes)`,
      )
    }
  }
}

/**
 * Builds the JSON-safe value of a Lua table from its raw entries, with the
 * rules of core's `LuaValue`: keys 1..n in full make an array, anything else
 * an object with stringified keys.
 */
export function tableValue(entries: Array<[LuaValue, LuaValue]>): LuaValue {
  const n = entries.length
  if (n > 0 && entries.every(([k]) => typeof k === 'number' && Number.isInteger(k) && k >= 1 && k <= n)) {
    const array: LuaValue[] = new Array<LuaValue>(n)
    for (const [k, v] of entries) array[(k as number) - 1] = v
    return array
  }
  const object: Record<string, LuaValue> = {}
  for (const [k, v] of entries) object[keyText(k)] = v
  return object
}

function keyText(key: LuaValue): string {
  if (typeof key === 'string') return key
  // A key that is not UTF-8 takes the text form core's LuaValue documents.
  if (key instanceof Uint8Array) return luaStringText(key)
  return JSON.stringify(key)
}

const decoder = new TextDecoder('utf-8', { ignoreBOM: true })

/** A Lua string's bytes as a value: a `string` when they are UTF-8, else the bytes themselves (core's `LuaValue`). */
export function stringValue(bytes: Uint8Array): string | Uint8Array {
  return isUtf8(bytes) ? decoder.decode(bytes) : bytes
}

/** A Lua float as JSON-safe data: NaN and infinities become the strings core's `LuaValue` documents. */
export function floatValue(x: number): LuaValue {
  if (Number.isNaN(x)) return 'nan'
  if (x === Number.POSITIVE_INFINITY) return 'inf'
  if (x === Number.NEGATIVE_INFINITY) return '-inf'
  return x
}

/** A Lua integer as JSON-safe data: beyond ±2^53 it becomes a decimal string so no digit is lost. */
export function integerValue(x: bigint): LuaValue {
  return x > 9007199254740992n || x < -9007199254740992n ? x.toString() : Number(x)
}

/**
 * Serializes what a host function returned. Going through JSON gives every
 * isolation mode the same rules (Dates become strings, functions vanish,
 * `undefined` becomes nil); bigints become numbers or decimal strings.
 */
export function hostResultJson(value: unknown): string {
  const text = JSON.stringify(value === undefined ? null : value, (_key, v: unknown) =>
    typeof v === 'bigint' ? integerValue(v) : v,
  )
  return text === undefined ? 'null' : text
}

/** A short description of an error thrown by a host function, for the Lua error message. */
export function describeThrown(error: unknown): string {
  if (error instanceof Error) return error.message || error.name
  if (typeof error === 'string') return error
  try {
    return JSON.stringify(error) ?? String(error)
  } catch {
    return String(error)
  }
}
