-- luavm driver: framed stdin/stdout loop for pipes (process backend) and
-- SSH channels (xcpng backend), running user code through the runtime.
--
-- How it starts. The host runs `lua5.x -e <BOOTSTRAP_LUA>` (code never
-- appears in argv) and writes one header line `<n>\n` followed by n bytes of
-- program text. The program is built by the host (buildDriverProgram() in
-- src/protocol/driver-protocol.ts) as:
--
--   local LUAVM_RUNTIME = (function(...)
--   <runtime.lua>
--   end)(...)
--   <driver.lua>
--
-- i.e. runtime.lua becomes the body of a function whose result (the module
-- table M) is bound to the local LUAVM_RUNTIME this file reads. The whole
-- program is compiled once with chunkname "=luavm-driver", so runtime and
-- driver frames share one source that the runtime strips from tracebacks
-- and exempts from the abort hook.
--
-- Frames, both ways: ASCII header `<T> <len>\n`, then exactly len bytes.
--   host -> driver
--     I  init; `key=value\n` lines: sandbox=0|1, grants=a,b, maxframe=n (the
--        largest frame the host accepts). Must come first.
--     X  exec; `key=value\n` lines (id, chunk, echo, repl, timeout, maxout),
--        an empty line, then the code bytes verbatim.
--     R  reset.   M  mount; payload `name\n<source>`.   Q  quit (exit 0).
--   driver -> host
--     H  hello after I: vm:info() JSON plus "protocol":1.
--     1  stdout bytes.   2  stderr bytes.
--     D  done: after X, the exec JSON with "id" added; after R and M, an
--        acknowledgement {"status":"ok"} or {"status":"error","error":{...}}
--        so the host can serialize requests and learn about bad mounts.
--     E  fatal protocol error (message), then exit with status 2.
-- End of input at a frame boundary is a clean shutdown (exit 0).

local M = LUAVM_RUNTIME
local stdin, stdout = io.stdin, io.stdout
local tonumber, tostring = tonumber, tostring
local sfind, ssub, smatch, sgmatch = string.find, string.sub, string.match, string.gmatch
local exit = os.exit

local PROTOCOL = 1
-- Largest frame the driver accepts; a bigger header means the stream is
-- out of sync, not that the host really sent a gigabyte.
local MAX_FRAME = 1073741824

stdout:setvbuf("full")

local function send(t, payload)
  stdout:write(t, " ", #payload, "\n", payload)
end

-- The largest frame the host accepts (init's maxframe; the host's default
-- when absent). Output is sent in frames of at most OUT_FRAME bytes, and a
-- result is capped so that its D frame fits: a bigger one would break the
-- stream, which the host could only report as a broken channel.
local max_frame = 268435456
local OUT_FRAME = 1048576
-- Room in a D frame for the envelope around the values or error text:
-- the id, status, flags and keys (well under this).
local FRAME_ENVELOPE = 1024

local function send_output(t, bytes)
  local n, size = #bytes, OUT_FRAME < max_frame and OUT_FRAME or max_frame
  if n <= size then return send(t, bytes) end
  for i = 1, n, size do send(t, ssub(bytes, i, i + size - 1)) end
end

local function fatal(msg)
  send("E", msg)
  stdout:flush()
  exit(2)
end

local function read_frame()
  local header = stdin:read("*l")
  if header == nil then return nil end
  local t, n = smatch(header, "^(.) (%d+)$")
  if not t then fatal("malformed frame header: " .. ssub(header, 1, 40)) end
  n = tonumber(n)
  if n > MAX_FRAME then fatal("frame too large: " .. n .. " bytes") end
  local payload = ""
  if n > 0 then
    payload = stdin:read(n)
    if payload == nil or #payload ~= n then fatal("truncated frame: end of input inside a '" .. t .. "' frame") end
  end
  return t, payload
end

local function parse_kv(text)
  local kv = {}
  for line in sgmatch(text, "[^\n]+") do
    local k, v = smatch(line, "^([^=]+)=(.*)$")
    if not k then fatal("malformed header line: " .. ssub(line, 1, 40)) end
    kv[k] = v
  end
  return kv
end

local function json_str(s)
  return M.encode_values(s):sub(2, -2)
end

local function ack(ok, err)
  if ok then
    send("D", '{"status":"ok"}')
  else
    send("D", '{"status":"error","error":{"message":' .. json_str(tostring(err)) .. ',"kind":"runtime"}}')
  end
  stdout:flush()
end

-- The runtime's default clock is os.clock(), CPU time, which lags the wall
-- clock when the machine is busy: the host's hard kill (deadline + grace,
-- grace 100 ms by default) would then come before the hook's soft stop and
-- cost the VM its state. Where /proc/self/schedstat exists (Linux: the
-- process backend and XCP-ng guests), the clock is the time the process
-- was runnable: on a CPU plus waiting in the run queue for one. That is
-- wall time while the chunk computes, however busy the machine, and never
-- ahead of wall time (so never an early stop). Between two reads, which
-- come every SAMPLE_MS of CPU time, CPU time fills in. Elsewhere: os.clock().
local runnable_clock
do
  local SAMPLE_MS = 5
  local oclock, open = os.clock, io.open
  local function runnable_ms()
    local f = open("/proc/self/schedstat", "r")
    if not f then return nil end
    local line = f:read("*l")
    f:close()
    local on_cpu, waiting = smatch(line or "", "^(%d+) (%d+)")
    return on_cpu and (tonumber(on_cpu) + tonumber(waiting)) / 1e6
  end
  local base = runnable_ms()
  if base then
    local cpu0, last = oclock() * 1000, base
    runnable_clock = function()
      local cpu = oclock() * 1000
      local now = base + (cpu - cpu0)
      if cpu - cpu0 >= SAMPLE_MS then
        local r = runnable_ms()
        if r then base, cpu0, now = r, cpu, r end
      end
      if now < last then now = last end
      last = now
      return now
    end
  end
end

local vm
while true do
  local t, p = read_frame()
  if t == nil then break end
  if t == "I" then
    if vm then fatal("duplicate init frame") end
    local kv = parse_kv(p)
    local mf = tonumber(kv.maxframe)
    if mf and mf > FRAME_ENVELOPE then max_frame = mf end
    local grants = {}
    for g in sgmatch(kv.grants or "", "[^,]+") do grants[#grants + 1] = g end
    local ok, res = pcall(M.new, {
      sandbox = kv.sandbox ~= "0",
      grants = grants,
      -- Frames go into stdout's buffer; the runtime calls flush() after
      -- each batch it wants delivered now (time-based, io.stdout:flush(),
      -- before os.execute/os.exit), so a batch costs one write(2), and at
      -- the end of an exec the D frame's flush below carries them.
      emit = function(stream, bytes)
        send_output(stream == 2 and "2" or "1", bytes)
      end,
      flush = function()
        stdout:flush()
      end,
      -- stdout is this frame channel: child processes must not inherit it.
      child_stdout = "stderr",
      clock = runnable_clock,
    })
    if not ok then fatal("init failed: " .. tostring(res)) end
    vm = res
    send("H", '{"protocol":' .. PROTOCOL .. "," .. ssub(vm:info(), 2))
    stdout:flush()
  elseif t == "Q" then
    stdout:flush()
    exit(0)
  elseif not vm then
    fatal("the first frame must be 'I' (init), got '" .. t .. "'")
  elseif t == "X" then
    local head, code
    if ssub(p, 1, 1) == "\n" then
      head, code = "", ssub(p, 2)
    else
      local e = sfind(p, "\n\n", 1, true)
      if not e then fatal("exec frame without an empty line after its header") end
      head, code = ssub(p, 1, e), ssub(p, e + 2)
    end
    local kv = parse_kv(head)
    local id = tonumber(kv.id)
    -- The host sends safe integers only (|id| <= 2^53 - 1). Anything else
    -- (1e300, 2^63) means a corrupt stream, and would also make the "%d" of
    -- the reply raise after the chunk ran.
    if not id or id ~= id or id % 1 ~= 0 or id > 9007199254740991 or id < -9007199254740991 then
      fatal("exec frame without a valid id")
    end
    local ok, res = pcall(vm.exec, vm, code, {
      chunkname = kv.chunk,
      echo = kv.echo ~= "0",
      repl = kv.repl == "1",
      timeout_ms = tonumber(kv.timeout),
      max_output = tonumber(kv.maxout),
      max_result = max_frame - FRAME_ENVELOPE,
    })
    if not ok then
      res = '{"status":"error","values":[],"truncated":false,"incomplete":false,"error":{"message":'
        .. json_str("luavm driver failure: " .. tostring(res)) .. ',"kind":"runtime"}}'
    end
    send("D", '{"id":' .. string.format("%d", id) .. "," .. ssub(res, 2))
    stdout:flush()
  elseif t == "R" then
    ack(pcall(vm.reset, vm))
  elseif t == "M" then
    local nl = sfind(p, "\n", 1, true)
    if not nl then fatal("mount frame without a newline after the module name") end
    local okc, ok, err = pcall(vm.mount, vm, ssub(p, 1, nl - 1), ssub(p, nl + 1))
    if not okc then ack(false, ok) else ack(ok, err) end
  else
    fatal("unknown frame type '" .. t .. "'")
  end
end
stdout:flush()
