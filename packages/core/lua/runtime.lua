-- luavm runtime: the one Lua-side runtime shared by every backend.
--
-- This chunk returns a module table M; it never relies on `require` to load
-- itself, so hosts can load it from a string (wasmoon, fengari) or inline it
-- into the pipe/SSH driver. It must run unchanged on Lua 5.1, 5.2, 5.3, 5.4,
-- LuaJIT 2.1, fengari and wasmoon, so everything version-dependent is
-- feature-detected below and the syntax stays 5.1-compatible (no goto, no
-- integer division, no bitwise operators).
--
-- Load it under a chunkname no user chunk will use (e.g. "=luavm-runtime"):
-- the deadline hook recognises runtime frames by their source and never
-- raises inside them, so the runtime can finish its bookkeeping after an
-- abort. User chunknames equal to it are rewritten by compile().
--
--   local vm = M.new{ sandbox = true, grants = {}, emit = fn(stream, bytes),
--                     clock = fn() -> ms, host = table?, hook_count = n?,
--                     flush = fn()?, child_stdout = "inherit" | "stderr"? }
--   vm:exec(code, { chunkname, echo, repl, timeout_ms, max_output,
--                   max_result }) -> json
--     max_output caps stdout, stderr and the result's values or error
--     message together, in bytes; max_result (optional) caps the result
--     alone (the pipe driver's frame limit).
--   vm:reset()   vm:mount(name, source) -> true | nil, err   vm:info() -> json
--
-- Output. print/io.write go to a buffer in Lua and reach the host through
-- emit(stream, bytes) in batches: a print flood must not cost one host call
-- per print (wasmoon/fengari call emit in-process). The buffer is pushed
--   - at once for the first output of an exec (so "print then hang" shows),
--   - past FLUSH_AT bytes,
--   - when FLUSH_MS of the VM's clock passed since the last push: checked
--     in the deadline's count hook (so "print, then compute" streams) and
--     on writes: the clock (possibly a host call) is read on the first write
--     into an empty buffer and, only when no deadline hook is armed, every
--     CLOCK_EVERY writes after that,
--   - on io.stdout:flush(), io.stderr:flush(), io.flush(), and per write
--     after f:setvbuf("no") (or per newline after f:setvbuf("line")),
--   - before calls that may block or end the process (os.execute, io.popen,
--     os.exit, and io.read from a handle given to io.input(), e.g. a pipe)
--     where they exist (non-sandbox, grants os/io),
--   - at the end of the exec.
-- Every push except the end-of-exec one is followed by the optional host
-- flush() (the pipe driver's frame channel is block-buffered: flush() makes
-- the frames leave the process). At the end of an exec the host receives
-- the result next and delivers output first anyway, so flush() is not called.
-- The clock of the pipe driver is the time the process was runnable (on a
-- CPU or waiting for one) where Linux reports it, else os.clock() (CPU
-- time): time blocked in C (a socket accept) does not count, so a
-- long-running server should call io.stdout:flush() after its status lines
-- (as it must with C stdio on a pipe). Methods of real file handles (p:read() on an io.popen pipe)
-- are not intercepted either: flush before blocking on them.
--
-- Child processes. With child_stdout = "stderr" (the pipe driver, whose
-- stdout is the frame channel), os.execute and write-mode io.popen run their
-- command after `exec 1>&2`, so a child's stdout lands in stderr instead of
-- in the protocol. Read-mode io.popen keeps its pipe. Applied wherever Lua
-- can start processes (non-sandbox, grants os/io) and re-applied by reset().
--
-- REPL expressions on LuaJIT. REPL input is first tried as `return <input>`,
-- which makes `error("boom")` a tail call; LuaJIT (unlike PUC Lua, which
-- never tail-calls C functions) drops the caller's frame, so the message
-- would lose its "chunk:1:" position. On LuaJIT the expression form is
-- compiled as `return (...)(<input>\n)` and called with an identity function,
-- so the user's calls are arguments, not tail calls; values are unchanged.
-- Input containing "..." keeps the plain form (`...` would see the identity
-- function). A statement that is itself `return f()` is a tail call by the
-- user's own code and behaves as LuaJIT does.

local M = { VERSION = 1 }

-- Private references, taken before any user code can run, so that later
-- tampering with globals (non-sandbox mode) cannot change the runtime.
local type, tostring, tonumber, select, next, ipairs = type, tostring, tonumber, select, next, ipairs
local rawget, rawset, rawequal = rawget, rawset, rawequal
local setmetatable, getmetatable = setmetatable, getmetatable
local pcall, xpcall, error = pcall, xpcall, error
local G = _G
local string, table, math = string, table, math
local sfind, ssub, sbyte, schar = string.find, string.sub, string.byte, string.char
local sformat, sgsub, smatch, sgmatch = string.format, string.gsub, string.match, string.gmatch
local concat, tsort = table.concat, table.sort
local unpack = table.unpack or G.unpack
local floor, huge = math.floor, math.huge
local math_type = math.type
local loadstring, setfenv, load = G.loadstring, G.setfenv, G.load
local real_collectgarbage = G.collectgarbage
local real_require = G.require
local coroutine = G.coroutine
local co_create, co_resume, co_running = coroutine.create, coroutine.resume, coroutine.running
local jit_lib = type(G.jit) == "table" and G.jit or nil

local function copy(t)
  local c = {}
  if type(t) == "table" then
    for k, v in next, t do c[k] = v end
  end
  return c
end

-- Pristine copies of the libraries: sandbox envs are built from these, so
-- a non-sandbox VM in the same lua_State cannot poison later sandboxes.
local ORIG = {
  string = copy(string), table = copy(table), math = copy(math),
  coroutine = copy(coroutine),
  utf8 = type(G.utf8) == "table" and copy(G.utf8) or nil,
  bit32 = type(G.bit32) == "table" and copy(G.bit32) or nil,
  bit = type(G.bit) == "table" and copy(G.bit) or nil,
  os = type(G.os) == "table" and copy(G.os) or nil,
  io = type(G.io) == "table" and copy(G.io) or nil,
  debug = type(G.debug) == "table" and copy(G.debug) or nil,
  package = type(G.package) == "table" and G.package or nil,
  dofile = G.dofile, loadfile = G.loadfile,
}
local dbg = ORIG.debug
local sethook = dbg and dbg.sethook
local getinfo = dbg and dbg.getinfo
local traceback = dbg and dbg.traceback
local dgetmetatable = dbg and dbg.getmetatable or getmetatable

-- Instructions between two deadline checks (default; `opts.hook_count`
-- overrides it per VM). On PUC 5.3/5.4 any count hook already routes every
-- instruction through luaG_traceexec, so the hook's cost is set by that, not
-- by N; N only decides how often clock() runs, which matters where the
-- clock is a host call (wasmoon/fengari, ~1 us each). 10000 instructions
-- are well under a millisecond of overrun on every engine measured.
local HOOK_COUNT = 10000
M.HOOK_COUNT = HOOK_COUNT

-- Flush buffered output to the host past this many bytes: a print flood
-- then costs one host call per 16 KiB, not one per print.
local FLUSH_AT = 16384

-- Buffered output older than this many ms of the VM's clock is pushed (see
-- the header): short enough to look live, long enough that a flood still
-- goes out in FLUSH_AT-sized batches.
local FLUSH_MS = 25

-- Without a deadline hook (which checks the time itself), writes between
-- two reads of the clock while output is buffered. The clock is a host
-- call on wasmoon/fengari (~1 us); reading it on every print would double
-- the cost of a flood there.
local CLOCK_EVERY = 16

-- Prefix that points a shell command's stdout at stderr (child_stdout =
-- "stderr"): a redirection that cannot change what the command itself does.
local CHILD_TO_STDERR = "exec 1>&2\n"

local RUNTIME_SOURCE, RUNTIME_SHORT_SRC
if getinfo then
  local info = getinfo(1, "S")
  if info then RUNTIME_SOURCE, RUNTIME_SHORT_SRC = info.source, info.short_src end
end

-- 5.2+ (and LuaJIT) `load` accepts a mode and an env; 5.1 needs loadstring + setfenv.
local LOAD_ENV = false
if load then
  local ok, f = pcall(load, "return LUAVM_PROBE", "=probe", "t", { LUAVM_PROBE = 1 })
  LOAD_ENV = ok and type(f) == "function" and f() == 1
end

-- 5.1's xpcall forwards no extra arguments to the protected function.
local XPCALL_ARGS = select(2, xpcall(function(a) return a end, function(e) return e end, 42)) == 42

local FROZEN_TAG = "luavm: the string metatable is locked"

-- Per-lua_State execution state. Hooks are per thread (global on LuaJIT) and
-- only one exec runs at a time, so this lives at module level.
local S = {
  active = nil,     -- the VM whose exec is running
  cur = nil,        -- that exec's output state
  deadline = nil,   -- clock() value past which the run is aborted
  clock = nil,
  aborting = nil,   -- "timeout" | "output-limit" once an abort started
  main = nil,       -- thread running the exec (5.2+), re-armed on abort
  count = HOOK_COUNT, -- hook count of the running exec
  unhooked = nil,   -- the exec's thread has no hook left (see unhook)
  tb = nil,         -- traceback captured by the message handler
  flushing = nil,   -- true while flush() hands output to emit
  jit_was_on = nil, -- LuaJIT's compiler was switched off for the exec
}

-- Defined with the output routing below; the hook pushes stale output.
local flush

-- The error object raised on abort. Only the S.aborting flag is trusted;
-- user code that somehow keeps this object cannot fake an abort.
local SENTINEL = setmetatable({}, { __tostring = function() return "luavm: execution aborted" end })

-- table.pack where there is one: a C call is a single instruction for the
-- deadline's count hook, which runs on every instruction while it is set.
local pack = table.pack or function(...) return { n = select("#", ...), ... } end

---------------------------------------------------------------------------
-- Deadline hook (the "Redis technique"): on expiry set a flag, raise the
-- sentinel, and re-arm with count = 1 so the error re-fires right after any
-- pcall catches it. Runtime frames are exempt so the runtime can clean up.
---------------------------------------------------------------------------
local hook
hook = function()
  if not S.aborting then
    local d = S.deadline
    if not (S.active and d) then
      -- A coroutine armed by an earlier exec: drop the hook, since on 5.3+
      -- any count hook slows every instruction. resume() re-arms as needed.
      sethook()
      return
    end
    local now = S.clock()
    if now < d then
      -- Time-based output flush, so a chunk that printed and then computes
      -- still streams. Not while a runtime frame is interrupted (it may be
      -- half-way through updating the buffer) nor while flush() runs (a Lua
      -- emit from another chunk); the next hook or write catches up.
      local cur = S.cur
      if cur and cur.n > 0 and now - cur.last >= FLUSH_MS and not S.flushing then
        local info = getinfo(2, "S")
        if not (info and info.source == RUNTIME_SOURCE) then flush(S.active, cur, true, now) end
      end
      return
    end
    S.aborting = "timeout"
    sethook(hook, "", 1)
  end
  local info = getinfo(2, "S")
  if info and info.source == RUNTIME_SOURCE then return end
  error(SENTINEL, 0)
end

local function abort(reason)
  if not S.aborting then
    S.aborting = reason
    if sethook then
      sethook(hook, "", 1)
      if S.main then sethook(S.main, hook, "", 1) end
    end
  end
  error(SENTINEL, 0)
end

local function arm(co)
  if sethook and S.active and (S.deadline or S.aborting) then
    sethook(co, hook, "", S.aborting and 1 or S.count)
  end
end

-- Results of protected calls pass through here: while aborting, a caught
-- abort is re-raised instead of being returned to user code.
local function repack(ok, ...)
  if S.aborting then error(SENTINEL, 0) end
  return ok, ...
end

local function wrapped_pcall(f, ...)
  return repack(pcall(f, ...))
end

local function wrapped_xpcall(f, h, ...)
  if type(h) ~= "function" then
    error("bad argument #2 to 'xpcall' (function expected, got " .. type(h) .. ")", 2)
  end
  local hh = function(e)
    if S.aborting then return e end
    return h(e)
  end
  if XPCALL_ARGS then return repack(xpcall(f, hh, ...)) end
  local args = pack(...)
  return repack(xpcall(function() return f(unpack(args, 1, args.n)) end, hh))
end

-- A builtin the runtime wraps must fail as if the user had called it
-- directly: at the user's line, under its public name. Called straight from
-- the wrapper, the builtin's argument error would carry the wrapper's
-- position (a runtime line, under a chunk name that differs per backend:
-- "luavm-driver:262: bad argument #1 to 'co_create'"). So the wrapper runs
-- the builtin under pcall (its caller is then C, and its message has no
-- position) and raises the error again from the user's frame (`level`
-- counts from rethrow: 3 is the caller of the function calling rethrow).
-- No Lua code runs inside these builtins, so the pcall cannot swallow a
-- deadline abort.
local function rethrow(name, e, level)
  -- An allocation failure must reach the run as it is, so the run ends with
  -- status "memory" (a position prefix would make it an ordinary error).
  if type(e) == "string" and sfind(e, "not enough memory", 1, true) then error(e, 0) end
  if type(e) == "string" then
    e = sgsub(e, "^bad argument #(%d+) to '[^']*'", "bad argument #%1 to '" .. name .. "'", 1)
  end
  error(e, level or 3)
end

-- For create and wrap: rethrow, checked_create, the wrapper, then the user (4).
local function checked_create(name, f)
  local ok, co = pcall(co_create, f)
  if not ok then rethrow(name, co, 4) end
  arm(co)
  return co
end

local function wrapped_create(f)
  return (checked_create("create", f))
end

local function wrapped_resume(co, ...)
  if type(co) ~= "thread" then
    local _, e = pcall(co_resume, co)
    rethrow("resume", e)
  end
  arm(co)
  return repack(co_resume(co, ...))
end

local function wrap_ret(ok, ...)
  if ok then return ... end
  error((...), 0)
end

local function wrapped_wrap(f)
  local co = checked_create("wrap", f)
  return function(...)
    return wrap_ret(wrapped_resume(co, ...))
  end
end

---------------------------------------------------------------------------
-- Compilation
---------------------------------------------------------------------------
local function compile(src, name, env, binary_ok)
  if name == RUNTIME_SOURCE then name = name .. "'" end
  if not binary_ok and sbyte(src, 1) == 27 then
    return nil, "attempt to load a binary chunk (mode is 't')"
  end
  if LOAD_ENV then return load(src, name, binary_ok and "bt" or "t", env) end
  local f, err = loadstring(src, name)
  if f and env ~= nil then setfenv(f, env) end
  return f, err
end

-- See the header ("REPL expressions on LuaJIT"). Only on LuaJIT, so other
-- versions run exactly the code they always did.
local REPL_ARG_FORM = jit_lib ~= nil and XPCALL_ARGS
local function identity(...) return ... end

-- Compiles REPL input as an expression. Returns the function, the error,
-- and whether it must be called with `identity` as its argument.
local function compile_expr(expr, name, env, binary_ok)
  if REPL_ARG_FORM and not sfind(expr, "...", 1, true) then
    -- The newline ends a trailing `-- comment` before the closing paren.
    local f = compile("return (...)(" .. expr .. "\n)", name, env, binary_ok)
    if f then return f, nil, true end
  end
  -- Also the fallback: `return <explist>;` parses, `f(<explist>;)` not.
  local f, err = compile("return " .. expr, name, env, binary_ok)
  return f, err, false
end

local function is_incomplete(msg)
  return type(msg) == "string" and (ssub(msg, -5) == "<eof>" or ssub(msg, -7) == "'<eof>'")
end

---------------------------------------------------------------------------
-- JSON encoding (raw access only: no metamethod is ever called)
---------------------------------------------------------------------------
-- Spelled out: building it with string.format costs half a millisecond per
-- VM on fengari, and this runs in every new VM.
local ESC = {
  ['"'] = '\\"', ["\\"] = "\\\\",
  ["\0"] = "\\u0000", ["\1"] = "\\u0001", ["\2"] = "\\u0002", ["\3"] = "\\u0003",
  ["\4"] = "\\u0004", ["\5"] = "\\u0005", ["\6"] = "\\u0006", ["\7"] = "\\u0007",
  ["\8"] = "\\u0008", ["\9"] = "\\u0009", ["\10"] = "\\u000a", ["\11"] = "\\u000b",
  ["\12"] = "\\u000c", ["\13"] = "\\u000d", ["\14"] = "\\u000e", ["\15"] = "\\u000f",
  ["\16"] = "\\u0010", ["\17"] = "\\u0011", ["\18"] = "\\u0012", ["\19"] = "\\u0013",
  ["\20"] = "\\u0014", ["\21"] = "\\u0015", ["\22"] = "\\u0016", ["\23"] = "\\u0017",
  ["\24"] = "\\u0018", ["\25"] = "\\u0019", ["\26"] = "\\u001a", ["\27"] = "\\u001b",
  ["\28"] = "\\u001c", ["\29"] = "\\u001d", ["\30"] = "\\u001e", ["\31"] = "\\u001f",
  ["\127"] = "\\u007f",
}
local ESC_PAT = '[%z\1-\31"\\\127]'
if sfind("\0", ESC_PAT) ~= 1 then ESC_PAT = '[\0-\31"\\\127]' end

-- Lua strings are bytes, JSON text is Unicode. A string that is not valid
-- UTF-8 keeps its valid characters and writes each byte of its ill-formed
-- parts as "\udcXX" (the lone surrogate U+DC00 + byte, Python's
-- "surrogateescape"): valid UTF-8 never encodes a surrogate, so the host
-- knows exactly which strings were bytes and restores them (core's
-- util/bytes.ts). The JSON stays valid UTF-8 whatever Lua returns.
local utf8_len = ORIG.utf8 and ORIG.utf8.len

-- One run of a byte >= 0x80 and the continuation bytes after it: nil when
-- it is well-formed UTF-8 (gsub keeps it), else its escaped form.
-- Well-formed: no overlongs, no surrogates, nothing past U+10FFFF.
local function escape_run(run)
  local out, i, n, bad = {}, 1, #run, false
  while i <= n do
    local c = sbyte(run, i)
    local need = (c >= 0xC2 and c <= 0xDF) and 1 or (c >= 0xE0 and c <= 0xEF) and 2
      or (c >= 0xF0 and c <= 0xF4) and 3 or 0
    local ok = need > 0 and i + need <= n
    if ok then
      local c2 = sbyte(run, i + 1)
      ok = not ((c == 0xE0 and c2 < 0xA0) or (c == 0xED and c2 > 0x9F)
        or (c == 0xF0 and c2 < 0x90) or (c == 0xF4 and c2 > 0x8F))
    end
    if ok then
      out[#out + 1] = ssub(run, i, i + need)
      i = i + need + 1
    else
      out[#out + 1] = sformat("\\udc%02x", c)
      bad = true
      i = i + 1
    end
  end
  if bad then return concat(out) end
  return nil
end

local function jstr(s)
  s = sgsub(s, ESC_PAT, ESC)
  -- ASCII needs nothing more; utf8.len (a C call) clears valid text where
  -- it exists (5.3's accepts encoded surrogates, ED A0..BF, so those go
  -- the slow way).
  if sfind(s, "[\128-\255]") and not (utf8_len and utf8_len(s) and not sfind(s, "\237[\160-\191]")) then
    s = sgsub(s, "[\128-\255][\128-\191]*", escape_run)
  end
  return '"' .. s .. '"'
end

local TWO53 = 9007199254740992

-- Numbers as JSON text; the second result says whether it must be quoted.
local function numtext(x)
  if x ~= x then return "nan", true end
  if x == huge then return "inf", true end
  if x == -huge then return "-inf", true end
  if math_type and math_type(x) == "integer" then
    -- tostring prints integers as "%d" does, and is much cheaper on fengari.
    return tostring(x), (x > TWO53 or x < -TWO53)
  end
  local s = sformat("%.14g", x)
  if tonumber(s) ~= x then s = sformat("%.17g", x) end
  return s, false
end

local function jnum(x)
  local s, quoted = numtext(x)
  if quoted then return '"' .. s .. '"' end
  return s
end

-- What leaves the VM as values is bounded: tables nest at most MAX_DEPTH
-- levels and a result holds at most MAX_ITEMS values (past either, the rest
-- becomes "<truncated>" and the result says truncated). Shared subtables are
-- encoded once per reference (JSON has no sharing), so a DAG of twenty levels
-- would be a million nodes: MAX_ITEMS stops it after 10000. The bytes of the
-- JSON are checked against the room the exec has left (see exec_impl): as
-- it is built, against a lower bound (the raw bytes and quotes of strings,
-- which can be huge; every other piece is a few bytes and there are at most
-- MAX_ITEMS of them), so a huge string referenced many times is refused
-- before it is built; then exactly, on the finished text.
local MAX_DEPTH, MAX_ITEMS = 32, 10000

-- The encoder reads the clock every CLOCK_ITEMS values and every CLOCK_KEYS
-- keys of one table scan: it runs in runtime frames, which the deadline hook
-- exempts, so without this a huge table could be encoded past the deadline.
local CLOCK_ITEMS, CLOCK_KEYS = 1024, 16384

-- Raised inside the encoder (caught by encode_values): the JSON outgrew the
-- room it was given, or the deadline passed while encoding.
local ENC_OVER, ENC_TIMEOUT = {}, {}

local function keytext(k)
  local tk = type(k)
  if tk == "string" then return k end
  if tk == "number" then return (numtext(k)) end
  if tk == "boolean" then return k and "true" or "false" end
  return "<" .. tk .. ">"
end

-- Counts `n` more bytes (a lower bound of what is about to be appended).
local function grow(st, n)
  local b = st.bytes + n
  st.bytes = b
  if b > st.max then error(ENC_OVER, 0) end
end

local function check_clock(st)
  local d = st.deadline
  if d and st.clock() > d then error(ENC_TIMEOUT, 0) end
end

local encode
encode = function(v, st, depth)
  local buf = st.buf
  local tv = type(v)
  local items = st.items + 1
  st.items = items
  if items >= st.tick then st.tick = items + CLOCK_ITEMS; check_clock(st) end
  if tv == "string" then
    -- Checked before escaping: a 100 MB string under a 1 KB room is never copied.
    grow(st, #v + 2)
    buf[#buf + 1] = jstr(v)
  elseif tv == "number" then buf[#buf + 1] = jnum(v)
  elseif tv == "boolean" then buf[#buf + 1] = v and "true" or "false"
  elseif tv == "nil" then buf[#buf + 1] = "null"
  elseif tv == "table" then
    if depth > MAX_DEPTH then st.truncated = true; buf[#buf + 1] = '"<truncated>"'; return end
    if st.seen[v] then buf[#buf + 1] = '"<cycle>"'; return end
    st.seen[v] = true
    local count, maxk, is_array = 0, 0, true
    local k = next(v)
    while k ~= nil do
      count = count + 1
      if count % CLOCK_KEYS == 0 then check_clock(st) end
      if is_array then
        if type(k) == "number" and k >= 1 and k < huge and floor(k) == k then
          if k > maxk then maxk = k end
        else
          is_array = false
        end
      end
      k = next(v, k)
    end
    if count > 0 and is_array and maxk == count then
      buf[#buf + 1] = "["
      for i = 1, count do
        if i > 1 then buf[#buf + 1] = "," end
        if st.items >= MAX_ITEMS then st.truncated = true; buf[#buf + 1] = '"<truncated>"'; break end
        encode(rawget(v, i), st, depth + 1)
      end
      buf[#buf + 1] = "]"
    else
      buf[#buf + 1] = "{"
      local first = true
      k = next(v)
      while k ~= nil do
        if not first then buf[#buf + 1] = "," end
        first = false
        if st.items >= MAX_ITEMS then st.truncated = true; buf[#buf + 1] = '"<truncated>":"<truncated>"'; break end
        local key = keytext(k)
        grow(st, #key + 3)
        buf[#buf + 1] = jstr(key)
        buf[#buf + 1] = ":"
        encode(rawget(v, k), st, depth + 1)
        k = next(v, k)
      end
      buf[#buf + 1] = "}"
    end
    st.seen[v] = nil
  else
    buf[#buf + 1] = '"<' .. tv .. '>"'
  end
end

-- JSON of a string, number, boolean or nil; nil for anything else.
local function scalar_json(v)
  local tv = type(v)
  if tv == "string" then return jstr(v)
  elseif tv == "number" then return jnum(v)
  elseif tv == "boolean" then return v and "true" or "false"
  elseif tv == "nil" then return "null"
  end
  return nil
end

local function encode_all(res, first, last, st)
  local buf = st.buf
  for i = first, last do
    if i > first then buf[#buf + 1] = "," end
    if st.items >= MAX_ITEMS then st.truncated = true; buf[#buf + 1] = '"<truncated>"'; break end
    encode(res[i], st, 1)
  end
  buf[#buf + 1] = "]"
end

-- The JSON array of res[first..last], whose values (the text inside the
-- array's brackets) take at most `max` bytes (nil: no cap), checking
-- `clock` against `deadline` (both optional) as it goes. Returns
--   json, truncated        -- truncated: MAX_DEPTH or MAX_ITEMS cut something
--   nil, "over", bytes     -- more than `max` bytes (bytes: the size reached,
--                          -- exact when the whole text was built)
--   nil, "timeout"         -- the deadline passed while encoding
local function encode_values(res, first, last, max, clock, deadline)
  max = max or huge
  -- Most chunks return nothing or one plain value: no encoder state then.
  if last < first then return "[]", false end
  if last == first and (type(res[first]) ~= "string" or #res[first] + 2 <= max) then
    local s = scalar_json(res[first])
    if s then
      if #s > max then return nil, "over", #s end
      return "[" .. s .. "]", false
    end
  end
  local st = { buf = { "[" }, bytes = 0, max = max, items = 0, tick = CLOCK_ITEMS, seen = {},
    truncated = false, clock = clock, deadline = deadline }
  local ok, e = pcall(encode_all, res, first, last, st)
  if ok then
    local json = concat(st.buf)
    if #json - 2 > max then return nil, "over", #json - 2 end
    return json, st.truncated
  end
  if e == ENC_OVER then return nil, "over", st.bytes end
  if e == ENC_TIMEOUT then return nil, "timeout" end
  error(e, 0)
end

local function result_json(status, values, truncated, incomplete, err)
  -- One concatenation (one string built) for the common case; `status` is
  -- one of the runtime's own words, never user text: no escaping needed.
  local head = '{"status":"' .. status .. '","values":' .. (values or "[]")
    .. (truncated and ',"truncated":true' or ',"truncated":false')
    .. (incomplete and ',"incomplete":true' or ',"incomplete":false')
    .. (err and "" or "}")
  if not err then return head end
  local parts = { head, ',"error":{"message":', jstr(err.message) }
  if err.line then parts[#parts + 1] = ',"line":' .. sformat("%d", err.line) end
  if err.traceback then parts[#parts + 1] = ',"traceback":' .. jstr(err.traceback) end
  parts[#parts + 1] = ',"kind":' .. jstr(err.kind) .. "}}"
  return concat(parts)
end

---------------------------------------------------------------------------
-- Output routing: buffered in Lua, capped, flushed to the host's emit.
---------------------------------------------------------------------------
local function safe_emit(vm, stream, bytes)
  vm.unpushed = true
  pcall(vm.emit, stream, bytes)
end

-- The host's flush(), only when something was emitted since the last one:
-- a loop calling io.read or io.stdout:flush() with nothing new costs no
-- host call (on the pipe driver, no system call).
local function host_flush(vm)
  if vm.unpushed then
    vm.unpushed = false
    local f = vm.host_flush
    if f then pcall(f) end
  end
end

-- Hands the buffer to emit, one call per run of the same stream. `push`
-- (every flush but the end-of-exec one) also calls the host's flush() and
-- restarts the FLUSH_MS interval; `now` is the clock when the caller has it.
flush = function(vm, cur, push, now)
  local n = cur.n
  if n > 0 then
    S.flushing = true
    local pieces, streams = cur.pieces, cur.streams
    local i = 1
    while i <= n do
      local stream, j = streams[i], i
      while j < n and streams[j + 1] == stream do j = j + 1 end
      safe_emit(vm, stream, concat(pieces, "", i, j))
      i = j + 1
    end
    cur.pieces, cur.streams, cur.n, cur.buffered, cur.check = nil, nil, 0, 0, 1
    S.flushing = nil
  end
  if push then
    cur.last = now or vm.clock()
    host_flush(vm)
  end
end

-- What io.stdout:flush(), os.exit and friends do: everything buffered goes
-- to the host now, and the host's own channel is flushed.
local function flush_all(vm)
  local cur = S.cur
  if S.active == vm and cur then
    flush(vm, cur, true)
  else
    host_flush(vm)
  end
end

local function out_write(vm, stream, s)
  if #s == 0 then return end
  local cur = S.cur
  if S.active ~= vm or not cur then
    -- Outside an exec (a host calling into Lua directly): no cap applies.
    safe_emit(vm, stream, s)
    host_flush(vm)
    return
  end
  local over = false
  if cur.max then
    local room = cur.max - cur.total
    if #s > room then
      s = room > 0 and ssub(s, 1, room) or ""
      over = true
    end
  end
  if #s > 0 then
    local n = cur.n + 1
    local pieces = cur.pieces
    if not pieces then
      -- Made on the first write after a flush: most execs print nothing.
      pieces = {}
      cur.pieces, cur.streams = pieces, {}
    end
    cur.n, pieces[n], cur.streams[n] = n, s, stream
    cur.buffered, cur.total = cur.buffered + #s, cur.total + #s
    if cur.buffered >= FLUSH_AT then
      flush(vm, cur, true)
    elseif n >= cur.check then
      -- The slow path, taken on the first write into an empty buffer (the
      -- first output of an exec is always due: cur.last starts at -huge),
      -- then every CLOCK_EVERY writes when no deadline hook is armed to
      -- check the time, and on every write while a stand-in is unbuffered.
      local mode = vm.vbuf[stream]
      if mode == "no" or (mode == "line" and sfind(s, "\n", 1, true)) then
        flush(vm, cur, true)
      else
        local now = vm.clock()
        if now - cur.last >= FLUSH_MS then
          flush(vm, cur, true, now)
        elseif vm.vbuf[1] or vm.vbuf[2] then
          cur.check = n + 1
        else
          cur.check = S.deadline and huge or n + CLOCK_EVERY
        end
      end
    end
  end
  if over then
    cur.truncated = true
    abort("output-limit")
  end
end

local function make_print(vm)
  return function(...)
    local n = select("#", ...)
    local parts = { ... }
    for i = 1, n do
      local s = tostring(parts[i])
      if type(s) ~= "string" then error("'tostring' must return a string to 'print'", 2) end
      parts[i] = s
    end
    out_write(vm, 1, concat(parts, "\t", 1, n) .. "\n")
  end
end

-- io.write's number formatting (integers as %d, floats as %.14g), which
-- differs from tostring on 5.3+ (io.write(1.0) writes "1").
local function make_write(vm, stream)
  return function(...)
    local n = select("#", ...)
    local parts = { ... }
    for i = 1, n do
      local v = parts[i]
      local tv = type(v)
      if tv == "number" then
        parts[i] = (math_type and math_type(v) == "integer") and tostring(v) or sformat("%.14g", v)
      elseif tv ~= "string" then
        -- Level 3: this function is called by a file's write method, which
        -- io.write tail-calls; the user's call is the frame above that.
        error(sformat("bad argument #%d to 'write' (string expected, got %s)", i, tv), 3)
      end
    end
    out_write(vm, stream, concat(parts, "", 1, n))
  end
end

local function make_file(name, methods)
  local mt = {
    __index = methods, __name = "FILE*", __metatable = false,
    __tostring = function() return "file (luavm " .. name .. ")" end,
  }
  return setmetatable({}, mt)
end

local function no_lines() return function() return nil end end

-- A stdout/stderr stand-in whose writes go to the capture buffer. flush()
-- pushes the buffer to the host; setvbuf("no"/"line") pushes per write/line
-- (opt-in, as with C stdio); a new stand-in (new VM, reset) starts "full".
local function make_out_file(vm, stream, name)
  local w = make_write(vm, stream)
  vm.vbuf[stream] = nil
  local f
  f = make_file(name, {
    write = function(self, ...) w(...); return self end,
    flush = function(self) flush_all(vm); return self end,
    setvbuf = function(self, mode)
      if mode == "full" then
        vm.vbuf[stream] = nil
      elseif mode == "no" or mode == "line" then
        vm.vbuf[stream] = mode
        -- The running exec's next write must see the mode (slow path).
        if S.active == vm and S.cur then S.cur.check = 0 end
      else
        error("bad argument #1 to 'setvbuf' (invalid option '" .. tostring(mode) .. "')", 2)
      end
      return true
    end,
    close = function() return nil, "cannot close standard file" end,
    seek = function() return nil, "Illegal seek", 29 end,
    lines = no_lines,
    read = function() return nil, "Bad file descriptor", 9 end,
  })
  return f
end

-- Reading "stdin" yields nothing: the real stdin may be the driver's frame
-- channel, which user code must never consume.
local function empty_read(...)
  local n = select("#", ...)
  if n == 0 then return nil end
  local out = {}
  for i = 1, n do
    local fmt = select(i, ...)
    if fmt == "a" or fmt == "*a" then out[i] = "" else out[i] = nil; n = i; break end
  end
  return unpack(out, 1, n)
end

local function make_in_file()
  return make_file("stdin", {
    read = function(self, ...) return empty_read(...) end,
    lines = no_lines,
    close = function() return nil, "cannot close standard file" end,
    flush = function(self) return self end,
    setvbuf = function() return true end,
    seek = function() return nil, "Illegal seek", 29 end,
    write = function() return nil, "Bad file descriptor", 9 end,
  })
end

-- An io table routed to the capture buffer and cut off from stdin, built on
-- top of `base` (the full library for non-sandbox VMs and the `io` grant).
-- Paths that name the process's own standard streams or terminal (the
-- pipe driver's stdin/stdout are its frame channel): /dev/std*, /dev/fd/*,
-- /dev/tty*, /dev/console and anything under /proc/*/fd, however spelled
-- ("//", "/./", "../"). Checked by name: the sandbox has no fstat.
local function names_std_stream(path)
  if type(path) ~= "string" then return false end
  local prev
  for part in sgmatch(path, "[^/]+") do
    if prev == "dev" and (sfind(part, "^std") or part == "fd" or sfind(part, "^tty") or part == "console"
        or part == "pts") then
      return true
    end
    if part == "fd" or part == "fdinfo" then
      if sfind(path, "proc", 1, true) then return true end
    end
    if part ~= "." and part ~= "" then prev = part end
  end
  return false
end

-- io.open/io.lines that refuse the process's standard streams (sandbox
-- VMs with the io grant: their output must go through the capture).
local function guarded(fn, what)
  if not fn then return nil end
  return function(path, ...)
    if names_std_stream(path) then
      if what == "open" then return nil, tostring(path) .. ": the process's standard streams are not available", 13 end
      error(tostring(path) .. ": the process's standard streams are not available", 2)
    end
    return fn(path, ...)
  end
end

local function routed_io(vm, base, guard)
  local io = base
  local out, err, inp = make_out_file(vm, 1, "stdout"), make_out_file(vm, 2, "stderr"), make_in_file()
  local cur_out, cur_in = out, inp
  -- Whether io.read may block: not on the stdin stand-in (it returns at
  -- once) nor on a file io.input() opened by name, so a loop of io.read()
  -- and print() over a file still batches its output; yes on a handle the
  -- code passed in (an io.popen pipe, typically).
  local in_may_block = false
  local real_io = ORIG.io or {}
  local real_open, real_type, real_lines = real_io.open, real_io.type, real_io.lines
  if guard then
    real_open, real_lines = guarded(real_open, "open"), guarded(real_lines, "lines")
    if io.open ~= nil then io.open = real_open end
  end
  io.stdout, io.stderr, io.stdin = out, err, inp
  io.write = function(...) return cur_out:write(...) end
  -- A read that may block (see in_may_block) pushes what was printed
  -- before it (a prompt, a progress line) first.
  io.read = function(...)
    if in_may_block then flush_all(vm) end
    return cur_in:read(...)
  end
  io.flush = function()
    local f = cur_out
    if f == out or f == err then
      flush_all(vm)
      return true
    end
    return f:flush()
  end
  -- Wrapped only where present: a host that removed popen (after loading
  -- the runtime) must not get it back from the pristine copy.
  local real_popen = real_io.popen
  if real_popen and io.popen ~= nil then
    -- The child runs alongside (and may outlive a hard kill of) this
    -- process: output so far goes first. A write-mode child inherits our
    -- stdout, which may be the frame channel (child_stdout = "stderr").
    io.popen = function(cmd, mode, ...)
      flush_all(vm)
      if vm.child_stdout == "stderr" and (type(cmd) == "string" or type(cmd) == "number")
        and type(mode) == "string" and sfind(mode, "w", 1, true) then
        cmd = CHILD_TO_STDERR .. cmd
      end
      return real_popen(cmd, mode, ...)
    end
  end
  io.output = function(f)
    if f == nil then return cur_out end
    if type(f) == "string" then
      local h, e = real_open(f, "w")
      if not h then error(e, 2) end
      f = h
    end
    cur_out = f
    return f
  end
  io.input = function(f)
    if f == nil then return cur_in end
    local by_name = type(f) == "string"
    if by_name then
      local h, e = real_open(f, "r")
      if not h then error(e, 2) end
      f = h
    end
    cur_in, in_may_block = f, not by_name and f ~= inp
    return f
  end
  io.lines = function(name, ...)
    if name == nil then return cur_in:lines(...) end
    return real_lines(name, ...)
  end
  io.type = function(f)
    if f == out or f == err or f == inp then return "file" end
    if real_type then return real_type(f) end
    return nil
  end
  io.close = function(f)
    if f == nil then return cur_out:close() end
    return f:close()
  end
  return io, out
end

-- os.execute and os.exit on top of `os_lib` (the real os table in
-- non-sandbox mode, a copy for the `os` grant), built from the pristine
-- functions so re-applying them (reset) never stacks wrappers, and only
-- where present (a host or user that removed one keeps it removed). Both
-- push the output first: os.execute may block past a hard kill, and
-- os.exit ends the process with the buffer (and the host channel) unsent.
local function routed_os(vm, os_lib)
  local real = ORIG.os or {}
  local real_execute, real_exit = real.execute, real.exit
  if real_execute and os_lib.execute ~= nil then
    os_lib.execute = function(cmd, ...)
      flush_all(vm)
      if vm.child_stdout == "stderr" and (type(cmd) == "string" or type(cmd) == "number") then
        cmd = CHILD_TO_STDERR .. cmd
      end
      return real_execute(cmd, ...)
    end
  end
  if real_exit and os_lib.exit ~= nil then
    os_lib.exit = function(...)
      flush_all(vm)
      return real_exit(...)
    end
  end
  return os_lib
end

---------------------------------------------------------------------------
-- The sandbox
---------------------------------------------------------------------------
local KNOWN_GRANTS = {
  io = true, os = true, debug = true, package = true, require = true,
  ["string.dump"] = true, collectgarbage = true, dofile = true, loadfile = true,
  ["load.binary"] = true,
}

-- The string library as seen through string values (`("x"):upper()`):
-- read-only and without dump, so neither tampering nor bytecode leaks.
local STRING_SAFE = copy(ORIG.string)
STRING_SAFE.dump = nil
local STRING_PROXY = setmetatable({}, {
  __index = STRING_SAFE,
  __newindex = function() error("the string library seen through strings is read-only", 2) end,
  __metatable = false,
})
local FROZEN_MARKER = setmetatable({}, {
  __newindex = function() error("the string metatable is locked", 2) end,
  __metatable = FROZEN_TAG,
})

-- Once per lua_State: tampering through getmetatable("") must not reach
-- later execs or other VMs. Idempotent across runtime instances too.
local function lock_string_metatable()
  local smt = dgetmetatable("")
  if type(smt) ~= "table" then return end
  if rawget(smt, "__metatable") ~= nil or getmetatable(smt) == FROZEN_TAG then return end
  rawset(smt, "__index", STRING_PROXY)
  rawset(smt, "__metatable", FROZEN_MARKER)
end

local function make_load(vm)
  return function(chunk, name, mode, ...)
    local has_env, env = select("#", ...) > 0, ...
    if type(chunk) == "function" then
      -- Reader functions are drained here so the text-mode check sees the
      -- whole chunk, not just its first piece.
      local parts = {}
      while true do
        local piece = chunk()
        -- This loop is runtime code, which the abort hook never raises in;
        -- a C reader (os.date) would otherwise spin here past the deadline.
        if S.aborting then error(SENTINEL, 0) end
        if piece == nil or piece == "" then break end
        if type(piece) ~= "string" then return nil, "reader function must return a string" end
        parts[#parts + 1] = piece
      end
      chunk = concat(parts)
      if name == nil then name = "=(load)" end
    elseif type(chunk) ~= "string" then
      error("bad argument #1 to 'load' (string expected, got " .. type(chunk) .. ")", 2)
    end
    if name == nil then name = chunk elseif type(name) ~= "string" then name = tostring(name) end
    local binary_ok = vm.binary_ok and mode ~= "t"
    if not has_env then env = vm.env end
    if LOAD_ENV then
      if name == RUNTIME_SOURCE then name = name .. "'" end
      if not binary_ok and sbyte(chunk, 1) == 27 then
        return nil, "attempt to load a binary chunk (mode is 't')"
      end
      return load(chunk, name, binary_ok and (mode or "bt") or "t", env)
    end
    return compile(chunk, name, env, binary_ok)
  end
end

-- Where `require` looks on disk (grants `require`/`package`): the sandbox's
-- own package table when granted (its path can be changed), else the
-- interpreter's. package.searchpath is 5.2+; 5.1 gets the same search.
local function search_path(name, path)
  if type(path) ~= "string" then return nil end
  local pkg = ORIG.package
  if pkg and pkg.searchpath then return (pkg.searchpath(name, path)) end
  local open = ORIG.io and ORIG.io.open
  if not open then return nil end
  local file = sgsub(name, "%.", "/")
  for template in sgmatch(path, "[^;]+") do
    local candidate = sgsub(template, "%?", file)
    local f = open(candidate, "r")
    if f then f:close() return candidate end
  end
  return nil
end

-- A Lua module file, compiled as text into the sandbox's env: never into
-- the interpreter's real _G (whose os and io are the unrestricted ones).
local function load_module_file(vm, path, name)
  local real = ORIG.loadfile
  if not real then return nil end
  local f, err
  if LOAD_ENV then
    f, err = real(path, "t", vm.env)
  else
    f, err = real(path)
    if f and setfenv then setfenv(f, vm.env) end
  end
  if not f then error("error loading module '" .. name .. "' from file '" .. path .. "':\n\t" .. tostring(err), 3) end
  return f
end

-- A C module (grant `package` only: native code reaches everything the
-- interpreter can), the way Lua's own C searcher finds and opens it.
local function load_c_module(vm, name, cpath)
  local loadlib = ORIG.package and ORIG.package.loadlib
  local path = loadlib and search_path(name, cpath)
  if not path then return nil end
  local sym = "luaopen_" .. sgsub(sgsub(name, "^[^%-]*%-", ""), "%.", "_")
  local f, err = loadlib(path, sym)
  if not f then error("error loading module '" .. name .. "' from file '" .. path .. "':\n\t" .. tostring(err), 3) end
  return f
end

-- `require`: the VM's loaded modules (its libraries first), then modules
-- the host mounted. With the `require` grant, pure-Lua files on
-- package.path too (as text, into the sandbox env); with the `package`
-- grant, package.preload and C modules on package.cpath. Never the
-- interpreter's own require, whose package.loaded holds the real os, io
-- and debug.
local function make_require(vm)
  return function(name)
    if type(name) ~= "string" then
      error("bad argument #1 to 'require' (string expected, got " .. type(name) .. ")", 2)
    end
    local loaded = vm.loaded
    local v = loaded[name]
    if v ~= nil then return v end
    local grants, pkg = vm.grants, vm.env.package
    local f
    local src = vm.mounts[name]
    if src ~= nil then
      local err
      f, err = compile(src, "=" .. name, vm.env, false)
      if not f then error("error loading module '" .. name .. "':\n\t" .. tostring(err), 2) end
    end
    if not f and grants.package and type(pkg) == "table" and type(pkg.preload) == "table" then
      f = pkg.preload[name]
    end
    if not f and grants.require then
      local path = type(pkg) == "table" and pkg.path or (ORIG.package and ORIG.package.path)
      local file = search_path(name, path)
      if file then f = load_module_file(vm, file, name) end
    end
    if not f and grants.package then
      f = load_c_module(vm, name, type(pkg) == "table" and pkg.cpath or (ORIG.package and ORIG.package.cpath))
    end
    if not f then
      error("module '" .. name .. "' not found (" .. (grants.require and "not mounted nor on package.path" or "only modules mounted by the host can be required") .. ")", 2)
    end
    local r = f(name)
    if r == nil then r = loaded[name] end
    if r == nil then r = true end
    loaded[name] = r
    return r
  end
end

local function sandbox_collectgarbage(opt)
  if opt == "count" then
    if real_collectgarbage then
      local ok, kb, extra = pcall(real_collectgarbage, "count")
      if ok and type(kb) == "number" then return kb, extra end
    end
    return 0
  end
  error("collectgarbage: only \"count\" is allowed in the sandbox", 2)
end

-- __gc finalizers run with hooks disabled on every PUC Lua (lgc.c GCTM sets
-- allowhook = 0), so a finalizer loop could never be cut by the deadline.
-- The sandbox refuses them instead.
local function sandbox_setmetatable(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("__gc metamethods are not allowed in the sandbox", 2)
  end
  local ok, r = pcall(setmetatable, t, mt)
  if not ok then rethrow("setmetatable", r) end
  return r
end

local BASE_NAMES = {
  "assert", "error", "ipairs", "next", "pairs", "select", "tonumber", "tostring",
  "type", "rawequal", "rawget", "rawset", "rawlen", "getmetatable", "unpack", "_VERSION",
}
local ORIG_BASE = {}
for i = 1, #BASE_NAMES do ORIG_BASE[BASE_NAMES[i]] = G[BASE_NAMES[i]] end

local function sandbox_loadfile(vm)
  local real = ORIG.loadfile
  return function(path, mode, ...)
    if type(path) ~= "string" then
      error("bad argument #1 to 'loadfile' (file name expected; stdin is not available)", 2)
    end
    local has_env, env = select("#", ...) > 0, ...
    if not has_env then env = vm.env end
    local m = vm.binary_ok and (mode or "bt") or "t"
    if LOAD_ENV then return real(path, m, env) end
    local f, err = real(path)
    if not f then return nil, err end
    if setfenv and env ~= nil then setfenv(f, env) end
    return f
  end
end

local function build_sandbox(vm)
  local env = {}
  for k, v in next, ORIG_BASE do env[k] = v end
  local grants = vm.grants
  env.pcall, env.xpcall = wrapped_pcall, wrapped_xpcall
  env.print = vm.print
  env.setmetatable = sandbox_setmetatable
  env.load = make_load(vm)
  if loadstring then
    local l = env.load
    env.loadstring = function(s, name)
      if type(s) ~= "string" then
        error("bad argument #1 to 'loadstring' (string expected, got " .. type(s) .. ")", 2)
      end
      return l(s, name)
    end
  end
  env.math = copy(ORIG.math)
  env.table = copy(ORIG.table)
  if ORIG.utf8 then env.utf8 = copy(ORIG.utf8) end
  if ORIG.bit32 then env.bit32 = copy(ORIG.bit32) end
  if ORIG.bit then env.bit = copy(ORIG.bit) end
  env.string = copy(ORIG.string)
  if not grants["string.dump"] then env.string.dump = nil end
  local co = copy(ORIG.coroutine)
  co.create, co.resume, co.wrap = wrapped_create, wrapped_resume, wrapped_wrap
  env.coroutine = co
  local os_lib = ORIG.os or {}
  if grants.os then
    env.os = routed_os(vm, copy(os_lib))
  else
    env.os = { clock = os_lib.clock, time = os_lib.time, date = os_lib.date, difftime = os_lib.difftime }
  end
  if grants.io and ORIG.io then
    env.io = routed_io(vm, copy(ORIG.io), true)
  else
    local out, err = make_out_file(vm, 1, "stdout"), make_out_file(vm, 2, "stderr")
    env.io = {
      stdout = out, stderr = err,
      write = function(...) return out:write(...) end,
      flush = function() out:flush() return true end,
    }
  end
  env.collectgarbage = grants.collectgarbage and real_collectgarbage or sandbox_collectgarbage
  if grants.debug and ORIG.debug then env.debug = copy(ORIG.debug) end
  -- The package grant: the package library around this VM's own loaded
  -- table (so package.loaded.os is this env's os), with loadlib and the
  -- C-module search (native code); never the interpreter's searchers or
  -- package.loaded, which would load into, or hand out, the real _G's.
  local loaded = { _G = env }
  if grants.package and ORIG.package then
    local real = ORIG.package
    env.package = {
      path = real.path, cpath = real.cpath, config = real.config,
      searchpath = real.searchpath, loadlib = real.loadlib,
      preload = {}, loaded = loaded,
    }
  end
  env.require = make_require(vm)
  if grants.loadfile and ORIG.loadfile then env.loadfile = sandbox_loadfile(vm) end
  if grants.dofile and ORIG.loadfile then
    local lf = sandbox_loadfile(vm)
    env.dofile = function(path)
      local f, err = lf(path)
      if not f then error(err, 2) end
      return f()
    end
  end
  if vm.host ~= nil then env.host = vm.host end
  env._G = env
  -- require("string") etc. return this env's libraries, as in `lua`.
  for _, lib in ipairs({ "string", "table", "math", "coroutine", "utf8", "bit32", "bit", "os", "io", "debug", "package" }) do
    if env[lib] ~= nil then loaded[lib] = env[lib] end
  end
  vm.loaded = loaded
  return env
end

---------------------------------------------------------------------------
-- Non-sandbox mode: the real _G, with output routed and stdin cut off.
---------------------------------------------------------------------------
-- Called by new() and again by reset(), so everything routed here (output,
-- stdin, the child-process and exit wrappers) survives a reset.
local function route_globals(vm)
  G.print = vm.print
  G.pcall, G.xpcall = wrapped_pcall, wrapped_xpcall
  coroutine.create, coroutine.resume, coroutine.wrap = wrapped_create, wrapped_resume, wrapped_wrap
  if type(G.io) == "table" then routed_io(vm, G.io) end
  if type(G.os) == "table" then routed_os(vm, G.os) end
end

local function snapshot(t)
  local s = {}
  for k, v in next, t do s[k] = v end
  return s
end

local function restore(t, snap)
  local k = next(t)
  while k ~= nil do
    local nk = next(t, k)
    if snap[k] == nil then rawset(t, k, nil) end
    k = nk
  end
  for key, v in next, snap do rawset(t, key, v) end
end

---------------------------------------------------------------------------
-- Errors
---------------------------------------------------------------------------
local function handler(e)
  if S.aborting then return e end
  if traceback then S.tb = traceback("", 2) end
  return e
end

local function error_message(e)
  local te = type(e)
  if te == "string" then return e end
  if te == "number" then return tostring(e) end
  local mt = dgetmetatable(e)
  if type(mt) == "table" and rawget(mt, "__tostring") ~= nil then
    local ok, s = pcall(tostring, e)
    if ok and type(s) == "string" then return s end
  end
  return "(error object is a " .. te .. " value)"
end

-- Keeps only the user's frames: everything below the exec's own main chunk
-- (the runtime, the driver, the host) is cut, and runtime frames in between
-- (wrapped pcall, print, require) are dropped.
local function clean_traceback(tb, chunkname)
  if type(tb) ~= "string" then return nil end
  if ssub(tb, 1, 1) == "\n" then tb = ssub(tb, 2) end
  local lines = {}
  for line in sgmatch(tb .. "\n", "(.-)\n") do lines[#lines + 1] = line end
  local main = "\t" .. chunkname .. ":"
  for i = #lines, 2, -1 do
    local l = lines[i]
    if ssub(l, 1, #main) == main and sfind(l, "^%d+: in main chunk$", #main + 1) then
      for j = #lines, i + 1, -1 do lines[j] = nil end
      break
    end
  end
  local kept = {}
  local prefix = RUNTIME_SHORT_SRC and ("\t" .. RUNTIME_SHORT_SRC .. ":")
  for i = 1, #lines do
    local l = lines[i]
    if not (prefix and ssub(l, 1, #prefix) == prefix) then kept[#kept + 1] = l end
  end
  while #kept > 1 do
    local last = kept[#kept]
    if sfind(last, "^%s*%[C%]:") or sfind(last, "^%s*%(%.%.%.tail calls%.%.%.%)") then
      kept[#kept] = nil
    else
      break
    end
  end
  return concat(kept, "\n")
end

-- LUA_ERRMEM carries exactly this message; 5.3's lauxlib buffers raise an
-- ordinary error with a position prefix instead when growing fails.
local function is_memory_error(e)
  return e == "not enough memory"
    or (type(e) == "string" and sfind(e, "not enough memory for buffer allocation", 1, true) ~= nil)
end

local function error_line(msg, chunkname)
  local prefix = chunkname .. ":"
  if ssub(msg, 1, #prefix) ~= prefix then return nil end
  local line = smatch(msg, "^(%d+):", #prefix + 1)
  return line and tonumber(line) or nil
end

local function int_bits()
  local mi = math.maxinteger
  if not math_type or type(mi) ~= "number" then return nil end
  if mi == 2147483647 then return 32 end
  if mi > TWO53 then return 64 end
  return nil
end

---------------------------------------------------------------------------
-- The VM object
---------------------------------------------------------------------------
local VM = {}
VM.__index = VM

local function default_clock()
  local c = ORIG.os and ORIG.os.clock
  return c and (c() * 1000) or 0
end

function M.new(opts)
  opts = opts or {}
  local vm = setmetatable({}, VM)
  vm.sandbox = opts.sandbox ~= false
  vm.emit = type(opts.emit) == "function" and opts.emit or function() end
  vm.clock = type(opts.clock) == "function" and opts.clock or default_clock
  vm.host = opts.host
  vm.host_flush = type(opts.flush) == "function" and opts.flush or nil
  local cs = opts.child_stdout
  if cs ~= nil and cs ~= "inherit" and cs ~= "stderr" then
    error("child_stdout must be \"inherit\" or \"stderr\", got " .. tostring(cs), 2)
  end
  vm.child_stdout = cs
  vm.vbuf = {}        -- stream -> "no" | "line" (setvbuf on the stand-ins); nil = full
  vm.unpushed = false -- emitted since the last host flush()
  local hc = tonumber(opts.hook_count)
  vm.hook_count = (hc and hc >= 1) and floor(hc) or HOOK_COUNT
  vm.grants = {}
  vm.mounts = {}
  vm.loaded = {}
  for _, g in ipairs(opts.grants or {}) do
    if not KNOWN_GRANTS[g] then
      local names = {}
      for k in next, KNOWN_GRANTS do names[#names + 1] = k end
      tsort(names)
      error("unknown grant '" .. tostring(g) .. "' (allowed: " .. concat(names, ", ") .. ")", 2)
    end
    vm.grants[g] = true
  end
  vm.binary_ok = vm.sandbox and vm.grants["load.binary"] or not vm.sandbox
  vm.print = make_print(vm)
  if vm.sandbox then
    lock_string_metatable()
    vm.env = build_sandbox(vm)
  else
    vm.env = G
    route_globals(vm)
    vm.snap_g = snapshot(G)
    vm.snap_gmt = getmetatable(G)
    if ORIG.package and type(ORIG.package.loaded) == "table" then
      vm.snap_loaded = snapshot(ORIG.package.loaded)
    end
  end
  return vm
end

local function new_output_state(max)
  max = tonumber(max)
  if max and max < 0 then max = 0 end
  return {
    -- pieces/streams: the buffered writes, made on the first one (out_write).
    n = 0, buffered = 0, total = 0, max = max and floor(max), truncated = false,
    last = -huge, -- clock of the last push; -huge makes the first output go out at once
    check = 1,    -- out_write takes its slow path (clock, setvbuf) when n reaches this
  }
end

-- Clears the exec thread's hook (the deadline's, or one the user set with
-- the debug grant) once no user code is left to run: on 5.3+ every
-- instruction runs through the hook machinery while any count hook is set,
-- so the runtime's own bookkeeping after the chunk (encoding the result) is
-- cheaper without it. Called on the exec's own thread (S.main), so
-- sethook() clears that one; coroutines an abort armed drop their hook on
-- its next call (see hook).
local function unhook()
  if sethook then sethook() end
  S.unhooked = true
end

local function finish(vm)
  if not S.unhooked then unhook() end
  if S.jit_was_on then jit_lib.on() end
  local cur = S.cur
  S.active, S.cur, S.aborting, S.deadline, S.clock, S.main, S.tb = nil, nil, nil, nil, nil, nil, nil
  S.flushing, S.jit_was_on, S.unhooked = nil, nil, nil
  -- No host flush(): the host gets the result next and delivers this first.
  if cur then flush(vm, cur) end
  return cur
end

-- Bytes the result may still carry: what the output cap leaves after
-- stdout and stderr, and at most `max_result` (the pipe driver's frame
-- limit, when it passes one). The second result says the frame limit is
-- the tighter one.
local function result_room(cur, max_result)
  local room = cur.max and (cur.max - cur.total) or huge
  if room < 0 then room = 0 end
  max_result = tonumber(max_result)
  if max_result and max_result < room then return floor(max_result), true end
  return room, false
end

-- JSON escaping makes a byte at most six ("\u0001"): an error's text is
-- cut to a sixth of the frame limit so its escaped form still fits.
local ESCAPED_MAX = 6

-- Cuts an error's message, then its traceback, to the bytes the result may
-- still carry (see result_room); the result then says truncated. Counted in
-- bytes of the text, as stdout and stderr are.
local function cap_error(cur, err, max_result)
  local room = result_room(cur, max_result and floor(tonumber(max_result) / ESCAPED_MAX))
  local msg, tb = err.message, err.traceback
  if #msg > room then
    err.message, err.traceback, cur.truncated = ssub(msg, 1, room), nil, true
    return
  end
  room = room - #msg
  if tb and #tb > room then
    err.traceback, cur.truncated = room > 0 and ssub(tb, 1, room) or nil, true
  end
end

local function exec_impl(vm, code, o)
  -- Every option is read here, before any user code runs.
  local chunkname, echo, repl, timeout = o.chunkname, o.echo ~= false, o.repl, tonumber(o.timeout_ms)
  if type(code) ~= "string" then code = tostring(code) end
  if type(chunkname) ~= "string" or chunkname == "" then chunkname = "chunk" end
  local cur = new_output_state(o.max_output)
  S.active, S.cur, S.aborting, S.tb = vm, cur, nil, nil
  S.clock = vm.clock
  local main = co_running and co_running()
  if type(main) == "thread" then S.main = main end
  if timeout and timeout > 0 and sethook then
    S.deadline = vm.clock() + timeout
    if jit_lib and jit_lib.status() then
      -- LuaJIT never calls hooks from compiled traces: run interpreted.
      S.jit_was_on = true
      jit_lib.off()
      jit_lib.flush()
    end
    S.count = vm.hook_count
  end

  local name = "=" .. chunkname
  local env, binary_ok = vm.env, vm.binary_ok
  local fn, cerr, incomplete, arg_form
  if repl then
    if ssub(code, 1, 1) == "=" then
      fn, cerr, arg_form = compile_expr(ssub(code, 2), name, env, binary_ok)
    else
      fn, cerr, arg_form = compile_expr(code, name, env, binary_ok)
      if not fn then fn, cerr = compile(code, name, env, binary_ok) end
    end
    if not fn and is_incomplete(cerr) then incomplete = true end
  else
    fn, cerr = compile(code, name, env, binary_ok)
  end

  local status, values, err = "ok", nil, nil
  if incomplete then
    status = "ok"
  elseif not fn then
    cerr = tostring(cerr)
    if cerr == "not enough memory" then
      status, err = "memory", { message = cerr, kind = "runtime" }
    else
      status, err = "error", { message = cerr, kind = "syntax", line = error_line(cerr, chunkname) }
    end
  else
    -- Armed only now: compiling is a C call, which the hook cannot
    -- interrupt anyway (the deadline check after the call covers it).
    if S.deadline then sethook(hook, "", S.count) end
    local res
    if arg_form then
      res = pack(xpcall(fn, handler, identity))
    else
      res = pack(xpcall(fn, handler))
    end
    local ok, e = res[1], res[2]
    local echoing = ok and echo and res.n > 1 and not S.aborting
    -- Only the echo and an error object's __tostring can still run user
    -- code; without them the hook can go now (see unhook). After an abort
    -- neither runs, and the abort's every-instruction hook would otherwise
    -- tax each step of the bookkeeping below (tens of ms on fengari, where
    -- the host's hard kill is waiting).
    if S.aborting or (ok and not echoing) then unhook() end
    -- A long C call (a pathological pattern, a huge string.rep) runs with no
    -- hook calls at all; if it ended past the deadline, the run still timed
    -- out, even though no instruction was left to notice.
    if not S.aborting and S.deadline and S.clock() > S.deadline then S.aborting = "timeout" end
    if echoing then
      if XPCALL_ARGS then
        ok, e = xpcall(vm.print, handler, unpack(res, 2, res.n))
      else
        ok, e = xpcall(function() vm.print(unpack(res, 2, res.n)) end, handler)
      end
    end
    if S.aborting then
      status = S.aborting
    elseif ok then
      -- Encoding reads values raw (no metamethods): no user code runs now.
      if not S.unhooked then unhook() end
      local room, framed = result_room(cur, o.max_result)
      local json, why, size = encode_values(res, 2, res.n, room, S.clock, S.deadline)
      if json then
        values = json
        if why then cur.truncated = true end
      elseif why == "timeout" then
        status = "timeout"
      else
        status, cur.truncated = "output-limit", true
        err = { kind = "runtime", message = framed
          and sformat("returned values too large: at least %d bytes as JSON, over the %d bytes a result of this backend can carry", size, room)
          or sformat("returned values too large: at least %d bytes as JSON, over the %d bytes left of the output limit of %d bytes", size, room, cur.max) }
      end
    elseif is_memory_error(e) then
      status, err = "memory", { message = e, kind = "runtime", line = error_line(e, chunkname) }
    else
      -- error_message may call the error object's __tostring: still hooked.
      local tb = S.tb
      local msg = error_message(e)
      if S.aborting then
        status = S.aborting
      else
        status = "error"
        err = { message = msg, kind = "runtime", line = error_line(msg, chunkname), traceback = clean_traceback(tb, chunkname) }
      end
    end
  end
  if status == "timeout" then
    err = { message = sformat("execution timed out after %s ms", numtext(timeout)), kind = "runtime" }
  elseif status == "output-limit" then
    err = err or { message = sformat("output limit of %d bytes exceeded", cur.max or 0), kind = "runtime" }
  elseif err then
    -- The message (syntax errors quote the source, error() takes any
    -- string) and traceback leave the VM too: they count against the cap.
    cap_error(cur, err, o.max_result)
  end
  finish(vm)
  return result_json(status, values, cur.truncated, incomplete, err)
end

--- Runs `code`; never throws; returns one JSON string (see header).
function VM:exec(code, o)
  if S.active then
    return result_json("error", nil, false, false,
      { message = "luavm: exec is not reentrant (another exec is running in this Lua state)", kind = "runtime" })
  end
  o = type(o) == "table" and o or {}
  local ok, res = pcall(exec_impl, self, code, o)
  if ok then return res end
  local cur = finish(self)
  local err = { message = "luavm runtime failure: " .. error_message(res), kind = "runtime" }
  local status = is_memory_error(res) and "memory" or "error"
  if cur then cap_error(cur, err, o.max_result) end
  return result_json(status, nil, cur and cur.truncated, false, err)
end

--- Drops user state: a fresh env (sandbox) or the globals as they were at
--- `new` (non-sandbox). Mounted module sources persist; their loaded
--- instances do not, since they were bound to the old env.
function VM:reset()
  self.loaded = {}
  if self.sandbox then
    -- (build_sandbox makes the new env's loaded table.)
    self.env = build_sandbox(self)
  else
    restore(G, self.snap_g)
    setmetatable(G, self.snap_gmt)
    route_globals(self)
    self.snap_g = snapshot(G)
    if self.snap_loaded then restore(ORIG.package.loaded, self.snap_loaded) end
    for name in next, self.mounts do self:mount(name, self.mounts[name]) end
  end
end

--- Makes a pure-Lua module available to `require`. Returns true, or nil and
--- a message when the name is invalid or the source does not compile.
function VM:mount(name, source)
  if type(name) ~= "string" or not sfind(name, "^[%w_][%w_%.%-]*$") then
    return nil, "invalid module name " .. jstr(tostring(name))
  end
  if type(source) ~= "string" then return nil, "module source must be a string" end
  local f, err = compile(source, "=" .. name, self.env, false)
  if not f then return nil, tostring(err) end
  self.mounts[name] = source
  if self.sandbox then
    self.loaded[name] = nil
  else
    local pkg = ORIG.package
    if pkg then
      local env = self.env
      pkg.preload[name] = function(...)
        local chunk, e = compile(source, "=" .. name, env, false)
        if not chunk then error(e, 2) end
        return chunk(...)
      end
      pkg.loaded[name] = nil
    end
  end
  return true
end

--- Facts about the interpreter, as JSON.
function VM:info()
  local bits = int_bits()
  return concat({
    '{"lua":', jstr(tostring(G._VERSION or _VERSION)),
    ',"jit":', (jit_lib and type(jit_lib.version) == "string") and jstr(jit_lib.version) or "null",
    ',"int_bits":', bits and tostring(bits) or "null",
    ',"sandbox":', self.sandbox and "true" or "false",
    ',"hooks":', sethook and "true" or "false",
    "}",
  })
end

M.encode_values = function(...)
  local res = pack(...)
  return (encode_values(res, 1, res.n))
end

return M
