// LuaSocket templates: an echo server with two clients, and a 3-node p2p ring.
// Needs Debian's lua-socket (apt-get install lua-socket).
//
//   node scripts/run-ts.mjs examples/process/networking.ts
import { createServer } from 'node:net'
import { client, echoServer, p2pNode, processBackend } from '../../packages/backend-process/src/index.js'
import { BackendRegistry } from '../../packages/core/src/index.js'

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

const registry = new BackendRegistry().register(processBackend)
const config = { luaExecutable: 'lua5.4', networked: true }
await using server = await registry.create('process', 'server', config)
await using clients = await registry.create('process', 'clients', { ...config, mode: 'pool', poolSize: 2 })

const port = await freePort()
const serving = server.execute(echoServer(port, { maxClients: 2, durationMs: 10_000 }), {
  echoReturnValues: false,
  timeoutMs: 15_000,
})
const replies = await Promise.all(
  ['hello', 'a "quoted" message'].map((m) =>
    clients.execute(client('127.0.0.1', port, m, { connectRetryMs: 3_000 }), { echoReturnValues: false }),
  ),
)
console.log(replies.map((r) => r.values[0]))
console.log((await serving).stdout)

const ports = [await freePort(), await freePort(), await freePort()]
const ring = await Promise.all(
  ports.map(async (localPort, i) => {
    await using node = await registry.create('process', `node${i}`, config)
    const next = ports[(i + 1) % 3] as number
    return await node.execute(
      p2pNode({
        nodeId: `node${i}`,
        localPort,
        peers: [{ host: '127.0.0.1', port: next }],
        durationMs: 1_500,
        intervalMs: 200,
      }),
      { echoReturnValues: false, timeoutMs: 10_000 },
    )
  }),
)
for (const r of ring) console.log(r.values[0])
