import { LuaFactory } from 'wasmoon'

/** Raw wasmoon 1.16 on its low-level API: load + pcall + settop, no hooks, no runtime — the reference engine. */
export async function rawWasmoon() {
  const engine = await new LuaFactory().createEngine()
  const g = engine.global as unknown as {
    address: number
    lua: {
      luaL_loadstring(L: number, s: string): number
      lua_pcallk(L: number, n: number, r: number, m: number, c: number, k: null): number
      lua_settop(L: number, i: number): void
    }
  }
  const L = g.address
  return {
    run(code: string) {
      if (g.lua.luaL_loadstring(L, code) !== 0 || g.lua.lua_pcallk(L, 0, 1, 0, 0, null) !== 0)
        throw new Error('raw wasmoon failed')
      g.lua.lua_settop(L, 0)
    },
    close: () => engine.global.close(),
  }
}
