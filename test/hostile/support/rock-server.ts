import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { crc32 } from '../../../packages/backend-wasm/src/packages/archive.js'

/** What a crafted rock server answers for one path: bytes, or a handler that does anything. */
export type Route = Uint8Array | string | ((req: IncomingMessage, res: ServerResponse) => void)

/** A rock server on 127.0.0.1 that serves whatever a test crafted, hostile on purpose. */
export interface CraftedRockServer {
  /** `http://127.0.0.1:port`. */
  url: string
  /** Serves `route` at `path` (e.g. `/doubling/manifest-5.4`). */
  set(path: string, route: Route): void
  /** Closes the server and every connection (handlers that write forever stop on close). */
  close(): Promise<void>
}

/** Starts a {@link CraftedRockServer}; unknown paths are 404, as a rock server says "no such file". */
export async function startRockServer(): Promise<CraftedRockServer> {
  const routes = new Map<string, Route>()
  const server = createServer((req, res) => {
    const route = routes.get(new URL(req.url ?? '/', 'http://x').pathname)
    if (route === undefined) res.writeHead(404).end('not found')
    else if (typeof route === 'function') route(req, res)
    else res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(route)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    set: (path, route) => routes.set(path, route),
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** Writes `chunk` until the client goes away: a response that never ends. */
export function endless(chunk: string): Route {
  const bytes = Buffer.from(chunk)
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    let open = true
    res.on('close', () => {
      open = false
    })
    const pump = () => {
      while (open && res.write(bytes)) {}
      if (open) res.once('drain', pump)
    }
    pump()
  }
}

/** Sends `head`, then one byte every `everyMs` until the client goes away. */
export function trickle(head: string, everyMs: number): Route {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write(head)
    const timer = setInterval(() => res.write(' '), everyMs)
    res.on('close', () => clearInterval(timer))
  }
}

/** Accepts the request and never answers it. */
export const silent: Route = (_req, res) => {
  res.on('close', () => undefined)
}

/** A zip of stored (uncompressed) entries: enough for a `.rock` with crafted contents. */
export function storedZip(files: Record<string, string | Uint8Array>): Uint8Array {
  const locals: Buffer[] = []
  const central: Buffer[] = []
  let offset = 0
  for (const [name, content] of Object.entries(files)) {
    const data = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content)
    const nameBytes = Buffer.from(name)
    const crc = crc32(data)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(data.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(nameBytes.length, 26)
    const entry = Buffer.alloc(46)
    entry.writeUInt32LE(0x02014b50, 0)
    entry.writeUInt16LE(20, 4)
    entry.writeUInt16LE(20, 6)
    entry.writeUInt32LE(crc, 16)
    entry.writeUInt32LE(data.length, 20)
    entry.writeUInt32LE(data.length, 24)
    entry.writeUInt16LE(nameBytes.length, 28)
    entry.writeUInt32LE(offset, 42)
    locals.push(local, nameBytes, data)
    central.push(entry, nameBytes)
    offset += 30 + nameBytes.length + data.length
  }
  const directory = Buffer.concat(central)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(Object.keys(files).length, 8)
  end.writeUInt16LE(Object.keys(files).length, 10)
  end.writeUInt32LE(directory.length, 12)
  end.writeUInt32LE(offset, 16)
  return new Uint8Array(Buffer.concat([...locals, directory, end]))
}

/** A luarocks manifest listing `rocks` (name → version → arch), as luarocks-admin writes it. */
export function manifestOf(rocks: Record<string, Record<string, string>>): string {
  const lines = ['commands = {}', 'modules = {}', 'repository = {']
  for (const [name, versions] of Object.entries(rocks)) {
    lines.push(`   [${JSON.stringify(name)}] = {`)
    for (const [version, arch] of Object.entries(versions)) {
      lines.push(
        `      [${JSON.stringify(version)}] = {`,
        '         {',
        `            arch = "${arch}"`,
        '         }',
        '      },',
      )
    }
    lines.push('   },')
  }
  lines.push('}', '')
  return lines.join('\n')
}
