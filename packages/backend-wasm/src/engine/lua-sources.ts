/**
 * Lua run by the engines around core's runtime. Both chunks are ours and
 * run before any user code, with the full standard library still present.
 */

/**
 * Removes what reaches outside the engine before the runtime takes its
 * private copies of the libraries, so no grant can bring these back.
 * wasmoon: `os.execute` is Emscripten's `system()` shim that calls Node's
 * `child_process`; `os.exit` throws Emscripten's ExitStatus through the
 * interpreter; `debug.debug` and the default `print` talk to the host's
 * stdin/console. `io` stays: it only sees this VM's private in-memory FS.
 */
export const WASMOON_PRELUDE = `
os.execute, os.exit = nil, nil
if io then io.popen = nil end
if debug then debug.debug = nil end
if package then
  package.loadlib, package.cpath = nil, ""
  local s = package.searchers
  if s then s[4], s[3] = nil, nil end
end
print = nil
`

/**
 * fengari runs in the host's JS realm, so on Node its `io`, `os.execute`,
 * `os.getenv`, `loadfile`/`dofile` and `require` of JS files are the host's
 * real file system, shell, environment and module loader. All of it goes.
 * `string.rep` is capped: fengari has no allocator hook, and rep is the one
 * call that asks for gigabytes at once.
 *
 * Arguments: restore_hooks (a JS function, see the engine), rep_limit
 * (bytes). The text is the same for every VM, so its compiled form is
 * cached like the runtime's.
 */
export const FENGARI_PRELUDE = `
local restore_hooks, rep_limit = ...
do
  -- fengari 0.1.5 bug: an error caught by pcall inside a coroutine leaves
  -- hooks switched off for that coroutine (lua_pcallk never sets CIST_OAH,
  -- so recover() restores allowhook = 0), which would let a coroutine
  -- escape the deadline. Every pcall/xpcall re-enables them on return.
  local function after(...) restore_hooks() return ... end
  local pcall, xpcall = pcall, xpcall
  _G.pcall = function(...) return after(pcall(...)) end
  _G.xpcall = function(...) return after(xpcall(...)) end
end
io, dofile, loadfile, print = nil, nil, nil, nil
os.execute, os.exit, os.getenv, os.remove, os.rename, os.tmpname = nil, nil, nil, nil, nil, nil
if debug then debug.debug = nil end
if package then
  package.loadlib, package.cpath, package.path, package.jspath = nil, "", "", ""
  local s = package.searchers
  if s then for i = #s, 3, -1 do s[i] = nil end end
end
do
  local rep, limit, floor, pcall, error, type, tonumber, tostring, gsub =
    string.rep, math.floor(rep_limit), math.floor, pcall, error, type, tonumber, tostring, string.gsub
  local function text(v) local t = type(v) return t == "string" or t == "number" end
  string.rep = function(s, n, sep)
    if text(s) and tonumber(n) and (sep == nil or text(sep)) then
      local ln = floor(tonumber(n))
      if ln > 0 and (#tostring(s) + (sep and #tostring(sep) or 0)) * ln > limit then error("not enough memory", 0) end
    end
    -- Called from here, rep's own argument errors would carry this
    -- wrapper's position; run it protected and raise from the caller's line.
    local ok, r = pcall(rep, s, n, sep)
    if ok then return r end
    error((gsub(tostring(r), "^bad argument #(%d+) to '[^']*'", "bad argument #%1 to 'rep'")), 2)
  end
end
`

/**
 * Builds the VM object from the runtime module and returns the four entry
 * points the host calls: each takes plain arguments, so the host never
 * indexes a Lua table and reads back only strings.
 *
 * Arguments: M, emit, clock, host (table or nil), sandbox, grants ("a,b").
 */
export const BOOTSTRAP_LUA = `
local M, emit, clock, host, sandbox, grants_text = ...
local grants = {}
for g in string.gmatch(grants_text, "[^,]+") do grants[#grants + 1] = g end
local vm = M.new({ sandbox = sandbox, grants = grants, emit = emit, clock = clock, host = host })
-- One options table for every exec: vm:exec reads it before running user code.
local o = {}
local function run(code, chunkname, echo, repl, timeout_ms, max_output)
  o.chunkname, o.echo, o.repl, o.timeout_ms, o.max_output = chunkname, echo, repl, timeout_ms, max_output
  return vm:exec(code, o)
end
local function mount(name, source)
  local ok, err = vm:mount(name, source)
  if ok then return nil end
  return tostring(err)
end
local function reset() vm:reset() end
local function info() return vm:info() end
return run, mount, reset, info
`

/** Chunk name of the runtime: frames from it are exempt from the abort hook. */
export const RUNTIME_CHUNKNAME = '=luavm-runtime'

/** Result JSON for failures the runtime could not report itself. */
export function syntheticResult(status: 'error' | 'memory', message: string): string {
  return JSON.stringify({
    status,
    values: [],
    truncated: false,
    incomplete: false,
    error: { message, kind: 'runtime' },
  })
}
