import type { LuaValue } from '@bioxen-luavm/core'
import * as wasmoonNs from 'wasmoon'
import type { LuaGlobal as LuaGlobalType, LuaWasm } from 'wasmoon'
import { instantiateLuaWasm, type WasmoonNamespace } from '../module-cache.js'
import { BOOTSTRAP_LUA, RUNTIME_CHUNKNAME, syntheticResult, WASMOON_PRELUDE } from './lua-sources.js'
import {
  EngineCrashedError,
  type EngineExecRequest,
  type EngineHooks,
  type EngineOptions,
  type EngineStats,
  type LuaEngine,
} from './types.js'
import { ConversionError, floatValue, integerValue, MAX_DEPTH, tableValue } from './values.js'

// wasmoon 1.16 ships CJS; depending on the loader its exports sit on the
// namespace or on its default export.
const wasmoon = ((wasmoonNs as { LuaWasm?: unknown }).LuaWasm
  ? wasmoonNs
  : (wasmoonNs as unknown as { default: typeof wasmoonNs }).default) as typeof wasmoonNs

const REGISTRY = -1001000
const UPVALUE_1 = REGISTRY - 1
const T_NIL = 0
const T_BOOLEAN = 1
const T_NUMBER = 3
const T_STRING = 4
const T_TABLE = 5
const LUA_OK = 0
const LUA_ERRMEM = 4

/** Raw Emscripten exports of glue.wasm we call directly (no ccall, no string marshalling). */
interface Raw {
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
  _lua_concat(L: number, n: number): void
  _lua_error(L: number): number
  _luaL_openlibs(L: number): void
}

/** What a wasmoon engine needs besides its options: a compiled glue.wasm and where Emscripten may "find" it. */
export interface WasmoonSetup {
  module: WebAssembly.Module
  locateFile: string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * Lua 5.4 in its own wasmoon instance, driven through the raw C API.
 *
 * wasmoon's own helpers are avoided on purpose: `doString` leaks one stack
 * slot per call (ceifa/wasmoon#109, a crash after ~60 calls on 1.16.0),
 * its error path calls `__tostring` unprotected (abort), and its value
 * conversion runs metamethods. Here every call is a `lua_pcall` on the
 * main state, the stack is reset to its base in `finally`, and the only
 * thing read back is the one string the runtime returns.
 */
export async function createWasmoonEngine(
  options: EngineOptions,
  hooks: EngineHooks,
  setup: WasmoonSetup,
): Promise<LuaEngine> {
  const lua = await instantiateLuaWasm(wasmoon as unknown as WasmoonNamespace, setup.module, {
    locateFile: setup.locateFile,
  })
  return new WasmoonEngine(lua, options, hooks)
}

class WasmoonEngine implements LuaEngine {
  readonly kind = 'wasmoon' as const
  readonly luaVersion: string
  readonly #raw: Raw
  readonly #global: LuaGlobalType
  readonly #L: number
  readonly #hooks: EngineHooks
  readonly #lenPtr: number
  readonly #defaultMemoryMax: number | undefined
  #scratch = 0
  #scratchSize = 0
  #run = 0
  #mount = 0
  #reset = 0
  #info = 0
  #dead: string | undefined

  constructor(lua: LuaWasm, options: EngineOptions, hooks: EngineHooks) {
    this.#raw = lua.module as unknown as Raw
    this.#hooks = hooks
    // Allocation tracing is what makes setMemoryMax work: wasmoon then
    // installs a lua_Alloc that refuses growth past the cap.
    this.#global = new wasmoon.LuaGlobal(lua, true)
    this.#L = this.#global.address
    this.#lenPtr = this.#raw._malloc(4)
    this.#unlinkDevices(lua)
    const raw = this.#raw
    const L = this.#L
    raw._luaL_openlibs(L)
    this.#runChunk(WASMOON_PRELUDE, '=luavm-prelude', 0, 0)

    // Runtime, then the bootstrap that builds the VM from it.
    this.#load(options.runtimeSource, RUNTIME_CHUNKNAME)
    this.#call(0, 1, 'runtime')
    this.#load(BOOTSTRAP_LUA, '=luavm-bootstrap')
    // The bootstrap takes M first, but M was pushed before it.
    raw._lua_rotate(L, -2, 1)
    raw._lua_pushcclosure(L, this.#emitFn(), 0)
    raw._lua_pushcclosure(L, this.#clockFn(), 0)
    this.#pushHostTable(options.hostFunctions)
    raw._lua_pushboolean(L, options.sandbox ? 1 : 0)
    this.#pushString(options.grants.join(','))
    this.#call(6, 4, 'bootstrap')
    this.#info = raw._luaL_ref(L, REGISTRY)
    this.#reset = raw._luaL_ref(L, REGISTRY)
    this.#mount = raw._luaL_ref(L, REGISTRY)
    this.#run = raw._luaL_ref(L, REGISTRY)
    raw._lua_settop(L, 0)

    const info = JSON.parse(this.#callString(this.#info, []) ?? '{}') as { lua?: string }
    this.luaVersion = info.lua ?? 'Lua 5.4'
    for (const [name, source] of Object.entries(options.modules)) {
      const problem = this.mount(name, source)
      if (problem !== undefined) throw new Error(`module '${name}' does not compile: ${problem}`)
    }
    this.#defaultMemoryMax = options.memoryLimitBytes
    this.#global.setMemoryMax(options.memoryLimitBytes)
  }

  exec(request: EngineExecRequest): string {
    this.#assertAlive()
    const raw = this.#raw
    const L = this.#L
    const base = raw._lua_gettop(L)
    const cap = request.memoryLimitBytes ?? this.#defaultMemoryMax
    try {
      this.#global.setMemoryMax(cap)
      raw._lua_rawgeti(L, REGISTRY, BigInt(this.#run))
      this.#pushString(request.code)
      this.#pushString(request.chunkName)
      raw._lua_pushboolean(L, request.echo ? 1 : 0)
      raw._lua_pushboolean(L, request.repl ? 1 : 0)
      raw._lua_pushnumber(L, request.timeoutMs)
      raw._lua_pushnumber(L, request.maxOutputBytes)
      const status = raw._lua_pcallk(L, 6, 1, 0, 0, 0)
      if (status === LUA_OK) {
        const json = this.#readString(-1)
        return json ?? syntheticResult('error', 'luavm: the runtime returned no result')
      }
      if (status === LUA_ERRMEM) return syntheticResult('memory', 'not enough memory')
      return syntheticResult('error', `luavm runtime failure: ${this.#readString(-1) ?? 'non-string error'}`)
    } catch (error) {
      throw this.#crashed(error)
    } finally {
      if (!this.#dead) {
        raw._lua_settop(L, base)
        this.#global.setMemoryMax(this.#defaultMemoryMax)
      }
    }
  }

  mount(name: string, source: string): string | undefined {
    this.#assertAlive()
    try {
      return this.#callString(this.#mount, [name, source])
    } catch (error) {
      throw this.#crashed(error)
    }
  }

  reset(): void {
    this.#assertAlive()
    try {
      this.#callString(this.#reset, [])
    } catch (error) {
      throw this.#crashed(error)
    }
  }

  stats(): EngineStats {
    const alive = !this.#dead
    return {
      kind: this.kind,
      luaVersion: this.luaVersion,
      stackTop: alive ? this.#raw._lua_gettop(this.#L) : -1,
      ...(alive ? { memoryUsedBytes: this.#global.getMemoryUsed() } : {}),
      wasmHeapBytes: this.#raw.HEAPU8.byteLength,
    }
  }

  close(): void {
    // No lua_close: it would run finalizers (user code) with hooks off. The
    // whole instance — heap, stack, MEMFS — goes away with this object.
    this.#dead ??= 'closed'
  }

  // ---- calls into Lua ------------------------------------------------------

  /** Calls a registry function with string arguments; returns its string result (if any). */
  #callString(ref: number, args: string[]): string | undefined {
    const raw = this.#raw
    const L = this.#L
    const base = raw._lua_gettop(L)
    try {
      raw._lua_rawgeti(L, REGISTRY, BigInt(ref))
      for (const a of args) this.#pushString(a)
      const status = raw._lua_pcallk(L, args.length, 1, 0, 0, 0)
      if (status !== LUA_OK) {
        throw new Error(status === LUA_ERRMEM ? 'not enough memory' : (this.#readString(-1) ?? 'Lua error'))
      }
      return raw._lua_type(L, -1) === T_STRING ? this.#readString(-1) : undefined
    } finally {
      raw._lua_settop(L, base)
    }
  }

  #load(source: string, chunkname: string): void {
    const raw = this.#raw
    const L = this.#L
    const code = encoder.encode(source)
    const name = encoder.encode(`${chunkname}\0t\0`)
    const p = this.#scratchFor(code.length + name.length)
    raw.HEAPU8.set(code, p)
    raw.HEAPU8.set(name, p + code.length)
    const nameP = p + code.length
    const modeP = nameP + chunkname.length + 1
    const status = raw._luaL_loadbufferx(L, p, code.length, nameP, modeP)
    if (status !== LUA_OK) throw new Error(`luavm: cannot load ${chunkname}: ${this.#readString(-1)}`)
  }

  #call(nargs: number, nresults: number, what: string): void {
    const status = this.#raw._lua_pcallk(this.#L, nargs, nresults, 0, 0, 0)
    if (status !== LUA_OK) throw new Error(`luavm: ${what} failed: ${this.#readString(-1) ?? `status ${status}`}`)
  }

  #runChunk(source: string, chunkname: string, nargs: number, nresults: number): void {
    this.#load(source, chunkname)
    this.#call(nargs, nresults, chunkname)
  }

  // ---- C functions Lua calls -------------------------------------------------

  #emitFn(): number {
    return this.#raw.addFunction((L: number) => {
      try {
        const stream = this.#raw._lua_tonumberx(L, 1, 0) === 2 ? 2 : 1
        const bytes = this.#readBytes(L, 2)
        if (bytes) this.#hooks.emit(stream, bytes)
      } catch {
        // The runtime pcalls emit; a failing sink only loses that output.
      }
      return 0
    }, 'ii')
  }

  #clockFn(): number {
    return this.#raw.addFunction((L: number) => {
      let now: number
      try {
        now = this.#hooks.clock()
      } catch {
        now = Number.POSITIVE_INFINITY
      }
      this.#raw._lua_pushnumber(L, now)
      return 1
    }, 'ii')
  }

  #pushHostTable(names: string[]): void {
    const raw = this.#raw
    const L = this.#L
    if (names.length === 0) {
      raw._lua_pushnil(L)
      return
    }
    const fn = this.#hostFn()
    raw._lua_createtable(L, 0, names.length)
    for (const name of names) {
      this.#pushString(name)
      this.#pushString(name)
      raw._lua_pushcclosure(L, fn, 1)
      raw._lua_rawset(L, -3)
    }
  }

  /**
   * `host.<name>(...)`: arguments are read raw (no metamethods), the host
   * runs, and its JSON result is pushed back. Errors become Lua errors at
   * the caller's line. `lua_error` unwinds by throwing through this frame,
   * so it is the last thing done and never inside a try.
   */
  #hostFn(): number {
    return this.#raw.addFunction((L: number) => {
      const raw = this.#raw
      let message: string
      try {
        const name = this.#readString(UPVALUE_1, L) ?? '?'
        const n = raw._lua_gettop(L)
        const args: LuaValue[] = []
        let bad: string | undefined
        for (let i = 1; i <= n && bad === undefined; i++) {
          try {
            args.push(this.#readValue(L, i, 1, new Set()))
          } catch (error) {
            if (!(error instanceof ConversionError)) throw error
            bad = `host.${name}: argument ${i} ${error.message}`
          }
        }
        if (bad === undefined) {
          const outcome = this.#hooks.callHost(name, args)
          if (outcome.ok) {
            raw._lua_settop(L, 0)
            this.#pushJson(L, JSON.parse(outcome.json) as unknown, 1)
            return 1
          }
          message = `host.${name}: ${outcome.message}`
        } else {
          message = bad
        }
      } catch (error) {
        // A longjmp (Emscripten throws a number) must keep unwinding.
        if (typeof error === 'number') throw error
        message = `host function failed: ${error instanceof Error ? error.message : String(error)}`
      }
      raw._lua_settop(L, 0)
      raw._luaL_where(L, 1)
      this.#pushString(message, L)
      raw._lua_concat(L, 2)
      return raw._lua_error(L)
    }, 'ii')
  }

  // ---- values ----------------------------------------------------------------

  #readValue(L: number, index: number, depth: number, seen: Set<number>): LuaValue {
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
        return decoder.decode(this.#readBytes(L, index) ?? new Uint8Array(0))
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
          entries.push([this.#readValue(L, -2, depth + 1, seen), this.#readValue(L, -1, depth + 1, seen)])
          raw._lua_settop(L, -2)
        }
        seen.delete(id)
        return tableValue(entries)
      }
      default:
        throw new ConversionError('is a function, userdata or thread; only nil, booleans, numbers, strings and tables can be passed')
    }
  }

  #pushJson(L: number, value: unknown, depth: number): void {
    const raw = this.#raw
    if (depth > MAX_DEPTH + 1 || !raw._lua_checkstack(L, 3)) throw new Error('host result nests too deeply')
    if (value === null || value === undefined) raw._lua_pushnil(L)
    else if (typeof value === 'boolean') raw._lua_pushboolean(L, value ? 1 : 0)
    else if (typeof value === 'number') {
      if (Number.isSafeInteger(value)) raw._lua_pushinteger(L, BigInt(value))
      else raw._lua_pushnumber(L, value)
    } else if (typeof value === 'string') this.#pushString(value, L)
    else if (Array.isArray(value)) {
      raw._lua_createtable(L, value.length, 0)
      value.forEach((item, i) => {
        this.#pushJson(L, item, depth + 1)
        raw._lua_rawseti(L, -2, BigInt(i + 1))
      })
    } else {
      const entries = Object.entries(value as Record<string, unknown>)
      raw._lua_createtable(L, 0, entries.length)
      for (const [k, v] of entries) {
        this.#pushString(k, L)
        this.#pushJson(L, v, depth + 1)
        raw._lua_rawset(L, -3)
      }
    }
  }

  // ---- memory helpers --------------------------------------------------------

  /** A reusable buffer in wasm memory; pushlstring copies out of it at once. */
  #scratchFor(size: number): number {
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

  #pushString(text: string, L = this.#L): void {
    const bytes = encoder.encode(text)
    const p = this.#scratchFor(bytes.length + 1)
    this.#raw.HEAPU8.set(bytes, p)
    this.#raw._lua_pushlstring(L, p, bytes.length)
  }

  #readBytes(L: number, index: number): Uint8Array | undefined {
    const raw = this.#raw
    if (raw._lua_type(L, index) !== T_STRING) return undefined
    const p = raw._lua_tolstring(L, index, this.#lenPtr)
    const len = raw.HEAPU32[this.#lenPtr >> 2] as number
    return raw.HEAPU8.slice(p, p + len)
  }

  #readString(index: number, L = this.#L): string | undefined {
    const bytes = this.#readBytes(L, index)
    return bytes && decoder.decode(bytes)
  }

  /** Emscripten's /dev nodes reach the host's stdin and console; this VM's FS does without them. */
  #unlinkDevices(lua: LuaWasm): void {
    const fs = (lua.module as unknown as { FS?: { unlink(path: string): void } }).FS
    for (const path of ['/dev/stdin', '/dev/stdout', '/dev/stderr', '/dev/tty', '/dev/tty1']) {
      try {
        fs?.unlink(path)
      } catch {
        // Not there in this build: nothing to remove.
      }
    }
  }

  #assertAlive(): void {
    if (this.#dead) throw new EngineCrashedError(`the wasm engine is unusable: ${this.#dead}`)
  }

  #crashed(error: unknown): EngineCrashedError {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : `uncaught ${String(error)}`
    this.#dead = message
    return new EngineCrashedError(`the wasm engine crashed (${message}); its state is lost`)
  }
}
