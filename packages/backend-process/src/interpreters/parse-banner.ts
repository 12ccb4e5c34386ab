/** What `<lua> -v` says about an interpreter. */
export interface LuaBanner {
  /** `lua` for PUC-Rio Lua, `luajit` for LuaJIT. */
  family: 'lua' | 'luajit'
  /** Full version, e.g. `5.4.4` or `2.1.0-beta3`. */
  version: string
  /** The `_VERSION` its chunks see, e.g. `Lua 5.4` (LuaJIT says `Lua 5.1`). */
  languageVersion: string
  /** Human label for results and listings, e.g. `Lua 5.4.4` or `LuaJIT 2.1.0-beta3`. */
  label: string
}

/**
 * Parses the banner `-v` prints. Lua 5.1 prints it on stderr and the others
 * on stdout, so callers pass both streams joined.
 */
export function parseLuaBanner(text: string): LuaBanner | undefined {
  const jit = /LuaJIT\s+(\d+\.\d+\.\d+(?:[-.][0-9A-Za-z.]+)?)/.exec(text)
  if (jit?.[1]) {
    return { family: 'luajit', version: jit[1], languageVersion: 'Lua 5.1', label: `LuaJIT ${jit[1]}` }
  }
  const puc = /\bLua\s+(\d+)\.(\d+)(?:\.(\d+))?/.exec(text)
  if (puc?.[1] && puc[2]) {
    const version = `${puc[1]}.${puc[2]}${puc[3] === undefined ? '' : `.${puc[3]}`}`
    return { family: 'lua', version, languageVersion: `Lua ${puc[1]}.${puc[2]}`, label: `Lua ${version}` }
  }
  return undefined
}
