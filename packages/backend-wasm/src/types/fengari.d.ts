/**
 * The small part of fengari 0.1.5's API this package uses. fengari ships no
 * types; these mirror its C-like API (lapi.js, lauxlib.js, lualib.js).
 */
declare module 'fengari' {
  /** A Lua thread (`lua_State`). */
  export interface LuaState {
    readonly __fengariState?: never
  }
  /** A JS function callable from Lua. */
  export type JsFunction = (L: LuaState) => number

  export function to_luastring(s: string, cache?: boolean): Uint8Array

  export const lua: {
    readonly LUA_REGISTRYINDEX: number
    readonly LUA_TNIL: number
    readonly LUA_TBOOLEAN: number
    readonly LUA_TNUMBER: number
    readonly LUA_TSTRING: number
    readonly LUA_TTABLE: number
    lua_atnativeerror(L: LuaState, f: JsFunction): JsFunction | undefined
    lua_absindex(L: LuaState, idx: number): number
    lua_checkstack(L: LuaState, n: number): boolean
    lua_concat(L: LuaState, n: number): void
    lua_createtable(L: LuaState, narr: number, nrec: number): void
    lua_error(L: LuaState): never
    lua_gettop(L: LuaState): number
    lua_isinteger(L: LuaState, idx: number): boolean
    lua_next(L: LuaState, idx: number): number
    lua_pcall(L: LuaState, nargs: number, nresults: number, errfunc: number): number
    lua_pushboolean(L: LuaState, b: boolean): void
    lua_pushinteger(L: LuaState, n: number): void
    lua_pushjsfunction(L: LuaState, f: JsFunction): void
    lua_pushlstring(L: LuaState, s: Uint8Array, len: number): Uint8Array
    lua_pushnil(L: LuaState): void
    lua_pushnumber(L: LuaState, n: number): void
    lua_pushstring(L: LuaState, s: Uint8Array): Uint8Array
    lua_pushvalue(L: LuaState, idx: number): void
    lua_rawgeti(L: LuaState, idx: number, n: number): number
    lua_rawlen(L: LuaState, idx: number): number
    lua_rawset(L: LuaState, idx: number): void
    lua_rawseti(L: LuaState, idx: number, n: number): void
    lua_rotate(L: LuaState, idx: number, n: number): void
    lua_settop(L: LuaState, idx: number): void
    lua_toboolean(L: LuaState, idx: number): boolean
    lua_tointegerx(L: LuaState, idx: number): number | false
    lua_tolstring(L: LuaState, idx: number): Uint8Array
    lua_tonumberx(L: LuaState, idx: number): number | false
    lua_topointer(L: LuaState, idx: number): unknown
    lua_touserdata(L: LuaState, idx: number): unknown
    lua_type(L: LuaState, idx: number): number
  }

  export const lauxlib: {
    luaL_newstate(): LuaState | null
    luaL_loadbufferx(L: LuaState, buff: Uint8Array, size: number, name: Uint8Array, mode: Uint8Array | null): number
    luaL_ref(L: LuaState, t: number): number
    luaL_where(L: LuaState, level: number): void
  }

  export const lualib: {
    luaL_openlibs(L: LuaState): void
  }
}
