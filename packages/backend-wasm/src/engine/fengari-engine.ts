import { DEFAULT_EXEC_LIMITS, type LuaValue } from '@bioxen-luavm/core'
import * as fengariNs from 'fengari'
import { BOOTSTRAP_LUA, FENGARI_PRELUDE, RUNTIME_CHUNKNAME, syntheticResult } from './lua-sources.js'
import {
  EngineCrashedError,
  type EngineExecRequest,
  type EngineHooks,
  type EngineOptions,
  type EngineStats,
  isMemoryFailure,
  type LuaEngine,
  runtimeTimeoutMs,
} from './types.js'
import { ArgBudget, ConversionError, floatValue, integerValue, MAX_DEPTH, stringValue, tableValue } from './values.js'

// fengari is CJS; depending on the loader its exports sit on the namespace or on `default`.
const fengari = (
  (fengariNs as { lua?: unknown }).lua ? fengariNs : (fengariNs as unknown as { default: typeof fengariNs }).default
) as typeof fengariNs
const { lua, lauxlib, lualib, to_luastring } = fengari

const LUA_OK = 0
const LUA_ERRMEM = 4
const INT32_MIN = -2147483648
const INT32_MAX = 2147483647
/** Largest string.rep result when the VM sets no memory limit (fengari cannot cap its heap otherwise). */
const DEFAULT_REP_LIMIT = 256 * 1024 * 1024

type State = fengariNs.LuaState

const decoder = new TextDecoder()
const encoder = new TextEncoder()
/** The host's own chunks (prelude, runtime, bootstrap) as compiled by the first engine of this thread, by source. */
const trustedBytecode = new Map<string, Uint8Array>()

/**
 * Lua 5.3 in pure JavaScript (fengari), driven through its C-like API with
 * the same runtime and the same rules as the wasm engine: every call is a
 * `lua_pcall`, the stack goes back to its base, and only the runtime's JSON
 * string is read back.
 *
 * fengari has no allocator hook, so there is no heap cap; integers are 32
 * bits. fengari-interop (which exposes the JS global object to Lua) is
 * never loaded.
 */
export function createFengariEngine(options: EngineOptions, hooks: EngineHooks): LuaEngine {
  return new FengariEngine(options, hooks)
}

class FengariEngine implements LuaEngine {
  readonly kind = 'fengari' as const
  readonly luaVersion: string
  #L: State
  readonly #hooks: EngineHooks
  readonly #options: EngineOptions
  #refs: { run: number; mount: number; info: number }
  #dead: string | undefined
  /** The running execution's maxOutputBytes: what one host call's arguments may hold in strings. */
  #argBytes = DEFAULT_EXEC_LIMITS.maxOutputBytes

  constructor(options: EngineOptions, hooks: EngineHooks) {
    this.#hooks = hooks
    this.#options = { ...options, modules: { ...options.modules } }
    const { L, refs } = this.#boot()
    this.#L = L
    this.#refs = refs
    const parsed = JSON.parse(this.#callString(refs.info, []) ?? '{}') as { lua?: string }
    this.luaVersion = parsed.lua ?? 'Lua 5.3'
    this.#mountAll()
  }

  /** A new Lua state with the prelude, runtime and bootstrap loaded. */
  #boot(): { L: State; refs: { run: number; mount: number; info: number } } {
    const options = this.#options
    const L = lauxlib.luaL_newstate()
    if (!L) throw new Error('fengari could not create a Lua state')
    this.#L = L
    // JS exceptions inside the interpreter (a RangeError from a huge
    // allocation, say) become ordinary Lua errors instead of status -1.
    lua.lua_atnativeerror(L, (S: State) => {
      lua.lua_pushstring(S, to_luastring(nativeErrorMessage(lua.lua_touserdata(S, 1))))
      return 1
    })
    lualib.luaL_openlibs(L)
    // Loaded under the runtime's chunk name: the runtime's hook never raises
    // inside frames of that source, so its pcall wrappers count as runtime.
    this.#loadTrusted(FENGARI_PRELUDE, RUNTIME_CHUNKNAME)
    lua.lua_pushjsfunction(L, restoreHooks)
    lua.lua_pushnumber(L, options.memoryLimitBytes ?? DEFAULT_REP_LIMIT)
    this.#call(2, 0, 'prelude')

    this.#loadTrusted(options.runtimeSource, RUNTIME_CHUNKNAME)
    this.#call(0, 1, 'runtime')
    this.#loadTrusted(BOOTSTRAP_LUA, '=luavm-bootstrap')
    lua.lua_rotate(L, -2, 1)
    lua.lua_pushjsfunction(L, (S: State) => this.#emit(S))
    lua.lua_pushjsfunction(L, (S: State) => this.#clock(S))
    this.#pushHostTable(options.hostFunctions)
    lua.lua_pushboolean(L, options.sandbox)
    lua.lua_pushstring(L, to_luastring(options.grants.join(',')))
    this.#call(6, 4, 'bootstrap')
    const info = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX)
    // The runtime's reset: unused, reset() builds a new state instead.
    lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX)
    const mount = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX)
    const run = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX)
    lua.lua_settop(L, 0)
    return { L, refs: { run, mount, info } }
  }

  #mountAll(): void {
    for (const [name, source] of Object.entries(this.#options.modules)) {
      const problem = this.#callString(this.#refs.mount, [name, source])
      if (problem !== undefined) throw new Error(`module '${name}' does not compile: ${problem}`)
    }
  }

  exec(request: EngineExecRequest): string {
    this.#assertAlive()
    const L = this.#L
    const base = lua.lua_gettop(L)
    this.#argBytes = request.maxOutputBytes
    try {
      lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, this.#refs.run)
      pushBytes(L, typeof request.code === 'string' ? encoder.encode(request.code) : request.code)
      pushBytes(L, encoder.encode(request.chunkName))
      lua.lua_pushboolean(L, request.echo)
      lua.lua_pushboolean(L, request.repl)
      lua.lua_pushnumber(L, runtimeTimeoutMs(request))
      lua.lua_pushnumber(L, request.maxOutputBytes)
      const status = lua.lua_pcall(L, 6, 1, 0)
      if (status === LUA_OK) {
        return readString(L, -1) ?? syntheticResult('error', 'luavm: the runtime returned no result')
      }
      if (status === LUA_ERRMEM) return syntheticResult('memory', 'not enough memory')
      if (status < 0) throw new Error('a JavaScript error escaped the interpreter')
      const message = readString(L, -1) ?? 'non-string error'
      return syntheticResult(message === 'not enough memory' ? 'memory' : 'error', `luavm runtime failure: ${message}`)
    } catch (error) {
      throw this.#crashed(error)
    } finally {
      if (!this.#dead) lua.lua_settop(L, base)
    }
  }

  mount(name: string, source: string): string | undefined {
    this.#assertAlive()
    const problem = this.#callString(this.#refs.mount, [name, source])
    // Remembered for the state reset() builds.
    if (problem === undefined) this.#options.modules[name] = source
    return problem
  }

  /**
   * A new Lua state replaces the old one (which the JS GC frees): nothing
   * user code did can survive, by construction. The prelude, runtime and
   * bootstrap load from this thread's cached bytecode; mounted modules are
   * mounted again.
   */
  reset(): void {
    this.#assertAlive()
    try {
      const { L, refs } = this.#boot()
      this.#L = L
      this.#refs = refs
      this.#mountAll()
    } catch (error) {
      throw this.#crashed(error)
    }
  }

  stats(): EngineStats {
    return {
      kind: this.kind,
      luaVersion: this.luaVersion,
      stackTop: this.#dead ? -1 : lua.lua_gettop(this.#L),
    }
  }

  close(): void {
    // No lua_close: it would run finalizers with hooks off. The JS GC frees the state.
    this.#dead ??= 'closed'
  }

  #callString(ref: number, args: string[]): string | undefined {
    const L = this.#L
    const base = lua.lua_gettop(L)
    try {
      lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, ref)
      for (const a of args) pushBytes(L, encoder.encode(a))
      const status = lua.lua_pcall(L, args.length, 1, 0)
      if (status !== LUA_OK) throw new Error(readString(L, -1) ?? `Lua error (status ${status})`)
      return lua.lua_type(L, -1) === lua.LUA_TSTRING ? readString(L, -1) : undefined
    } finally {
      lua.lua_settop(L, base)
    }
  }

  /**
   * Loads one of the host's own chunks, from the bytecode the first engine
   * of this thread dumped (see the wasm engine's #loadTrusted: debug info
   * kept, mode "b" only here, never for user code).
   */
  #loadTrusted(source: string, chunkname: string): void {
    const cached = trustedBytecode.get(source)
    if (cached) {
      this.#load(cached, chunkname, 'b')
      return
    }
    this.#load(source, chunkname)
    const L = this.#L
    this.#load('return string.dump((...))', '=luavm-dump')
    lua.lua_pushvalue(L, -2)
    if (lua.lua_pcall(L, 1, 1, 0) === LUA_OK && lua.lua_type(L, -1) === lua.LUA_TSTRING) {
      trustedBytecode.set(source, lua.lua_tolstring(L, -1).slice())
    }
    lua.lua_settop(L, -2)
  }

  #load(source: string | Uint8Array, chunkname: string, mode: 't' | 'b' = 't'): void {
    const code = typeof source === 'string' ? encoder.encode(source) : source
    const status = lauxlib.luaL_loadbufferx(this.#L, code, code.length, to_luastring(chunkname), to_luastring(mode))
    if (status !== LUA_OK) throw new Error(`luavm: cannot load ${chunkname}: ${readString(this.#L, -1)}`)
  }

  #call(nargs: number, nresults: number, what: string): void {
    const status = lua.lua_pcall(this.#L, nargs, nresults, 0)
    if (status !== LUA_OK) throw new Error(`luavm: ${what} failed: ${readString(this.#L, -1) ?? `status ${status}`}`)
  }

  #emit(L: State): number {
    try {
      const stream = lua.lua_tonumberx(L, 1) === 2 ? 2 : 1
      if (lua.lua_type(L, 2) === lua.LUA_TSTRING) this.#hooks.emit(stream, lua.lua_tolstring(L, 2).slice())
    } catch {
      // The runtime pcalls emit; a failing sink only loses that output.
    }
    return 0
  }

  #clock(L: State): number {
    let now: number
    try {
      now = this.#hooks.clock()
    } catch {
      now = Number.POSITIVE_INFINITY
    }
    lua.lua_pushnumber(L, now)
    return 1
  }

  #pushHostTable(names: string[]): void {
    const L = this.#L
    if (names.length === 0) {
      lua.lua_pushnil(L)
      return
    }
    lua.lua_createtable(L, 0, names.length)
    for (const name of names) {
      lua.lua_pushstring(L, to_luastring(name))
      lua.lua_pushjsfunction(L, (S: State) => this.#host(S, name))
      lua.lua_rawset(L, -3)
    }
  }

  /** `host.<name>(...)`: see the wasm engine; `lua_error` throws, so it comes last. */
  #host(L: State, name: string): number {
    let message: string
    try {
      const n = lua.lua_gettop(L)
      const args: LuaValue[] = []
      const budget = new ArgBudget(this.#argBytes)
      let bad: string | undefined
      for (let i = 1; i <= n && bad === undefined; i++) {
        try {
          args.push(readValue(L, i, 1, budget))
        } catch (error) {
          if (!(error instanceof ConversionError)) throw error
          bad = `host.${name}: argument ${i} ${error.message}`
        }
      }
      if (bad === undefined) {
        const outcome = this.#hooks.callHost(name, args)
        if (outcome.ok) {
          lua.lua_settop(L, 0)
          pushJson(L, JSON.parse(outcome.json) as unknown, 1)
          return 1
        }
        message = `host.${name}: ${outcome.message}`
      } else {
        message = bad
      }
    } catch (error) {
      message = `host function failed: ${error instanceof Error ? error.message : String(error)}`
    }
    lua.lua_settop(L, 0)
    lauxlib.luaL_where(L, 1)
    lua.lua_pushstring(L, to_luastring(message))
    lua.lua_concat(L, 2)
    return lua.lua_error(L)
  }

  #assertAlive(): void {
    if (this.#dead) throw new EngineCrashedError(`the fengari engine is unusable: ${this.#dead}`)
  }

  #crashed(error: unknown): EngineCrashedError {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    this.#dead = message
    return new EngineCrashedError(`the fengari engine crashed (${message}); its state is lost`, isMemoryFailure(error))
  }
}

// Lua's allowhook is 0 only while a hook runs (CIST_HOOKED on a frame).
const CIST_HOOKED = 1 << 2

/** Puts hooks back on for the calling thread unless it is inside a hook (see FENGARI_PRELUDE). */
function restoreHooks(L: State): number {
  const state = L as unknown as { allowhook: number; ci: { callstatus: number; previous: unknown } | null }
  for (let ci = state.ci; ci; ci = ci.previous as typeof ci) {
    if (ci.callstatus & CIST_HOOKED) return 0
  }
  state.allowhook = 1
  return 0
}

function nativeErrorMessage(error: unknown): string {
  if (error instanceof RangeError) {
    if (/call stack/i.test(error.message)) return 'stack overflow'
    return 'not enough memory'
  }
  return `JavaScript error: ${error instanceof Error ? error.message : String(error)}`
}

function pushBytes(L: State, bytes: Uint8Array): void {
  lua.lua_pushlstring(L, bytes, bytes.length)
}

function readString(L: State, index: number): string | undefined {
  if (lua.lua_type(L, index) !== lua.LUA_TSTRING) return undefined
  return decoder.decode(lua.lua_tolstring(L, index))
}

function readValue(L: State, index: number, depth: number, budget: ArgBudget): LuaValue {
  budget.value()
  switch (lua.lua_type(L, index)) {
    case lua.LUA_TNIL:
      return null
    case lua.LUA_TBOOLEAN:
      return lua.lua_toboolean(L, index)
    case lua.LUA_TNUMBER:
      return lua.lua_isinteger(L, index)
        ? integerValue(BigInt(lua.lua_tointegerx(L, index) as number))
        : floatValue(lua.lua_tonumberx(L, index) as number)
    case lua.LUA_TSTRING:
      budget.string(lua.lua_rawlen(L, index))
      return stringValue(lua.lua_tolstring(L, index).slice())
    case lua.LUA_TTABLE: {
      if (depth > MAX_DEPTH) throw new ConversionError(`nests tables deeper than ${MAX_DEPTH} levels`)
      const at = lua.lua_absindex(L, index)
      const id = lua.lua_topointer(L, at)
      const seen = budget.seen
      if (seen.has(id)) throw new ConversionError('contains a cycle')
      if (!lua.lua_checkstack(L, 3)) throw new ConversionError('nests too deeply for the Lua stack')
      seen.add(id)
      const entries: Array<[LuaValue, LuaValue]> = []
      lua.lua_pushnil(L)
      while (lua.lua_next(L, at) !== 0) {
        entries.push([readValue(L, -2, depth + 1, budget), readValue(L, -1, depth + 1, budget)])
        lua.lua_settop(L, -2)
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

function pushJson(L: State, value: unknown, depth: number): void {
  if (depth > MAX_DEPTH + 1 || !lua.lua_checkstack(L, 3)) throw new Error('host result nests too deeply')
  if (value === null || value === undefined) lua.lua_pushnil(L)
  else if (typeof value === 'boolean') lua.lua_pushboolean(L, value)
  else if (typeof value === 'number') {
    // fengari integers are 32-bit: anything wider stays a float.
    if (Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX) lua.lua_pushinteger(L, value)
    else lua.lua_pushnumber(L, value)
  } else if (typeof value === 'string') pushBytes(L, encoder.encode(value))
  else if (Array.isArray(value)) {
    lua.lua_createtable(L, value.length, 0)
    value.forEach((item, i) => {
      pushJson(L, item, depth + 1)
      lua.lua_rawseti(L, -2, i + 1)
    })
  } else {
    const entries = Object.entries(value as Record<string, unknown>)
    lua.lua_createtable(L, 0, entries.length)
    for (const [k, v] of entries) {
      pushBytes(L, encoder.encode(k))
      pushJson(L, v, depth + 1)
      lua.lua_rawset(L, -3)
    }
  }
}
