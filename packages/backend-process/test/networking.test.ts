import { createServer, type IncomingMessage, type Server } from 'node:http'
import { LuaSocketNotFoundError, NetworkingError } from '@bioxen-luavm/core'
import fc from 'fast-check'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  client,
  echoServer,
  heartbeatClient,
  httpClient,
  luaNumber,
  luaString,
  p2pNode,
  SERVER_GREETING,
  validateHost,
  validatePort,
  validateUrl,
} from '../src/index.js'
import { brief, freePorts, settledChildren, vmTracker } from './helpers.js'

const vms = vmTracker()
afterEach(() => vms.stopAll())
afterAll(async () => {
  expect(await settledChildren()).toEqual({ pids: [], groups: [] })
})

describe('luaString', () => {
  it('produces an ASCII literal that Lua reads back byte for byte', async () => {
    const vm = await vms.create()
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ unit: 'binary', maxLength: 40 }), { minLength: 1, maxLength: 50 }),
        async (texts) => {
          const literals = texts.map(luaString)
          for (const l of literals) expect(l).toMatch(/^"[\x20-\x7e]*"$/)
          const code = `local hex = {}
for i, s in ipairs({ ${literals.join(', ')} }) do
  hex[i] = (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
return hex`
          const r = await vm.execute(code, { echoReturnValues: false })
          expect(r.status, brief(r)).toBe('ok')
          const expected = texts.map((t) => Buffer.from(t, 'utf8').toString('hex'))
          expect(r.values[0] ?? []).toEqual(expected.length ? expected : [])
        },
      ),
      { numRuns: 25 },
    )
  })

  it('cannot be broken out of', () => {
    expect(luaString('"; os.exit(1) --')).toBe('"\\"; os.exit(1) --"')
    expect(luaString('a\\')).toBe('"a\\\\"')
    expect(luaString('x\ny\0z')).toBe('"x\\010y\\000z"')
    expect(luaString(']]')).toBe('"]]"')
    expect(() => luaNumber(Number.NaN)).toThrow(TypeError)
    expect(luaNumber(1e3)).toBe('1000')
  })
})

describe('validation', () => {
  it('ports are 1024-65535 integers', () => {
    expect(validatePort(1024)).toBe(1024)
    expect(validatePort(65535)).toBe(65535)
    for (const bad of [0, 80, 1023, 65536, 8080.5, '8080', Number.NaN, undefined]) {
      expect(() => validatePort(bad), String(bad)).toThrow(NetworkingError)
    }
    expect(() => validatePort(80)).toThrow('Port must be an integer between 1024 and 65535')
  })

  it('hosts are non-empty and free of whitespace and control characters', () => {
    expect(validateHost(' 127.0.0.1 ')).toBe('127.0.0.1')
    expect(validateHost('example.org')).toBe('example.org')
    for (const bad of ['', '   ', 'a b', 'a\nb', 'a\0b', 'x\u007f', 42]) {
      expect(() => validateHost(bad), JSON.stringify(bad)).toThrow(NetworkingError)
    }
    expect(() => validateHost('')).toThrow('Host cannot be empty')
  })

  it('URLs must be http(s) and methods tokens', () => {
    expect(validateUrl('http://127.0.0.1:8080/x?y=1')).toBe('http://127.0.0.1:8080/x?y=1')
    expect(() => validateUrl('file:///etc/passwd')).toThrow(NetworkingError)
    expect(() => validateUrl('http://a/\nb')).toThrow(NetworkingError)
    expect(() => httpClient('http://127.0.0.1/', { method: 'GET\r\nX: y' })).toThrow(NetworkingError)
    expect(() => httpClient('http://127.0.0.1/', { headers: { 'x-a': 'b\r\nc' } })).toThrow(NetworkingError)
  })

  it('templates validate before generating', () => {
    expect(() => echoServer(80)).toThrow(NetworkingError)
    expect(() => client('', 8080, 'x')).toThrow('Host cannot be empty')
    expect(() => heartbeatClient('127.0.0.1', 8080, { count: 0 })).toThrow(NetworkingError)
    expect(() => p2pNode({ localPort: 9000, nodeId: 'bad id' })).toThrow(NetworkingError)
    expect(() => p2pNode({ localPort: 9000, peers: [{ host: 'a b', port: 9001 }] })).toThrow(NetworkingError)
  })
})

describe('networked VMs', () => {
  it('verify LuaSocket at start', async () => {
    const vm = await vms.create({ networked: true })
    expect(((await vm.getStatus()).details as { luaSocket?: string }).luaSocket).toMatch(/^LuaSocket/)
    const error = await vms
      .create({ networked: true, luaPath: '/nonexistent/?.lua', luaCPath: '/nonexistent/?.so' })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LuaSocketNotFoundError)
    expect((error as Error).message).toMatch(/apt-get install lua-socket/)
    expect((error as Error).message).toMatch(/luarocks .*install luasocket/)
  })

  it('a sandboxed networked VM needs the require and package grants (LuaSocket has a C core)', async () => {
    await expect(vms.create({ networked: true, sandbox: true })).rejects.toThrow(/grants: \['require', 'package'\]/)
    await expect(vms.create({ networked: true, sandbox: true, grants: ['require'] })).rejects.toThrow(/'package'/)
    const vm = await vms.create({ networked: true, sandbox: true, grants: ['require', 'package'] })
    const r = await vm.execute('return require("socket")._VERSION')
    expect(r.values).toEqual(['LuaSocket 3.0.0'])
  })
})

describe('templates over 127.0.0.1', () => {
  it('echo server serves several clients; the client sees the greeting and its echo', async () => {
    const [port] = (await freePorts(1)) as [number]
    const server = await vms.create({ networked: true })
    const clientVM = await vms.create({ networked: true, mode: 'pool', poolSize: 2 })
    const serving = server.execute(echoServer(port, { maxClients: 3, durationMs: 15_000 }), {
      echoReturnValues: false,
      timeoutMs: 20_000,
    })
    const hostile = 'Hello "quoted" msg \\ ]] \n and a second line'
    const replies = await Promise.all([
      clientVM.execute(client('127.0.0.1', port, 'first', { connectRetryMs: 5_000 }), { echoReturnValues: false }),
      clientVM.execute(client('127.0.0.1', port, hostile, { connectRetryMs: 5_000 }), { echoReturnValues: false }),
    ])
    const beats = await clientVM.execute(
      heartbeatClient('127.0.0.1', port, { intervalMs: 10, count: 3, connectRetryMs: 5_000 }),
      {
        echoReturnValues: false,
      },
    )
    for (const r of replies) expect(r.status, brief(r)).toBe('ok')
    expect(replies[0]?.values[0]).toEqual({ greeting: SERVER_GREETING, reply: 'echo: first' })
    // The message is inserted escaped: it arrives verbatim (its first line, as the server reads lines).
    expect(replies[1]?.values[0]).toEqual({ greeting: SERVER_GREETING, reply: 'echo: Hello "quoted" msg \\ ]] ' })
    expect(beats.status, brief(beats)).toBe('ok')
    expect(beats.values[0]).toEqual({ sent: 3, replies: 3 })
    const served = await serving
    expect(served.status, brief(served)).toBe('ok')
    expect(served.values[0]).toMatchObject({ port, clients: 3 })
    expect(served.stdout).toContain(`Lua Server: Listening on 127.0.0.1:${port}...`)
    expect(served.stdout).toContain('Lua Server: Received from client: first')
  })

  it("the echo server's status lines stream to onStdout while it serves", async () => {
    const [port] = (await freePorts(1)) as [number]
    const server = await vms.create({ networked: true, sandbox: true, grants: ['require', 'package'] })
    const clientVM = await vms.create({ networked: true })
    let live = ''
    const serving = server.execute(echoServer(port, { maxClients: 2, durationMs: 15_000 }), {
      echoReturnValues: false,
      timeoutMs: 20_000,
      onStdout: (c) => {
        live += c
      },
    })
    const first = await clientVM.execute(client('127.0.0.1', port, 'first', { connectRetryMs: 5_000 }))
    expect(first.status, brief(first)).toBe('ok')
    // The server cannot end before a second client came and went, which is
    // sent only after this wait: the line must have streamed while it ran.
    const line = 'Lua Server: Received from client: first'
    for (let i = 0; i < 500 && !live.includes(line); i++) await new Promise((r) => setTimeout(r, 10))
    const streamedWhileServing = live.includes(line)
    await clientVM.execute(client('127.0.0.1', port, 'second', { connectRetryMs: 5_000 }))
    const served = await serving
    expect(served.status, brief(served)).toBe('ok')
    expect(streamedWhileServing).toBe(true)
    expect(served.stdout).toBe(live)
  })

  it('a refused connection is a Lua error naming host and port', async () => {
    const [port] = (await freePorts(1)) as [number]
    const vm = await vms.create({ networked: true })
    const r = await vm.execute(client('127.0.0.1', port, 'x'))
    expect(r.status).toBe('error')
    expect(r.error?.message).toMatch(new RegExp(`Failed to connect to 127\\.0\\.0\\.1:${port}: .*refused`))
  })

  describe('httpClient', () => {
    let http: Server
    let seen: { method?: string; url?: string; body: string; header?: string }[] = []
    let base = ''
    beforeAll(async () => {
      http = createServer((req: IncomingMessage, res) => {
        let body = ''
        req.on('data', (c) => {
          body += c
        })
        req.on('end', () => {
          seen.push({ method: req.method, url: req.url, body, header: req.headers['x-luavm'] as string })
          res.writeHead(201, { 'content-type': 'text/plain' })
          res.end(`got ${req.method}`)
        })
      })
      await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
      const address = http.address()
      base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
    })
    afterAll(() => new Promise<void>((r) => http.close(() => r())))

    it('sends the requested method, headers and body', async () => {
      seen = []
      const vm = await vms.create({ networked: true })
      const get = await vm.execute(httpClient(`${base}/hello`), { echoReturnValues: false })
      expect(get.status, brief(get)).toBe('ok')
      expect(get.values[0]).toMatchObject({ status: 201, body: 'got GET' })
      const post = await vm.execute(
        httpClient(`${base}/items?a=1`, { method: 'post', body: 'payload "x"', headers: { 'X-LuaVM': 'yes' } }),
        { echoReturnValues: false },
      )
      expect(post.status, brief(post)).toBe('ok')
      expect(post.values[0]).toMatchObject({ status: 201, body: 'got POST' })
      expect(post.stdout).toMatch(/^HTTP\/1\.1 201/)
      expect(seen).toEqual([
        { method: 'GET', url: '/hello', body: '', header: undefined },
        { method: 'POST', url: '/items?a=1', body: 'payload "x"', header: 'yes' },
      ])
    })
  })

  it('a 3-node p2p ring: every node gets heartbeats from its neighbour', async () => {
    const ports = await freePorts(3)
    const ids = ['alpha', 'beta', 'gamma']
    const nodes = await Promise.all(ids.map(() => vms.create({ networked: true })))
    const runs = nodes.map((vm, i) =>
      vm.execute(
        p2pNode({
          nodeId: ids[i],
          localPort: ports[i] as number,
          peers: [{ host: '127.0.0.1', port: ports[(i + 1) % 3] as number }],
          durationMs: 2_000,
          intervalMs: 100,
        }),
        { echoReturnValues: false, timeoutMs: 15_000 },
      ),
    )
    const results = await Promise.all(runs)
    results.forEach((r, i) => {
      expect(r.status, brief(r)).toBe('ok')
      const summary = r.values[0] as { node: string; sent: number; received: Record<string, number>; ready: string[] }
      const predecessor = ids[(i + 2) % 3] as string
      const successor = ids[(i + 1) % 3] as string
      expect(summary.node).toBe(ids[i])
      expect(summary.ready, 'the handshake with the successor completed').toEqual([successor])
      expect(summary.sent).toBeGreaterThan(0)
      expect(summary.received[predecessor], `node ${ids[i]} heard from ${predecessor}`).toBeGreaterThan(0)
      expect(r.stdout).toContain(`heartbeat 1 from ${predecessor}`)
    })
  })
})
