/**
 * Networked VMs — the original's `NetworkedLuaVM` and `LuaScriptTemplate`:
 * a `process` VM with `networked: true` (LuaSocket is checked at start) runs
 * the echo server template on 127.0.0.1 while two client VMs talk to it.
 * Every value put into a template — host, port, message — is validated and
 * inserted as an escaped Lua literal, so no input can change the program
 * (the original pasted the host into the source unescaped).
 *
 * Run (from the repository root, no build needed):
 *
 *   node scripts/run-ts.mjs examples/usage/networked.ts
 *
 * Needs a Lua interpreter and LuaSocket: `apt-get install lua5.4 lua-socket`.
 */
import { createServer } from 'node:net'
import { client, echoServer, processBackend, SERVER_GREETING, validateHost } from '@bioxen-luavm/backend-process'
import { BackendRegistry, isLuaVMError } from '@bioxen-luavm/core'

/** A port nobody listens on right now (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })
}

const detected = await processBackend.detect()
if (!detected.available) {
  console.log(`skipped: ${detected.reason}`)
  process.exit(0)
}

const registry = new BackendRegistry().register(processBackend)
const config = { luaExecutable: 'lua5.4', networked: true }

// A networked VM verifies `require("socket")` when it starts; without
// LuaSocket this throws LuaSocketNotFoundError saying how to install it.
await using server = await registry.create('process', 'echo-server', config)
// Two clients at once: a pooled VM runs two executions in parallel.
await using clients = await registry.create('process', 'clients', { ...config, mode: 'pool', poolSize: 2 })
console.log(`server VM and client VMs started (${detected.version})`)

const port = await freePort()
// The server's status lines stream while it runs (the template flushes them);
// chunks need not end at line ends, so whole lines are printed as they complete.
let partial = ''
const serving = server.execute(echoServer(port, { maxClients: 2, durationMs: 15_000 }), {
  echoReturnValues: false,
  timeoutMs: 20_000,
  onStdout: (chunk) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) console.log(`  server| ${line}`)
  },
})

// connectRetryMs lets a client wait until the server listens.
const messages = ['hello', 'a "quoted" message; os.exit() -- stays text']
const replies = await Promise.all(
  messages.map((message) =>
    clients.execute(client('127.0.0.1', port, message, { connectRetryMs: 5_000 }), {
      echoReturnValues: false,
      timeoutMs: 15_000,
    }),
  ),
)
for (const [i, r] of replies.entries()) {
  const value = r.values[0] as { greeting?: string; reply?: string } | undefined
  console.log(
    `client ${i + 1}: status=${r.status} greeting=${JSON.stringify(value?.greeting)} reply=${JSON.stringify(value?.reply)}`,
  )
}

const served = await serving
const summary = served.values[0] as { port: number; clients: number; messages: number }
console.log(`server finished: status=${served.status} clients=${summary.clients} messages=${summary.messages}`)
console.log(
  `greeting matches SERVER_GREETING: ${replies.every((r) => (r.values[0] as { greeting?: string }).greeting === SERVER_GREETING)}`,
)

// Hosts and ports are validated before any Lua is generated.
try {
  validateHost('127.0.0.1"); os.execute("rm -rf /')
} catch (error) {
  if (!isLuaVMError(error)) throw error
  console.log(`hostile host -> ${error._tag}`)
}
try {
  client('127.0.0.1', 80, 'x')
} catch (error) {
  if (!isLuaVMError(error)) throw error
  console.log(`privileged port -> ${error._tag}`)
}
console.log('done')
