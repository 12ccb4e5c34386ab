/**
 * `bioxen-luavm-backend-http-runner/server` — a small runner that speaks
 * the `http-runner` protocol (see `protocol.ts`), built on the `wasm`
 * backend: every session is a sandboxed Lua 5.4 VM in a worker thread, so
 * deadlines and memory caps hold even for hostile code. Node only; needs
 * `@bioxen-luavm/backend-wasm` (an optional peer dependency: hosts that only
 * use the backend never load it).
 *
 * ```ts
 * import { startHttpRunnerServer } from 'bioxen-luavm-backend-http-runner/server'
 * const server = await startHttpRunnerServer({ port: 8787, token: process.env.RUNNER_TOKEN })
 * console.log(`runner on ${server.url}`)
 * // ... await server.close()
 * ```
 *
 * It listens on 127.0.0.1 unless told otherwise. Put it behind TLS before
 * exposing it: the token travels in a header.
 *
 * @module
 */
import { randomUUID, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { wasmBackend } from '@bioxen-luavm/backend-wasm'
import {
  BackendRegistry,
  type BaseLuaVM,
  bytesReviver,
  type ExecOptions,
  execResultJson,
  InvalidArgumentError,
  isLuaVMError,
} from '@bioxen-luavm/core'
import {
  type ErrorReply,
  type ExecuteRequest,
  type HealthReply,
  PROTOCOL_VERSION,
  type SessionReply,
  WIRE_OPTION_TYPES,
  type WireExecOptions,
} from './protocol.js'

/** Options of {@link startHttpRunnerServer}. */
export interface HttpRunnerServerOptions {
  /** Interface to listen on (default `127.0.0.1`: not reachable from other machines). */
  host?: string
  /** Port (default 0: the OS picks a free one; read it from `server.port`). */
  port?: number
  /** Require `Authorization: Bearer <token>` on every request. */
  token?: string
  /** Registry the VMs come from (default: one with the `wasm` backend). */
  registry?: BackendRegistry
  /** Backend type of the VMs (default `wasm`). */
  backend?: string
  /** Backend config of every VM (e.g. `{ memoryLimitBytes: '64MiB' }`). */
  vmConfig?: Record<string, unknown>
  /** Most sessions alive at once (default 32); more are refused with 503. */
  maxSessions?: number
  /** A session unused this long is stopped (default 15 minutes). */
  idleSessionMs?: number
  /** Largest request body in bytes (default 4 MiB). */
  maxBodyBytes?: number
  /** Longest deadline a request may ask for (default 5 minutes); longer ones are lowered to it. */
  maxTimeoutMs?: number
}

/** A running runner. */
export interface HttpRunnerServer {
  /** Base URL to give the backend, e.g. `http://127.0.0.1:43123`. */
  readonly url: string
  readonly port: number
  /** Sessions alive now. */
  readonly sessions: number
  /** Stops accepting requests, cancels running executions and stops every VM. Idempotent. */
  close(): Promise<void>
}

interface Session {
  vm: BaseLuaVM
  lastUsed: number
  /** Executions in flight; a busy session is never swept as idle. */
  busy: number
}

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly tag: string,
    message: string,
  ) {
    super(message)
  }
}

/**
 * Starts a runner. Resolves once it listens; its `url` goes into the
 * backend's `url` config.
 */
export async function startHttpRunnerServer(options: HttpRunnerServerOptions = {}): Promise<HttpRunnerServer> {
  const registry = options.registry ?? new BackendRegistry().register(wasmBackend)
  const backend = options.backend ?? 'wasm'
  const descriptor = registry.get(backend)
  if (!descriptor) throw new InvalidArgumentError(`backend '${backend}' is not registered in the runner's registry`)
  const vmConfig = options.vmConfig ?? {}
  const maxSessions = options.maxSessions ?? 32
  const idleSessionMs = options.idleSessionMs ?? 15 * 60_000
  const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024
  const maxTimeoutMs = options.maxTimeoutMs ?? 5 * 60_000
  const expectedAuth = options.token ? Buffer.from(`Bearer ${options.token}`) : undefined

  const sessions = new Map<string, Session>()
  const running = new Set<AbortController>()
  let closing: Promise<void> | undefined

  // One probe VM answers /health with the real engine's version, then stops.
  const probe = await registry.create(backend, `http-runner-probe-${randomUUID()}`, vmConfig)
  const luaVersion = probe.luaVersion
  const capabilities = { ...probe.capabilities }
  await probe.stop()

  const authorized = (req: IncomingMessage): boolean => {
    if (!expectedAuth) return true
    const given = Buffer.from(req.headers.authorization ?? '')
    // Constant-time comparison: the token must not leak through response timing.
    return given.length === expectedAuth.length && timingSafeEqual(given, expectedAuth)
  }

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://runner').pathname
    if (!authorized(req)) {
      res.setHeader('www-authenticate', 'Bearer')
      throw new HttpFailure(401, 'Unauthorized', 'a valid "Authorization: Bearer <token>" header is required')
    }
    if (req.method === 'GET' && path === '/health') {
      const reply: HealthReply = { ok: true, protocol: PROTOCOL_VERSION, luaVersion, capabilities }
      return send(res, 200, reply)
    }
    if (req.method === 'POST' && path === '/sessions') {
      await readBody(req, maxBodyBytes) // drained so the connection can be reused
      if (sessions.size >= maxSessions) {
        throw new HttpFailure(503, 'BackendUnavailableError', `the runner already has ${maxSessions} sessions`)
      }
      const sessionId = randomUUID()
      const vm = await registry.create(backend, `http-runner-${sessionId}`, vmConfig)
      if (closing) {
        await vm.stop()
        throw new HttpFailure(503, 'BackendUnavailableError', 'the runner is shutting down')
      }
      sessions.set(sessionId, { vm, lastUsed: Date.now(), busy: 0 })
      const reply: SessionReply = { sessionId, luaVersion: vm.luaVersion }
      return send(res, 201, reply)
    }
    const sessionPath = /^\/sessions\/([^/]+)$/.exec(path)
    if (req.method === 'DELETE' && sessionPath) {
      const id = decodeURIComponent(sessionPath[1] ?? '')
      const session = sessions.get(id)
      if (!session) throw new HttpFailure(404, 'SessionNotFoundError', `no session '${id}'`)
      sessions.delete(id)
      await session.vm.stop()
      res.writeHead(204).end()
      return
    }
    if (req.method === 'POST' && path === '/execute') {
      const request = parseExecute(await readBody(req, maxBodyBytes), maxTimeoutMs)
      // A client that goes away (cancel, its own deadline) cancels the chunk.
      const controller = new AbortController()
      running.add(controller)
      res.once('close', () => {
        if (!res.writableFinished) controller.abort()
      })
      try {
        const options: ExecOptions = { ...request.options, signal: controller.signal }
        let result: Awaited<ReturnType<BaseLuaVM['execute']>>
        if (request.sessionId !== undefined) {
          const session = sessions.get(request.sessionId)
          if (!session) throw new HttpFailure(404, 'SessionNotFoundError', `no session '${request.sessionId}'`)
          session.busy++
          try {
            result = await session.vm.execute(request.code, options)
          } finally {
            session.busy--
            session.lastUsed = Date.now()
          }
        } else {
          // Without a session every chunk gets a Lua state nothing ran in before.
          const vm = await registry.create(backend, `http-runner-once-${randomUUID()}`, vmConfig)
          try {
            result = await vm.execute(request.code, options)
          } finally {
            await vm.stop()
          }
        }
        if (!controller.signal.aborted) sendText(res, 200, execResultJson(result))
      } finally {
        running.delete(controller)
      }
      return
    }
    throw new HttpFailure(404, 'NotFound', `no route ${req.method} ${path}`)
  }

  const server: Server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (res.headersSent || res.destroyed) return
      if (error instanceof HttpFailure) return send(res, error.status, errorReply(error.tag, error.message))
      // Typed SDK errors keep their tag; a bad argument is the client's fault.
      if (isLuaVMError(error)) {
        return send(res, error._tag === 'InvalidArgumentError' ? 400 : 500, errorReply(error._tag, error.message))
      }
      send(res, 500, errorReply('Error', error instanceof Error ? error.message : String(error)))
    })
  })

  const sweep = setInterval(
    () => {
      const now = Date.now()
      for (const [id, session] of sessions) {
        if (session.busy === 0 && now - session.lastUsed > idleSessionMs) {
          sessions.delete(id)
          void session.vm.stop()
        }
      }
    },
    Math.min(idleSessionMs, 60_000),
  )
  // The sweep alone must not keep a host process alive.
  sweep.unref()

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address

  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    get sessions() {
      return sessions.size
    },
    close() {
      closing ??= (async () => {
        clearInterval(sweep)
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        for (const controller of running) controller.abort()
        // Keep-alive connections would hold close() open until they time out.
        server.closeAllConnections()
        const vms = [...sessions.values()].map((s) => s.vm)
        sessions.clear()
        await Promise.allSettled(vms.map((vm) => vm.stop()))
        await closed
      })()
      return closing
    },
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, JSON.stringify(body))
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

function errorReply(tag: string, message: string): ErrorReply {
  return { error: { tag, message } }
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new HttpFailure(413, 'InvalidArgumentError', `the request body is over ${limit} bytes`)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Validates a `POST /execute` body; only known options of the right type pass. */
function parseExecute(text: string, maxTimeoutMs: number): ExecuteRequest {
  let body: unknown
  try {
    // Code that is not UTF-8 travels as {"$bytes": "<base64>"}.
    body = JSON.parse(text, bytesReviver)
  } catch {
    throw new HttpFailure(400, 'InvalidArgumentError', 'the request body is not JSON')
  }
  const b = body as Partial<ExecuteRequest> | null
  if (!b || typeof b !== 'object' || (typeof b.code !== 'string' && !(b.code instanceof Uint8Array))) {
    throw new HttpFailure(400, 'InvalidArgumentError', 'the body must be { code: string, options?: {...} }')
  }
  if (b.sessionId !== undefined && typeof b.sessionId !== 'string') {
    throw new HttpFailure(400, 'InvalidArgumentError', '`sessionId` must be a string')
  }
  const options: WireExecOptions = {}
  for (const [key, value] of Object.entries(b.options ?? {})) {
    const type = WIRE_OPTION_TYPES[key as keyof WireExecOptions]
    if (!type) throw new HttpFailure(400, 'InvalidArgumentError', `unknown option '${key}'`)
    if (typeof value !== type) throw new HttpFailure(400, 'InvalidArgumentError', `option '${key}' must be a ${type}`)
    ;(options as Record<string, unknown>)[key] = value
  }
  if (options.timeoutMs !== undefined) options.timeoutMs = Math.min(options.timeoutMs, maxTimeoutMs)
  return { code: b.code, options, ...(b.sessionId === undefined ? {} : { sessionId: b.sessionId }) }
}
