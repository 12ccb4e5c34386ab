import { NetworkingError } from '@bioxen-luavm/core'
import { luaNumber, luaString } from './lua-string.js'
import {
  validateCount,
  validateDurationMs,
  validateHost,
  validateHttpMethod,
  validatePort,
  validateUrl,
} from './validate.js'

// Every template below is Lua 5.1-compatible source for a VM with LuaSocket
// (`networked: true`). Each value from the caller is validated, then
// inserted only through luaString/luaNumber, so no input can change the
// program. Durations use socket.gettime() (wall clock): os.clock() is CPU
// time and barely moves while a program waits on sockets. Each template
// ends by returning a summary table (in `values[0]`); run it with
// `echoReturnValues: false` to keep stdout to the template's own lines.

/** The greeting the echo server sends to each client (the original's text). */
export const SERVER_GREETING = "Hello from Lua Server! What's your message?"

/** Options of {@link echoServer}. */
export interface EchoServerOptions {
  /** Address to listen on (default `127.0.0.1`: never all interfaces unless asked). */
  host?: string
  /** Stop once this many clients were served and all have left (default: no limit). */
  maxClients?: number
  /** Stop after this long in any case (default 30 s): a server never outlives its deadline. */
  durationMs?: number
}

/**
 * A line echo server that serves many clients at once (the original served
 * one and quit): each client gets {@link SERVER_GREETING}, and every line it
 * sends comes back as `echo: <line>`. Stops after `maxClients` clients have
 * come and gone, or after `durationMs`. Returns
 * `{ port, clients, messages }`.
 */
export function echoServer(port: number, options: EchoServerOptions = {}): string {
  const p = validatePort(port)
  const host = validateHost(options.host ?? '127.0.0.1')
  const maxClients =
    options.maxClients === undefined ? 'nil' : luaNumber(validateCount('maxClients', options.maxClients))
  const duration = validateDurationMs('durationMs', options.durationMs ?? 30_000)
  return `local socket = require("socket")
local host, port, max_clients = ${luaString(host)}, ${luaNumber(p)}, ${maxClients}
local deadline = socket.gettime() + ${luaNumber(duration)} / 1000
local server, berr = socket.bind(host, port)
if not server then error("Lua Server: Failed to bind to port " .. port .. ": " .. tostring(berr), 0) end
server:settimeout(0)
-- Status lines are pushed at once: the runtime's timer counts CPU time,
-- which a server waiting in socket.select hardly uses.
local function status(line) print(line) io.stdout:flush() end
status("Lua Server: Listening on " .. host .. ":" .. port .. "...")
local clients, pending, served, messages = {}, {}, 0, 0
local function drop(c)
  for i = #clients, 1, -1 do if clients[i] == c then table.remove(clients, i) end end
  pending[c] = nil
  c:close()
end
while true do
  local now = socket.gettime()
  if now >= deadline then break end
  local accepting = not max_clients or served < max_clients
  if not accepting and #clients == 0 then break end
  local watch = {}
  if accepting then watch[1] = server end
  for i = 1, #clients do watch[#watch + 1] = clients[i] end
  local ready = socket.select(watch, nil, math.min(0.1, deadline - now))
  for _, s in ipairs(ready) do
    if s == server then
      local c = server:accept()
      if c then
        c:settimeout(0)
        served = served + 1
        clients[#clients + 1] = c
        status("Lua Server: Client connected from " .. tostring((c:getpeername())))
        c:send(${luaString(`${SERVER_GREETING}\n`)})
      end
    else
      local line, err, partial = s:receive("*l", pending[s])
      if line then
        pending[s] = nil
        messages = messages + 1
        status("Lua Server: Received from client: " .. line)
        s:send("echo: " .. line .. "\\n")
      elseif err == "closed" then
        drop(s)
        status("Lua Server: Connection closed.")
      else
        pending[s] = partial
      end
    end
  end
end
for i = #clients, 1, -1 do clients[i]:close() end
server:close()
status("Lua Server: Stopped after serving " .. served .. " client(s).")
return { port = port, clients = served, messages = messages }
`
}

/** Options of {@link client} and {@link heartbeatClient}. */
export interface ClientOptions {
  /** Keep retrying a refused connection this long (default 0: fail at once, like the original). */
  connectRetryMs?: number
  /** Deadline of each receive (default 5 s). */
  receiveTimeoutMs?: number
}

const connectLua = (host: string, port: number, retryMs: number) => `local socket = require("socket")
local host, port = ${luaString(host)}, ${luaNumber(port)}
local retry_until = socket.gettime() + ${luaNumber(retryMs)} / 1000
local conn, cerr
while true do
  conn, cerr = socket.connect(host, port)
  if conn or socket.gettime() >= retry_until then break end
  socket.sleep(0.05)
end
if not conn then
  error("Lua Client: Failed to connect to " .. host .. ":" .. port .. ": " .. tostring(cerr), 0)
end
`

/**
 * Connects to a line server (e.g. {@link echoServer}), prints its greeting,
 * sends `message` as one line and prints the reply. Returns
 * `{ greeting, reply }`.
 */
export function client(host: string, port: number, message: string, options: ClientOptions = {}): string {
  const h = validateHost(host)
  const p = validatePort(port)
  if (typeof message !== 'string') throw new NetworkingError('message must be a string')
  const retry = validateDurationMs('connectRetryMs', options.connectRetryMs ?? 0, { allowZero: true })
  const recv = validateDurationMs('receiveTimeoutMs', options.receiveTimeoutMs ?? 5_000)
  return `${connectLua(h, p, retry)}conn:settimeout(${luaNumber(recv)} / 1000)
print("Lua Client: Connected to server at " .. host .. ":" .. port)
local greeting = conn:receive("*l")
if greeting then print("Lua Client: Server says: " .. greeting) end
local message = ${luaString(message)}
conn:send(message .. "\\n")
print("Lua Client: Sent: " .. message)
local reply, rerr = conn:receive("*l")
conn:close()
if reply then print("Lua Client: Server replied: " .. reply) else print("Lua Client: No reply (" .. tostring(rerr) .. ")") end
return { greeting = greeting, reply = reply }
`
}

/** Options of {@link heartbeatClient}. */
export interface HeartbeatOptions extends ClientOptions {
  /** Time between heartbeats (default 1000 ms). */
  intervalMs?: number
  /** Number of heartbeats (default 10). */
  count?: number
}

/**
 * Connects to a line server and sends `count` heartbeats
 * (`heartbeat <n> <unix time>`) `intervalMs` apart, reading a reply line
 * after each. Returns `{ sent, replies }`.
 */
export function heartbeatClient(host: string, port: number, options: HeartbeatOptions = {}): string {
  const h = validateHost(host)
  const p = validatePort(port)
  const interval = validateDurationMs('intervalMs', options.intervalMs ?? 1_000)
  const count = validateCount('count', options.count ?? 10)
  const retry = validateDurationMs('connectRetryMs', options.connectRetryMs ?? 0, { allowZero: true })
  const recv = validateDurationMs('receiveTimeoutMs', options.receiveTimeoutMs ?? 5_000)
  return `${connectLua(h, p, retry)}conn:settimeout(${luaNumber(recv)} / 1000)
local interval, count = ${luaNumber(interval)} / 1000, ${luaNumber(count)}
local greeting = conn:receive("*l")
if greeting then print("Heartbeat: server says: " .. greeting) end
local sent, replies = 0, 0
for i = 1, count do
  local ok, serr = conn:send(string.format("heartbeat %d %.3f\\n", i, socket.gettime()))
  if not ok then print("Heartbeat: send failed: " .. tostring(serr)) break end
  sent = sent + 1
  local reply = conn:receive("*l")
  if reply then replies = replies + 1 print("Heartbeat " .. i .. ": " .. reply) end
  if i < count then socket.sleep(interval) end
end
conn:close()
return { sent = sent, replies = replies }
`
}

/** Options of {@link httpClient}. */
export interface HttpClientOptions {
  /** HTTP method, actually sent (the original only printed it). Default `GET`. */
  method?: string
  /** Request body. */
  body?: string
  /** Extra request headers. */
  headers?: Record<string, string>
  /** Deadline of the request (default 10 s). */
  timeoutMs?: number
}

/**
 * An HTTP request with LuaSocket's `socket.http` (or LuaSec's `ssl.https`
 * for https URLs). Prints the status line and the body; returns
 * `{ status, statusLine, body, headers }`.
 */
export function httpClient(url: string, options: HttpClientOptions = {}): string {
  const u = validateUrl(url)
  const method = validateHttpMethod(options.method ?? 'GET')
  const timeout = validateDurationMs('timeoutMs', options.timeoutMs ?? 10_000)
  const headerLines: string[] = []
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    validateHttpMethod(name) // header names are tokens too
    if (typeof value !== 'string' || /[\r\n\u0000]/.test(value)) {
      throw new NetworkingError(`header ${name} must be a string without line breaks`)
    }
    headerLines.push(`headers[${luaString(name.toLowerCase())}] = ${luaString(value)}`)
  }
  const body = options.body === undefined ? 'nil' : luaString(options.body)
  const module = u.startsWith('https:') ? 'ssl.https' : 'socket.http'
  return `local http = require(${luaString(module)})
local ltn12 = require("ltn12")
local url, method, body = ${luaString(u)}, ${luaString(method)}, ${body}
http.TIMEOUT = ${luaNumber(timeout)} / 1000
local headers = {}
${headerLines.join('\n')}
if body then headers["content-length"] = tostring(#body) end
local chunks = {}
local ok, code, resp_headers, status_line = http.request({
  url = url, method = method, headers = headers,
  source = body and ltn12.source.string(body) or nil,
  sink = ltn12.sink.table(chunks),
})
if not ok then error("HTTP " .. method .. " " .. url .. " failed: " .. tostring(code), 0) end
local text = table.concat(chunks)
print(tostring(status_line or code))
print(text)
return { status = code, statusLine = status_line, body = text, headers = resp_headers }
`
}

/** A peer of a {@link p2pNode}. */
export interface PeerAddress {
  host: string
  port: number
}

/** Options of {@link p2pNode}. */
export interface P2PNodeOptions {
  /** Port this node listens on. */
  localPort: number
  /** Peers to connect to (a ring gives each node its successor). */
  peers?: PeerAddress[]
  /** How long the node runs, wall clock (default 30 s). */
  durationMs?: number
  /** Time between heartbeats to each ready peer (default 1000 ms). */
  intervalMs?: number
  /** Name in the protocol (default `node-<localPort>`); letters, digits, `_.:-`. */
  nodeId?: string
  /** Address to listen on (default `127.0.0.1`). */
  host?: string
}

/**
 * A working peer-to-peer node (the original's exited at the first idle
 * `select`). It listens on `localPort`, keeps connecting to each peer until
 * it answers, and runs a readiness handshake: the connecting side sends
 * `HELLO <id>`, the accepting side answers `READY <id>`, and only then do
 * heartbeats (`HEARTBEAT <id> <n>`) flow, every `intervalMs`. Runs for
 * `durationMs` of wall time (`socket.gettime()`, not `os.clock()`), then
 * returns `{ node, port, sent, received, ready }` where `received` counts
 * heartbeats per sender and `ready` lists the peers that completed the
 * handshake.
 */
export function p2pNode(options: P2PNodeOptions): string {
  if (typeof options !== 'object' || options === null) throw new NetworkingError('p2pNode needs options')
  const port = validatePort(options.localPort)
  const host = validateHost(options.host ?? '127.0.0.1')
  const duration = validateDurationMs('durationMs', options.durationMs ?? 30_000)
  const interval = validateDurationMs('intervalMs', options.intervalMs ?? 1_000)
  const nodeId = options.nodeId ?? `node-${port}`
  if (typeof nodeId !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(nodeId)) {
    throw new NetworkingError(`nodeId must be 1-64 letters, digits or _.:- characters, got ${JSON.stringify(nodeId)}`)
  }
  const peers = (options.peers ?? []).map(
    (peer) => `{ host = ${luaString(validateHost(peer?.host))}, port = ${luaNumber(validatePort(peer?.port))} }`,
  )
  return `local socket = require("socket")
local id, host, port = ${luaString(nodeId)}, ${luaString(host)}, ${luaNumber(port)}
local interval = ${luaNumber(interval)} / 1000
local deadline = socket.gettime() + ${luaNumber(duration)} / 1000
local peers = { ${peers.join(', ')} }
local server, berr = socket.bind(host, port)
if not server then error("P2P " .. id .. ": failed to bind " .. host .. ":" .. port .. ": " .. tostring(berr), 0) end
server:settimeout(0)
-- Status lines are pushed at once (see echoServer).
local function status(line) print(line) io.stdout:flush() end
status("P2P " .. id .. ": listening on " .. host .. ":" .. port)
local inbound, pending, names = {}, {}, {}
local received, ready, sent = {}, {}, 0
local function remove(list, s)
  for i = #list, 1, -1 do if list[i] == s then table.remove(list, i) end end
end
-- Outbound state per peer: conn, ready flag, next connect attempt, next heartbeat.
for _, p in ipairs(peers) do p.next_try, p.seq = 0, 0 end
local function try_connect(p, now)
  if p.conn or now < p.next_try then return end
  local c = socket.tcp()
  c:settimeout(0.2)
  local ok = c:connect(p.host, p.port)
  if ok then
    c:settimeout(0)
    p.conn, p.ready = c, false
    c:send("HELLO " .. id .. "\\n")
  else
    c:close()
    p.next_try = now + 0.1
  end
end
local function handle(line, s, p)
  local kind, from, rest = line:match("^(%u+) (%S+)%s*(.*)$")
  if kind == "HELLO" then
    names[s] = from
    s:send("READY " .. id .. "\\n")
  elseif kind == "READY" and p then
    p.ready, p.name, p.next_beat = true, from, socket.gettime()
    ready[#ready + 1] = from
    status("P2P " .. id .. ": peer " .. from .. " is ready")
  elseif kind == "HEARTBEAT" then
    received[from] = (received[from] or 0) + 1
    status("P2P " .. id .. ": heartbeat " .. rest .. " from " .. from)
  end
end
local function read(s, p)
  local line, err, partial = s:receive("*l", pending[s])
  if line then
    pending[s] = nil
    handle(line, s, p)
  elseif err == "closed" then
    pending[s] = nil
    s:close()
    if p then p.conn, p.ready, p.next_try = nil, false, socket.gettime() + 0.1 else remove(inbound, s) end
  else
    pending[s] = partial
  end
end
while true do
  local now = socket.gettime()
  if now >= deadline then break end
  for _, p in ipairs(peers) do
    try_connect(p, now)
    if p.conn and p.ready and now >= p.next_beat then
      p.seq = p.seq + 1
      if p.conn:send("HEARTBEAT " .. id .. " " .. p.seq .. "\\n") then sent = sent + 1 end
      p.next_beat = now + interval
    end
  end
  local watch, owner = { server }, {}
  for _, s in ipairs(inbound) do watch[#watch + 1] = s end
  for _, p in ipairs(peers) do
    if p.conn then watch[#watch + 1] = p.conn; owner[p.conn] = p end
  end
  local readable = socket.select(watch, nil, math.max(0, math.min(0.05, deadline - now)))
  for _, s in ipairs(readable) do
    if s == server then
      local c = server:accept()
      if c then c:settimeout(0); inbound[#inbound + 1] = c end
    else
      read(s, owner[s])
    end
  end
end
for _, s in ipairs(inbound) do s:close() end
for _, p in ipairs(peers) do if p.conn then p.conn:close() end end
server:close()
status("P2P " .. id .. ": shutting down after " .. ${luaNumber(duration)} .. " ms")
return { node = id, port = port, sent = sent, received = received, ready = ready }
`
}
