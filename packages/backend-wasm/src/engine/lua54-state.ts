import { instantiateLua54, type Lua54, type Lua54Host } from './lua54-loader.js'

/** `LUA_OK`, `LUA_ERRRUN`, `LUA_ERRSYNTAX`, `LUA_ERRMEM` as `lua_pcall`/`luaL_loadbufferx` return them. */
export const LuaStatus = { OK: 0, ERRRUN: 2, ERRSYNTAX: 3, ERRMEM: 4 } as const

/** The outcome of {@link Lua54State.run}: the status and the chunk's results (or error value) via `tostring`. */
export interface Lua54Run {
  status: number
  values: string[]
  /** Whether the host's interrupt aborted the run. */
  interrupted: boolean
}

/** What {@link Lua54State} asks of its host: the interrupt, and where output goes. */
export interface Lua54StateOptions {
  /** Ticks between two calls of `interrupt` (loop back-edges and calls). */
  budget: number
  /** Called whenever the budget runs out: true goes on for another `budget` ticks, false aborts the run. */
  interrupt(): boolean
  /** Lua's stdout/stderr bytes; dropped when absent. */
  write?: Lua54Host['write']
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * One Lua state in its own lua54.wasm instance, driven through the raw C
 * API: load a chunk, `lua_pcall` it, read its results. The smallest driver
 * that proves the engine (engine-build.test.ts, bench/engine.bench.ts);
 * the backend's engine (wasmoon-engine.ts) is what runs the SDK's VMs.
 */
export class Lua54State {
  readonly wasm: Lua54
  readonly L: number
  readonly #budget: number

  constructor(module: WebAssembly.Module, options: Lua54StateOptions) {
    this.#budget = options.budget
    this.wasm = instantiateLua54(module, {
      interrupt: () => (options.interrupt() ? this.#budget : 0),
      write: options.write ?? (() => undefined),
    })
    const L = this.wasm.exports.luavm_newstate()
    if (!L) throw new Error('luavm_newstate failed')
    this.L = L
    this.wasm.exports.luaL_openlibs(L)
  }

  /** Caps the state's heap (0: no cap). */
  setMemoryLimit(bytes: number): void {
    this.wasm.exports.luavm_setmemlimit(this.L, bytes)
  }

  /** Bytes the state's heap holds. */
  get memoryUsed(): number {
    return this.wasm.exports.luavm_memused(this.L)
  }

  /** Loads and runs `code` with a fresh budget; the stack is back at its base afterwards. */
  run(code: string, chunkname = '=input'): Lua54Run {
    const x = this.wasm.exports
    const L = this.L
    x.luavm_setbudget(L, this.#budget)
    const bytes = encoder.encode(code)
    const name = encoder.encode(`${chunkname}\0t\0`)
    const p = x.malloc(bytes.length + name.length)
    if (!p) throw new Error('malloc failed')
    try {
      this.wasm.HEAPU8.set(bytes, p)
      this.wasm.HEAPU8.set(name, p + bytes.length)
      const namePtr = p + bytes.length
      let status = x.luaL_loadbufferx(L, p, bytes.length, namePtr, namePtr + chunkname.length + 1)
      if (status === LuaStatus.OK) status = x.lua_pcallk(L, 0, -1, 0, 0, 0)
      const values: string[] = []
      for (let i = 1, n = x.lua_gettop(L); i <= n; i++) values.push(this.#tostring(i))
      return { status, values, interrupted: x.luavm_interrupted(L) !== 0 }
    } finally {
      x.free(p)
      x.lua_settop(L, 0)
    }
  }

  /** Frees the state (the instance goes with this object). */
  close(): void {
    this.wasm.exports.luavm_close(this.L)
  }

  /** The value at `index` as Lua's `tostring` would show a plain value (no metamethods). */
  #tostring(index: number): string {
    const x = this.wasm.exports
    const L = this.L
    const t = x.lua_type(L, index)
    if (t === 0) return 'nil'
    if (t === 1) return x.lua_toboolean(L, index) ? 'true' : 'false'
    if (t === 3 || t === 4) {
      const lenPtr = x.malloc(4)
      try {
        // A number is converted in place, which is fine for a result we only read.
        const s = x.lua_tolstring(L, index, lenPtr)
        const len = this.wasm.HEAPU32[lenPtr >> 2] as number
        return decoder.decode(this.wasm.HEAPU8.subarray(s, s + len))
      } finally {
        x.free(lenPtr)
      }
    }
    return `<${['nil', 'boolean', 'lightuserdata', 'number', 'string', 'table', 'function', 'userdata', 'thread'][t] ?? t}>`
  }
}
