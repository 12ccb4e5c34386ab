import { execFile } from 'node:child_process'
import { LuaSocketNotFoundError } from '@bioxen-luavm/core'
import type { LuaInterpreter } from '../interpreters/detect.js'

/** How to get LuaSocket, for error messages. */
export const LUASOCKET_ADVICE =
  'install it: `apt-get install lua-socket` (Debian/Ubuntu, all Lua versions) or `luarocks --lua-version 5.4 install luasocket`, ' +
  'or point backends.process.luaCPath/luaPath at a tree that has it'

// A fixed probe (no user input), so passing it with -e is safe.
const PROBE =
  'local ok, s = pcall(require, "socket") if ok and type(s) == "table" then io.write(tostring(s._VERSION)) os.exit(0) end io.write(tostring(s)) os.exit(1)'

const cache = new Map<string, Promise<string>>()

/**
 * Checks that `require("socket")` works in `interpreter` with the VM's
 * environment (its LUA_PATH/LUA_CPATH), and returns LuaSocket's version.
 * Rejects with `LuaSocketNotFoundError` and install advice otherwise.
 * Cached per interpreter and module paths.
 */
export function checkLuaSocket(
  interpreter: LuaInterpreter,
  env: Record<string, string>,
  cwd?: string,
): Promise<string> {
  const key = JSON.stringify([interpreter.path, env.LUA_PATH, env.LUA_CPATH, cwd])
  let p = cache.get(key)
  if (!p) {
    p = probe(interpreter, env, cwd)
    cache.set(key, p)
    p.catch(() => cache.delete(key))
  }
  return p
}

function probe(interpreter: LuaInterpreter, env: Record<string, string>, cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      interpreter.path,
      ['-e', PROBE],
      { env, ...(cwd === undefined ? {} : { cwd }), timeout: 5_000, killSignal: 'SIGKILL', windowsHide: true },
      (error, stdout, stderr) => {
        if (!error && stdout.startsWith('LuaSocket')) return resolve(stdout.trim())
        const why = `${stdout}${stderr}`.trim().split('\n')[0] || (error ? error.message : 'unknown failure')
        reject(
          new LuaSocketNotFoundError(
            `LuaSocket not found for ${interpreter.label} (${interpreter.path}): ${why}; ${LUASOCKET_ADVICE}`,
            {
              details: { interpreter: interpreter.path },
            },
          ),
        )
      },
    ).stdin?.end()
  })
}
