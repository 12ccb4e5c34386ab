import { DEFAULT_EXEC_LIMITS, type LuaValue } from '@bioxen-luavm/core'
import type { LuaWasm } from 'wasmoon'
import * as wasmoonNs from 'wasmoon'
import { instantiateLuaWasm, type WasmoonNamespace } from '../module-cache.js'
import { BOOTSTRAP_LUA, RUNTIME_CHUNKNAME, syntheticResult, WASMOON_PRELUDE } from './lua-sources.js'
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
import { ArgBudget, ConversionError } from './values.js'
import { addTableFunction } from './wasm-table.js'
import { type HeapAccount, newTracedState } from './wasmoon-heap.js'
import { capFileWrites, type EmscriptenFS, EngineSnapshot } from './wasmoon-snapshot.js'
import { LUA_ERRMEM, LUA_OK, type Raw, REGISTRY, rawApi, T_STRING, UPVALUE_1, WasmoonStack } from './wasmoon-stack.js'

// wasmoon 1.16 ships CJS; depending on the loader its exports sit on the
// namespace or on its default export.
const wasmoon = (
  (wasmoonNs as { LuaWasm?: unknown }).LuaWasm
    ? wasmoonNs
    : (wasmoonNs as unknown as { default: typeof wasmoonNs }).default
) as typeof wasmoonNs

/** What a wasmoon engine needs besides its options: a compiled glue.wasm and where Emscripten may "find" it. */
export interface WasmoonSetup {
  module: WebAssembly.Module
  locateFile: string
}

const encoder = new TextEncoder()
/** The host's own chunks (prelude, runtime, bootstrap) as compiled by the first engine of this thread, by source. */
const trustedBytecode = new Map<string, Uint8Array>()

/**
 * Lua 5.4 in its own wasmoon instance, driven through the raw C API.
 *
 * wasmoon's own helpers are avoided on purpose: `doString` leaks one stack
 * slot per call (ceifa/wasmoon#109, a crash after ~60 calls on 1.16.0),
 * its error path calls `__tostring` unprotected (abort), and its value
 * conversion runs metamethods. Here every call is a `lua_pcall` on the
 * main state, the stack is reset to its base in `finally`, and the only
 * thing read back is the one string the runtime returns. wasmoon is used
 * only to set up the Emscripten instance; the state, its allocator and
 * every call go through the instance's exports.
 */
export async function createWasmoonEngine(
  options: EngineOptions,
  hooks: EngineHooks,
  setup: WasmoonSetup,
): Promise<LuaEngine> {
  const { lua, exports } = await instantiateLuaWasm(wasmoon as unknown as WasmoonNamespace, setup.module, {
    locateFile: setup.locateFile,
  })
  return new WasmoonEngine(lua, exports, options, hooks)
}

class WasmoonEngine implements LuaEngine {
  readonly kind = 'wasmoon' as const
  readonly luaVersion: string
  readonly #raw: Raw
  readonly #table: WebAssembly.Table
  readonly #heap: HeapAccount
  readonly #L: number
  readonly #hooks: EngineHooks
  readonly #stack: WasmoonStack
  readonly #defaultMemoryMax: number | undefined
  // Registry references of the bootstrap's entry points, as the i64 lua_rawgeti takes.
  #run = 0n
  #mount = 0n
  #info = 0n
  #dead: string | undefined
  readonly #fs: EmscriptenFS | undefined
  /** The engine as it was new (see reset), with what lives beside the memory. */
  #fresh: { snapshot: EngineSnapshot; used: number; files: number; scratch: readonly [number, number] } | undefined
  /** User code ran since the snapshot: a mount now must not be folded into it. */
  #dirty = false
  /** Modules mounted while dirty: mounted again after the next reset, then snapshotted. */
  #pending: Array<[string, string]> = []
  /** The running execution's maxOutputBytes: what one host call's arguments may hold in strings. */
  #argBytes = DEFAULT_EXEC_LIMITS.maxOutputBytes

  constructor(lua: LuaWasm, exports: WebAssembly.Exports, options: EngineOptions, hooks: EngineHooks) {
    this.#raw = rawApi(lua.module as unknown as { HEAPU8: Uint8Array; HEAPU32: Uint32Array }, exports)
    this.#table = exports.__indirect_function_table as WebAssembly.Table
    this.#hooks = hooks
    // The traced allocator is what caps the heap: it refuses growth past
    // heap.max, which Lua reports as "not enough memory".
    const { L, heap } = newTracedState(this.#raw, this.#table)
    this.#L = L
    this.#heap = heap
    this.#stack = new WasmoonStack(this.#raw)
    this.#unlinkDevices(lua)
    this.#fs = (lua.module as unknown as { FS?: EmscriptenFS }).FS
    if (this.#fs) capFileWrites(this.#fs, this.#heap)
    const raw = this.#raw
    raw.luaL_openlibs(L)
    this.#loadTrusted(WASMOON_PRELUDE, '=luavm-prelude')
    this.#call(0, 0, 'prelude')

    // Runtime, then the bootstrap that builds the VM from it.
    this.#loadTrusted(options.runtimeSource, RUNTIME_CHUNKNAME)
    this.#call(0, 1, 'runtime')
    this.#loadTrusted(BOOTSTRAP_LUA, '=luavm-bootstrap')
    // The bootstrap takes M first, but M was pushed before it.
    raw.lua_rotate(L, -2, 1)
    raw.lua_pushcclosure(L, this.#emitFn(), 0)
    raw.lua_pushcclosure(L, this.#clockFn(), 0)
    this.#pushHostTable(options.hostFunctions)
    raw.lua_pushboolean(L, options.sandbox ? 1 : 0)
    this.#stack.pushString(L, options.grants.join(','))
    this.#call(6, 4, 'bootstrap')
    this.#info = BigInt(raw.luaL_ref(L, REGISTRY))
    // The runtime's reset: unused, a snapshot resets this engine (see reset).
    raw.luaL_ref(L, REGISTRY)
    this.#mount = BigInt(raw.luaL_ref(L, REGISTRY))
    this.#run = BigInt(raw.luaL_ref(L, REGISTRY))
    raw.lua_settop(L, 0)

    const info = JSON.parse(this.#callString(this.#info, []) ?? '{}') as { lua?: string }
    this.luaVersion = info.lua ?? 'Lua 5.4'
    for (const [name, source] of Object.entries(options.modules)) {
      const problem = this.mount(name, source)
      if (problem !== undefined) throw new Error(`module '${name}' does not compile: ${problem}`)
    }
    this.#defaultMemoryMax = options.memoryLimitBytes
    this.#heap.max = options.memoryLimitBytes
    // os.date's first call initialises the C library's time zone and marks
    // it done on the JS side; done now, both halves are in the snapshot.
    this.#load('local d, t = os.date, os.time return d("%c"), t()', '=luavm-warm')
    this.#call(0, 0, 'warm-up')
    raw.lua_settop(L, 0)
    this.#takeSnapshot()
  }

  exec(request: EngineExecRequest): string {
    this.#assertAlive()
    const raw = this.#raw
    const L = this.#L
    const base = raw.lua_gettop(L)
    const cap = request.memoryLimitBytes ?? this.#defaultMemoryMax
    this.#dirty = true
    try {
      this.#heap.max = cap
      this.#argBytes = request.maxOutputBytes
      raw.lua_rawgeti(L, REGISTRY, this.#run)
      if (typeof request.code === 'string') this.#stack.pushString(L, request.code)
      else this.#stack.pushBytes(L, request.code)
      this.#stack.pushString(L, request.chunkName)
      raw.lua_pushboolean(L, request.echo ? 1 : 0)
      raw.lua_pushboolean(L, request.repl ? 1 : 0)
      raw.lua_pushnumber(L, runtimeTimeoutMs(request))
      raw.lua_pushnumber(L, request.maxOutputBytes)
      const status = raw.lua_pcallk(L, 6, 1, 0, 0, 0)
      if (status === LUA_OK) {
        const json = this.#stack.readString(L, -1)
        return json ?? syntheticResult('error', 'luavm: the runtime returned no result')
      }
      if (status === LUA_ERRMEM) return syntheticResult('memory', 'not enough memory')
      return syntheticResult('error', `luavm runtime failure: ${this.#stack.readString(L, -1) ?? 'non-string error'}`)
    } catch (error) {
      throw this.#crashed(error)
    } finally {
      if (!this.#dead) {
        raw.lua_settop(L, base)
        this.#heap.max = this.#defaultMemoryMax
        this.#heap.full = false
      }
    }
  }

  mount(name: string, source: string): string | undefined {
    this.#assertAlive()
    try {
      const problem = this.#callString(this.#mount, [name, source])
      if (problem === undefined && this.#fresh) {
        if (this.#dirty) this.#pending.push([name, source])
        else this.#takeSnapshot()
      }
      return problem
    } catch (error) {
      throw this.#crashed(error)
    }
  }

  /**
   * Back to the engine as it was new (plus the modules mounted since): the
   * linear memory snapshot taken then is written back, so nothing user
   * code did can survive — see wasmoon-snapshot.ts. Costs one copy of the
   * fresh memory (~2 MiB) and of its (near-empty) file tree.
   */
  reset(): void {
    this.#assertAlive()
    const fresh = this.#fresh
    if (!fresh) return
    try {
      fresh.snapshot.restore(this.#raw.HEAPU8)
      this.#heap.used = fresh.used
      this.#heap.files = fresh.files
      this.#heap.full = false
      this.#heap.max = this.#defaultMemoryMax
      this.#stack.scratchState = fresh.scratch
      this.#dirty = false
      const pending = this.#pending
      this.#pending = []
      for (const [name, source] of pending) this.mount(name, source)
    } catch (error) {
      throw this.#crashed(error)
    }
  }

  #takeSnapshot(): void {
    this.#fresh = {
      snapshot: new EngineSnapshot(this.#raw.HEAPU8, this.#fs),
      used: this.#heap.used,
      files: this.#heap.files,
      scratch: this.#stack.scratchState,
    }
  }

  stats(): EngineStats {
    const alive = !this.#dead
    return {
      kind: this.kind,
      luaVersion: this.luaVersion,
      stackTop: alive ? this.#raw.lua_gettop(this.#L) : -1,
      ...(alive ? { memoryUsedBytes: this.#heap.used } : {}),
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
  #callString(ref: bigint, args: string[]): string | undefined {
    const raw = this.#raw
    const L = this.#L
    const base = raw.lua_gettop(L)
    try {
      raw.lua_rawgeti(L, REGISTRY, ref)
      for (const a of args) this.#stack.pushString(L, a)
      const status = raw.lua_pcallk(L, args.length, 1, 0, 0, 0)
      if (status !== LUA_OK) {
        throw new Error(status === LUA_ERRMEM ? 'not enough memory' : (this.#stack.readString(L, -1) ?? 'Lua error'))
      }
      return raw.lua_type(L, -1) === T_STRING ? this.#stack.readString(L, -1) : undefined
    } finally {
      raw.lua_settop(L, base)
    }
  }

  /**
   * Loads one of the host's own chunks. Parsing them (the runtime is ~50 KB
   * of source) was most of a new engine's cost, so the first engine of a
   * thread dumps each compiled chunk — with debug info: the deadline hook
   * and tracebacks recognise runtime frames by their source name — and later
   * engines load those bytes. Only this method ever loads in mode "b", and
   * only bytes it dumped itself from the same glue.wasm build; user code
   * still can never load binary chunks.
   */
  #loadTrusted(source: string, chunkname: string): void {
    const cached = trustedBytecode.get(source)
    if (cached) {
      this.#load(cached, chunkname, 'b')
      return
    }
    this.#load(source, chunkname)
    const raw = this.#raw
    const L = this.#L
    this.#load('return string.dump((...))', '=luavm-dump')
    raw.lua_pushvalue(L, -2)
    if (raw.lua_pcallk(L, 1, 1, 0, 0, 0) === LUA_OK) {
      const bytes = this.#stack.readBytes(L, -1)
      if (bytes) trustedBytecode.set(source, bytes)
    }
    raw.lua_settop(L, -2)
  }

  #load(source: string | Uint8Array, chunkname: string, mode: 't' | 'b' = 't'): void {
    const raw = this.#raw
    const L = this.#L
    const code = typeof source === 'string' ? encoder.encode(source) : source
    const name = encoder.encode(`${chunkname}\0${mode}\0`)
    const p = this.#stack.scratchFor(code.length + name.length)
    raw.HEAPU8.set(code, p)
    raw.HEAPU8.set(name, p + code.length)
    const nameP = p + code.length
    const modeP = nameP + chunkname.length + 1
    const status = raw.luaL_loadbufferx(L, p, code.length, nameP, modeP)
    if (status !== LUA_OK) throw new Error(`luavm: cannot load ${chunkname}: ${this.#stack.readString(L, -1)}`)
  }

  #call(nargs: number, nresults: number, what: string): void {
    const status = this.#raw.lua_pcallk(this.#L, nargs, nresults, 0, 0, 0)
    if (status !== LUA_OK)
      throw new Error(`luavm: ${what} failed: ${this.#stack.readString(this.#L, -1) ?? `status ${status}`}`)
  }

  // ---- C functions Lua calls -------------------------------------------------

  #emitFn(): number {
    return addTableFunction(
      this.#table,
      (L: number) => {
        try {
          const stream = this.#raw.lua_tonumberx(L, 1, 0) === 2 ? 2 : 1
          const bytes = this.#stack.readBytes(L, 2)
          if (bytes) this.#hooks.emit(stream, bytes)
        } catch {
          // The runtime pcalls emit; a failing sink only loses that output.
        }
        return 0
      },
      'ii',
    )
  }

  #clockFn(): number {
    return addTableFunction(
      this.#table,
      (L: number) => {
        let now: number
        try {
          now = this.#hooks.clock()
        } catch {
          now = Number.POSITIVE_INFINITY
        }
        this.#raw.lua_pushnumber(L, now)
        return 1
      },
      'ii',
    )
  }

  #pushHostTable(names: string[]): void {
    const raw = this.#raw
    const L = this.#L
    if (names.length === 0) {
      raw.lua_pushnil(L)
      return
    }
    const fn = this.#hostFn()
    raw.lua_createtable(L, 0, names.length)
    for (const name of names) {
      this.#stack.pushString(L, name)
      this.#stack.pushString(L, name)
      raw.lua_pushcclosure(L, fn, 1)
      raw.lua_rawset(L, -3)
    }
  }

  /**
   * `host.<name>(...)`: arguments are read raw (no metamethods), the host
   * runs, and its JSON result is pushed back. Errors become Lua errors at
   * the caller's line. `lua_error` unwinds by throwing through this frame,
   * so it is the last thing done and never inside a try.
   */
  #hostFn(): number {
    return addTableFunction(
      this.#table,
      (L: number) => {
        const raw = this.#raw
        let message: string
        try {
          const name = this.#stack.readString(L, UPVALUE_1) ?? '?'
          const n = raw.lua_gettop(L)
          const args: LuaValue[] = []
          const budget = new ArgBudget(this.#argBytes)
          let bad: string | undefined
          for (let i = 1; i <= n && bad === undefined; i++) {
            try {
              args.push(this.#stack.readValue(L, i, 1, budget))
            } catch (error) {
              if (!(error instanceof ConversionError)) throw error
              bad = `host.${name}: argument ${i} ${error.message}`
            }
          }
          if (bad === undefined) {
            const outcome = this.#hooks.callHost(name, args)
            if (outcome.ok) {
              raw.lua_settop(L, 0)
              this.#stack.pushJson(L, JSON.parse(outcome.json) as unknown, 1)
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
        raw.lua_settop(L, 0)
        raw.luaL_where(L, 1)
        this.#stack.pushString(L, message)
        raw.lua_concat(L, 2)
        return raw.lua_error(L)
      },
      'ii',
    )
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
    return new EngineCrashedError(`the wasm engine crashed (${message}); its state is lost`, isMemoryFailure(error))
  }
}
