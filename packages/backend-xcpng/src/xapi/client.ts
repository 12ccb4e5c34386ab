import http from 'node:http'
import https from 'node:https'
import { type Logger, silentLogger, VMTimeoutError, XapiError } from '@bioxen-luavm/core'
import { deserializeResponse, serializeCall, unwrapEnvelope, type XapiParam } from './codec.js'
import { checkTlsPolicy, type TlsPolicy, VerifyingAgent } from './tls.js'

/** Options of one XAPI call. */
export interface CallOptions {
  /** Deadline of this call in ms (default: the transport's `callTimeoutMs`). */
  timeoutMs?: number | undefined
  /** Aborts the HTTP request; the call then rejects with the signal's reason. */
  signal?: AbortSignal | undefined
}

/** Options of {@link XapiTransport}. */
export interface XapiTransportOptions {
  /** `https://host[:port]/`; plain `http://` only together with `tls.insecure`. */
  url: string
  tls?: TlsPolicy
  logger?: Logger
  /** Default per-call deadline (60 s). */
  callTimeoutMs?: number
  /** Sockets kept to the host (16). */
  maxSockets?: number
}

// Methods whose arguments must never reach a log line.
const SECRET_METHODS = new Set(['session.login_with_password', 'session.change_password'])
const MAX_ERROR_BODY = 2048

/**
 * One XAPI host over XML-RPC: serialization with xmlrpc 1.3.2's serializer
 * and deserializer, our own HTTPS request so every call has a deadline, an
 * AbortSignal, a keep-alive agent, a verified certificate and an HTTP
 * status check (XAPI answers malformed requests with HTML 500 pages).
 *
 * Errors are all {@link XapiError}s: XAPI's own codes, plus the pseudo-codes
 * `TRANSPORT_ERROR [errno, message]`, `HTTP_ERROR [status, text]`,
 * `TLS_ERROR [reason, fingerprint]` and `PROTOCOL_ERROR [message]`. A call
 * past its deadline rejects with a `VMTimeoutError`.
 */
export class XapiTransport {
  /** The host this transport talks to. */
  readonly url: URL
  readonly #options: XapiTransportOptions
  readonly #agent: http.Agent
  readonly #logger: Logger
  readonly #secure: boolean
  #closed = false

  /** @param options - where and how to connect */
  constructor(options: XapiTransportOptions) {
    this.#options = options
    this.#logger = options.logger ?? silentLogger
    let url: URL
    try {
      url = new URL(options.url)
    } catch {
      throw new XapiError('PROTOCOL_ERROR', [`xapi_url is not a URL: ${options.url}`])
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new XapiError('PROTOCOL_ERROR', [`xapi_url must start with https://, got ${url.protocol}`])
    }
    this.#secure = url.protocol === 'https:'
    if (!this.#secure && !options.tls?.insecure) {
      throw new XapiError(
        'TLS_ERROR',
        ['PLAINTEXT', ''],
        `xapi_url ${url.origin} is plain HTTP: the password would cross the network in clear text; use https:// (or insecure: true to accept that)`,
      )
    }
    this.url = url
    const tlsPolicy = options.tls ?? {}
    if (this.#secure) checkTlsPolicy(tlsPolicy, this.#logger, url)
    else this.#logger.warn(`XAPI over plain HTTP to ${url.host}: the password is sent in clear text`)
    const agentOptions: https.AgentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 16 }
    this.#agent = this.#secure ? new VerifyingAgent(tlsPolicy, agentOptions) : new http.Agent(agentOptions)
  }

  /** A transport to another host of the pool, with the same scheme, port and trust. */
  forHost(address: string): XapiTransport {
    const url = new URL(this.url.href)
    url.hostname = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address
    return new XapiTransport({ ...this.#options, url: url.href })
  }

  /**
   * Calls `method` and resolves with the `Value` of a successful reply.
   * Rejects with `XapiError` (API failure, transport, HTTP, TLS), with
   * `VMTimeoutError` past the deadline, or with the signal's reason.
   */
  async call(method: string, params: readonly XapiParam[], options: CallOptions = {}): Promise<unknown> {
    if (this.#closed) throw new XapiError('TRANSPORT_ERROR', ['CLOSED', 'the XAPI transport was closed'])
    options.signal?.throwIfAborted()
    const timeoutMs = options.timeoutMs ?? this.#options.callTimeoutMs ?? 60_000
    const body = serializeCall(method, params)
    this.#logger.debug('xapi call', {
      method,
      host: this.url.host,
      ...(SECRET_METHODS.has(method) ? {} : { args: params.length }),
    })
    const timer = new AbortController()
    const timeout = setTimeout(() => timer.abort(), timeoutMs)
    const signal = options.signal ? AbortSignal.any([options.signal, timer.signal]) : timer.signal
    try {
      const raw = await this.#post(body, signal)
      return unwrapEnvelope(method, raw)
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason
      if (timer.signal.aborted) {
        throw new VMTimeoutError(`XAPI ${method} on ${this.url.host} got no answer within ${timeoutMs} ms`, {
          details: { method, timeoutMs },
        })
      }
      throw error
    } finally {
      clearTimeout(timeout)
    }
  }

  /** Closes idle sockets; later calls fail. */
  close(): void {
    this.#closed = true
    this.#agent.destroy()
  }

  #post(body: string, signal: AbortSignal): Promise<unknown> {
    const request = (this.#secure ? https.request : http.request) as typeof http.request
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.url.hostname.replace(/^\[|\]$/g, ''),
          port: this.url.port || (this.#secure ? 443 : 80),
          path: this.url.pathname || '/',
          method: 'POST',
          agent: this.#agent,
          signal,
          headers: {
            'Content-Type': 'text/xml',
            'Content-Length': Buffer.byteLength(body),
            'User-Agent': 'bioxen-luavm',
          },
        },
        (res) => {
          if (res.statusCode !== 200) {
            readText(res, MAX_ERROR_BODY).then(
              (text) => reject(httpError(res.statusCode ?? 0, text)),
              (error: unknown) => reject(transportError(error)),
            )
            return
          }
          deserializeResponse(res).then(resolve, (error: unknown) => {
            // Socket failures carry an errno code; sax parse errors do not.
            const e = error as NodeJS.ErrnoException
            reject(
              e.code
                ? transportError(e)
                : new XapiError('PROTOCOL_ERROR', [`the reply is not XML-RPC: ${e.message}`], undefined, { cause: e }),
            )
          })
        },
      )
      req.on('error', (error) => reject(error instanceof XapiError ? error : transportError(error)))
      req.end(body)
    })
  }
}

function readText(res: http.IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      if (text.length < max) text += chunk
    })
    res.on('end', () => resolve(text.slice(0, max)))
    res.on('error', reject)
  })
}

function httpError(status: number, body: string): XapiError {
  // XAPI's 500 pages are HTML; keep the visible text only.
  const text = body
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200)
  return new XapiError('HTTP_ERROR', [String(status), text], `XAPI answered HTTP ${status}${text ? `: ${text}` : ''}`)
}

function transportError(error: unknown): XapiError {
  if (error instanceof XapiError) return error
  const e = error as NodeJS.ErrnoException
  const code = e?.code ?? 'EUNKNOWN'
  return new XapiError(
    'TRANSPORT_ERROR',
    [code, e?.message ?? String(error)],
    `cannot reach XAPI: ${code} ${e?.message ?? ''}`.trim(),
    { cause: error },
  )
}
