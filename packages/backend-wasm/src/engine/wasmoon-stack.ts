import type { LuaValue } from '@bioxen-luavm/core'
import {
  type ArgBudget,
  ConversionError,
  floatValue,
  integerValue,
  MAX_DEPTH,
  stringValue,
  tableValue,
} from './values.js'

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

/**
 * The WebAssembly exports of glue.wasm we call, by their export names, plus
 * the heap views Emscripten keeps current as memory grows. No ccall, no
 * string marshalling, no per-call assertion wrapper.
 */
export interface Raw {
  readonly HEAPU8: Uint8Array
  readonly HEAPU32: Uint32Array
  malloc(size: number): number
  free(ptr: number): void
  realloc(ptr: number, size: number): number
  lua_newstate(alloc: number, ud: number): number
  luaL_openlibs(L: number): void
  luaL_loadbufferx(L: number, buf: number, size: number, name: number, mode: number): number
  luaL_ref(L: number, t: number): number
  luaL_where(L: number, level: number): void
  lua_pcallk(L: number, nargs: number, nresults: number, errfunc: number, ctx: number, k: number): number
  lua_gettop(L: number): number
  lua_settop(L: number, idx: number): void
  lua_absindex(L: number, idx: number): number
  lua_checkstack(L: number, n: number): number
  lua_type(L: number, idx: number): number
  lua_toboolean(L: number, idx: number): number
  lua_isinteger(L: number, idx: number): number
  lua_tointegerx(L: number, idx: number, isnum: number): bigint
  lua_tonumberx(L: number, idx: number, isnum: number): number
  lua_tolstring(L: number, idx: number, len: number): number
  lua_topointer(L: number, idx: number): number
  lua_next(L: number, idx: number): number
  lua_pushnil(L: number): void
  lua_pushboolean(L: number, b: number): void
  lua_pushinteger(L: number, n: bigint): void
  lua_pushnumber(L: number, n: number): void
  lua_pushlstring(L: number, s: number, len: number): number
  lua_pushcclosure(L: number, fn: number, n: number): void
  lua_createtable(L: number, narr: number, nrec: number): void
  lua_rawset(L: number, idx: number): void
  lua_rawseti(L: number, idx: number, n: bigint): void
  lua_rawgeti(L: number, idx: number, n: bigint): number
  lua_rotate(L: number, idx: number, n: number): void
  lua_pushvalue(L: number, idx: number): void
  lua_concat(L: number, n: number): void
  lua_error(L: number): number
}

/** Emscripten's module object, for the heap views it replaces whenever memory grows. */
interface HeapViews {
  HEAPU8: Uint8Array
  HEAPU32: Uint32Array
}

/** The raw API of one instance: its exports, with the heap views read live from Emscripten's module. */
export function rawApi(views: HeapViews, exports: WebAssembly.Exports): Raw {
  const api = { ...exports }
  Object.defineProperties(api, {
    HEAPU8: { get: () => views.HEAPU8 },
    HEAPU32: { get: () => views.HEAPU32 },
  })
  return api as unknown as Raw
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
/** Strings up to this many UTF-16 units are encoded without an intermediate copy. */
const SHORT_STRING = 16384
/** Strings up to this many units are tried as plain ASCII first (a loop beats the encoder's call overhead). */
const ASCII_COPY = 256

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
    this.#lenPtr = raw.malloc(4)
  }

  /** A Lua value as JSON-safe data, read raw (no metamethod runs); throws ConversionError. */
  readValue(L: number, index: number, depth: number, budget: ArgBudget): LuaValue {
    const raw = this.#raw
    budget.value()
    switch (raw.lua_type(L, index)) {
      case T_NIL:
        return null
      case T_BOOLEAN:
        return raw.lua_toboolean(L, index) !== 0
      case T_NUMBER:
        return raw.lua_isinteger(L, index)
          ? integerValue(raw.lua_tointegerx(L, index, 0))
          : floatValue(raw.lua_tonumberx(L, index, 0))
      case T_STRING:
        budget.string(this.#view(L, index)?.length ?? 0)
        return stringValue(this.readBytes(L, index) ?? new Uint8Array(0))
      case T_TABLE: {
        if (depth > MAX_DEPTH) throw new ConversionError(`nests tables deeper than ${MAX_DEPTH} levels`)
        const at = raw.lua_absindex(L, index)
        const id = raw.lua_topointer(L, at)
        const seen = budget.seen
        if (seen.has(id)) throw new ConversionError('contains a cycle')
        if (!raw.lua_checkstack(L, 3)) throw new ConversionError('nests too deeply for the Lua stack')
        seen.add(id)
        const entries: Array<[LuaValue, LuaValue]> = []
        raw.lua_pushnil(L)
        while (raw.lua_next(L, at) !== 0) {
          entries.push([this.readValue(L, -2, depth + 1, budget), this.readValue(L, -1, depth + 1, budget)])
          raw.lua_settop(L, -2)
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
    if (depth > MAX_DEPTH + 1 || !raw.lua_checkstack(L, 3)) throw new Error('host result nests too deeply')
    if (value === null || value === undefined) raw.lua_pushnil(L)
    else if (typeof value === 'boolean') raw.lua_pushboolean(L, value ? 1 : 0)
    else if (typeof value === 'number') {
      if (Number.isSafeInteger(value)) raw.lua_pushinteger(L, BigInt(value))
      else raw.lua_pushnumber(L, value)
    } else if (typeof value === 'string') this.pushString(L, value)
    else if (Array.isArray(value)) {
      raw.lua_createtable(L, value.length, 0)
      value.forEach((item, i) => {
        this.pushJson(L, item, depth + 1)
        raw.lua_rawseti(L, -2, BigInt(i + 1))
      })
    } else {
      const entries = Object.entries(value as Record<string, unknown>)
      raw.lua_createtable(L, 0, entries.length)
      for (const [k, v] of entries) {
        this.pushString(L, k)
        this.pushJson(L, v, depth + 1)
        raw.lua_rawset(L, -3)
      }
    }
  }

  /** Where the scratch buffer is, for a memory snapshot (the buffer is part of it). */
  get scratchState(): readonly [number, number] {
    return [this.#scratch, this.#scratchSize]
  }

  /** Puts back the scratch buffer a restored snapshot holds (a later one was freed with the rest). */
  set scratchState([at, size]: readonly [number, number]) {
    this.#scratch = at
    this.#scratchSize = size
  }

  /** A reusable buffer in wasm memory (the caller copies out of it at once). */
  scratchFor(size: number): number {
    if (size > this.#scratchSize) {
      if (this.#scratch) this.#raw.free(this.#scratch)
      this.#scratchSize = Math.max(size, 4096)
      this.#scratch = this.#raw.malloc(this.#scratchSize)
      if (!this.#scratch) {
        this.#scratchSize = 0
        throw new Error('not enough memory')
      }
    }
    return this.#scratch
  }

  /** Pushes a JS string as Lua bytes (UTF-8, embedded zeros kept). */
  pushString(L: number, text: string): void {
    // Every execution pushes its code and chunk name, usually a few ASCII
    // characters: those are copied by hand, with no encoder call and no view.
    const n = text.length
    if (n <= ASCII_COPY) {
      const p = this.scratchFor(n + 1)
      const heap = this.#raw.HEAPU8
      let i = 0
      for (; i < n; i++) {
        const c = text.charCodeAt(i)
        if (c >= 0x80) break
        heap[p + i] = c
      }
      if (i === n) {
        this.#raw.lua_pushlstring(L, p, n)
        return
      }
    }
    // Short strings are encoded straight into wasm memory (at most 3 bytes
    // per UTF-16 unit); long ones are measured first so the buffer stays
    // their size, not three times it.
    if (n <= SHORT_STRING) {
      const room = n * 3
      const p = this.scratchFor(room + 1)
      const { written } = encoder.encodeInto(text, this.#raw.HEAPU8.subarray(p, p + room))
      this.#raw.lua_pushlstring(L, p, written)
      return
    }
    this.pushBytes(L, encoder.encode(text))
  }

  /** Pushes bytes as a Lua string, exactly (lua_pushlstring with their length). */
  pushBytes(L: number, bytes: Uint8Array): void {
    const p = this.scratchFor(bytes.length + 1)
    this.#raw.HEAPU8.set(bytes, p)
    this.#raw.lua_pushlstring(L, p, bytes.length)
  }

  /** The exact bytes of a Lua string (a copy), or undefined for other types. */
  readBytes(L: number, index: number): Uint8Array | undefined {
    const view = this.#view(L, index)
    return view?.slice()
  }

  /** A Lua string decoded as UTF-8, or undefined for other types. */
  readString(L: number, index: number): string | undefined {
    const view = this.#view(L, index)
    return view && decoder.decode(view)
  }

  /** The bytes of a Lua string in wasm memory: valid only until the next call into Lua. */
  #view(L: number, index: number): Uint8Array | undefined {
    const raw = this.#raw
    if (raw.lua_type(L, index) !== T_STRING) return undefined
    const p = raw.lua_tolstring(L, index, this.#lenPtr)
    const len = raw.HEAPU32[this.#lenPtr >> 2] as number
    return raw.HEAPU8.subarray(p, p + len)
  }
}
