import type { LuaValue } from '@bioxen-luavm/core'
import { ConversionError, floatValue, integerValue, MAX_DEPTH, tableValue } from './values.js'

/** `LUA_REGISTRYINDEX` of this build (LUAI_MAXSTACK = 1e6). */
export const REGISTRY = -1001000
/** `lua_upvalueindex(1)`. */
export const UPVALUE_1 = REGISTRY - 1
const T_NIL = 0
const T_BOOLEAN = 1
const T_NUMBER = 3
/** `LUA_TSTRING`. */
export const T_STRING = 4
const T_TABLE = 5
/** `LUA_OK`. */
export const LUA_OK = 0
/** `LUA_ERRMEM`. */
export const LUA_ERRMEM = 4

/** Raw Emscripten exports of glue.wasm we call directly (no ccall, no string marshalling). */
export interface Raw {
  HEAPU8: Uint8Array
  HEAPU32: Uint32Array
  _malloc(size: number): number
  _free(ptr: number): void
  addFunction(fn: (...args: number[]) => number, signature: string): number
  _luaL_loadbufferx(L: number, buf: number, size: number, name: number, mode: number): number
  _luaL_ref(L: number, t: number): number
  _luaL_where(L: number, level: number): void
  _lua_pcallk(L: number, nargs: number, nresults: number, errfunc: number, ctx: number, k: number): number
  _lua_gettop(L: number): number
  _lua_settop(L: number, idx: number): void
  _lua_absindex(L: number, idx: number): number
  _lua_checkstack(L: number, n: number): number
  _lua_type(L: number, idx: number): number
  _lua_toboolean(L: number, idx: number): number
  _lua_isinteger(L: number, idx: number): number
  _lua_tointegerx(L: number, idx: number, isnum: number): bigint
  _lua_tonumberx(L: number, idx: number, isnum: number): number
  _lua_tolstring(L: number, idx: number, len: number): number
  _lua_topointer(L: number, idx: number): number
  _lua_next(L: number, idx: number): number
  _lua_pushnil(L: number): void
  _lua_pushboolean(L: number, b: number): void
  _lua_pushinteger(L: number, n: bigint): void
  _lua_pushnumber(L: number, n: number): void
  _lua_pushlstring(L: number, s: number, len: number): number
  _lua_pushcclosure(L: number, fn: number, n: number): void
  _lua_createtable(L: number, narr: number, nrec: number): void
  _lua_rawset(L: number, idx: number): void
  _lua_rawseti(L: number, idx: number, n: bigint): void
  _lua_rawgeti(L: number, idx: number, n: bigint): number
  _lua_rotate(L: number, idx: number, n: number): void
  _lua_pushvalue(L: number, idx: number): void
  _lua_concat(L: number, n: number): void
  _lua_error(L: number): number
  _luaL_openlibs(L: number): void
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * Moves values across the wasm boundary: strings through one reusable
 * buffer in wasm memory, exact bytes out, and JSON-safe data both ways for
 * host functions. Everything goes through raw exports — no ccall, and no
 * metamethod ever runs on the way.
 */
export class WasmoonStack {
  readonly #raw: Raw
  readonly #lenPtr: number
  #scratch = 0
  #scratchSize = 0

  constructor(raw: Raw) {
    this.#raw = raw
    this.#lenPtr = raw._malloc(4)
  }

  /** A Lua value as JSON-safe data, read raw (no metamethod runs); throws ConversionError. */
  readValue(L: number, index: number, depth: number, seen: Set<number>): LuaValue {
    const raw = this.#raw
    switch (raw._lua_type(L, index)) {
      case T_NIL:
        return null
      case T_BOOLEAN:
        return raw._lua_toboolean(L, index) !== 0
      case T_NUMBER:
        return raw._lua_isinteger(L, index)
          ? integerValue(raw._lua_tointegerx(L, index, 0))
          : floatValue(raw._lua_tonumberx(L, index, 0))
      case T_STRING:
        return decoder.decode(this.readBytes(L, index) ?? new Uint8Array(0))
      case T_TABLE: {
        if (depth > MAX_DEPTH) throw new ConversionError(`nests tables deeper than ${MAX_DEPTH} levels`)
        const at = raw._lua_absindex(L, index)
        const id = raw._lua_topointer(L, at)
        if (seen.has(id)) throw new ConversionError('contains a cycle')
        if (!raw._lua_checkstack(L, 3)) throw new ConversionError('nests too deeply for the Lua stack')
        seen.add(id)
        const entries: Array<[LuaValue, LuaValue]> = []
        raw._lua_pushnil(L)
        while (raw._lua_next(L, at) !== 0) {
          entries.push([this.readValue(L, -2, depth + 1, seen), this.readValue(L, -1, depth + 1, seen)])
          raw._lua_settop(L, -2)
        }
        seen.delete(id)
        return tableValue(entries)
      }
      default:
        throw new ConversionError(
          'is a function, userdata or thread; only nil, booleans, numbers, strings and tables can be passed',
        )
    }
  }

  /** Pushes JSON-safe data as a Lua value. */
  pushJson(L: number, value: unknown, depth: number): void {
    const raw = this.#raw
    if (depth > MAX_DEPTH + 1 || !raw._lua_checkstack(L, 3)) throw new Error('host result nests too deeply')
    if (value === null || value === undefined) raw._lua_pushnil(L)
    else if (typeof value === 'boolean') raw._lua_pushboolean(L, value ? 1 : 0)
    else if (typeof value === 'number') {
      if (Number.isSafeInteger(value)) raw._lua_pushinteger(L, BigInt(value))
      else raw._lua_pushnumber(L, value)
    } else if (typeof value === 'string') this.pushString(L, value)
    else if (Array.isArray(value)) {
      raw._lua_createtable(L, value.length, 0)
      value.forEach((item, i) => {
        this.pushJson(L, item, depth + 1)
        raw._lua_rawseti(L, -2, BigInt(i + 1))
      })
    } else {
      const entries = Object.entries(value as Record<string, unknown>)
      raw._lua_createtable(L, 0, entries.length)
      for (const [k, v] of entries) {
        this.pushString(L, k)
        this.pushJson(L, v, depth + 1)
        raw._lua_rawset(L, -3)
      }
    }
  }

  /** A reusable buffer in wasm memory (the caller copies out of it at once). */
  scratchFor(size: number): number {
    if (size > this.#scratchSize) {
      if (this.#scratch) this.#raw._free(this.#scratch)
      this.#scratchSize = Math.max(size, 4096)
      this.#scratch = this.#raw._malloc(this.#scratchSize)
      if (!this.#scratch) {
        this.#scratchSize = 0
        throw new Error('not enough memory')
      }
    }
    return this.#scratch
  }

  /** Pushes a JS string as Lua bytes (UTF-8, embedded zeros kept). */
  pushString(L: number, text: string): void {
    const bytes = encoder.encode(text)
    const p = this.scratchFor(bytes.length + 1)
    this.#raw.HEAPU8.set(bytes, p)
    this.#raw._lua_pushlstring(L, p, bytes.length)
  }

  /** The exact bytes of a Lua string (a copy), or undefined for other types. */
  readBytes(L: number, index: number): Uint8Array | undefined {
    const raw = this.#raw
    if (raw._lua_type(L, index) !== T_STRING) return undefined
    const p = raw._lua_tolstring(L, index, this.#lenPtr)
    const len = raw.HEAPU32[this.#lenPtr >> 2] as number
    return raw.HEAPU8.slice(p, p + len)
  }

  /** A Lua string decoded as UTF-8, or undefined for other types. */
  readString(L: number, index: number): string | undefined {
    const bytes = this.readBytes(L, index)
    return bytes && decoder.decode(bytes)
  }
}
