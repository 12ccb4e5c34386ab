/**
 * The `http-runner` VM: the implementation the descriptor loads lazily.
 * Everything the contract fixes (lifecycle, queueing, defaults,
 * `throwOnError`, REPL sessions) comes from `BaseLuaVM`; this file only
 * starts and stops a remote session and turns HTTP exchanges into results
 * or typed errors.
 *
 * @module
 */
import {
  type BackendCapabilities,
  BackendUnavailableError,
  BaseLuaVM,
  bytesReplacer,
  bytesReviver,
  ConfigError,
  type ExecResult,
  InvalidArgumentError,
  ProtocolError,
  type ResolvedExecOptions,
  type StartOptions,
  type StopOptions,
  type VMInit,
} from '@bioxen-luavm/core'
import type { HttpRunnerConfig } from './index.js'
import { HTTP_RUNNER_CAPABILITIES } from './index.js'
import {
  type ErrorReply,
  type ExecuteRequest,
  type HealthReply,
  PROTOCOL_VERSION,
  parseWireResult,
  type SessionReply,
  type WireExecOptions,
} from './protocol.js'

const CAPABILITY_KEYS = [
  'sandboxed',
  'persistentState',
  'sessions',
  'packages',
  'networking',
  'memoryLimit',
  'hardTimeout',
] as const satisfies readonly (keyof BackendCapabilities)[]

/** Why a request ended early: the caller cancelled, or our own deadline passed. */
type Interrupted = 'cancelled' | 'deadline'

/** A VM whose Lua state lives in a session on a remote runner. */
export class HttpRunnerVM extends BaseLuaVM {
  readonly #config: HttpRunnerConfig
  /** The runner's base URL without credentials or a trailing slash. */
  readonly #base: string
  #capabilities: BackendCapabilities = { ...HTTP_RUNNER_CAPABILITIES }
  #sessionId: string | undefined

  constructor(init: VMInit<HttpRunnerConfig>) {
    super(init)
    this.#config = init.config
    let url: URL
    try {
      url = new URL(init.config.url)
    } catch {
      throw new ConfigError('backends.http-runner.url is not a valid URL')
    }
    if (url.username || url.password) {
      // Credentials in a URL end up in logs and error messages; the token has a secret field.
      throw new ConfigError('backends.http-runner.url must not contain credentials; set `token` instead')
    }
    this.#base = url.href.replace(/\/+$/, '')
  }

  /** What this VM can do: the descriptor's capabilities narrowed to its runner's (known after start). */
  get capabilities(): BackendCapabilities {
    return this.#capabilities
  }

  protected async doStart(options: StartOptions): Promise<void> {
    const timeoutMs = options.timeoutMs ?? this.#config.requestTimeoutMs
    const health = (await this.#request('GET', '/health', undefined, { timeoutMs, signal: options.signal })) as
      | Partial<HealthReply>
      | undefined
    if (health?.ok !== true || typeof health.luaVersion !== 'string') {
      throw new ProtocolError(
        `${this.#base}/health did not answer like an http-runner (expected { ok: true, luaVersion })`,
      )
    }
    if (health.protocol !== PROTOCOL_VERSION) {
      throw new BackendUnavailableError(
        `the runner at ${this.#base} speaks protocol ${String(health.protocol)}; this backend speaks ${PROTOCOL_VERSION}`,
      )
    }
    // Never claim what the runner cannot do: a capability holds only when both sides have it.
    const remote = health.capabilities ?? {}
    const narrowed: BackendCapabilities = { ...HTTP_RUNNER_CAPABILITIES }
    for (const key of CAPABILITY_KEYS) narrowed[key] = HTTP_RUNNER_CAPABILITIES[key] && remote[key] === true
    // Sessions are REPLs over the persistent state, so they need it.
    narrowed.sessions = narrowed.sessions && narrowed.persistentState
    this.#capabilities = narrowed

    if (narrowed.persistentState) {
      const session = (await this.#request('POST', '/sessions', undefined, { timeoutMs, signal: options.signal })) as
        | Partial<SessionReply>
        | undefined
      if (typeof session?.sessionId !== 'string' || session.sessionId === '') {
        throw new ProtocolError(`${this.#base}/sessions did not return a sessionId`)
      }
      this.#sessionId = session.sessionId
    }
    this.setLuaVersion(health.luaVersion)
  }

  protected async doStop(options: StopOptions): Promise<void> {
    const sessionId = this.#sessionId
    this.#sessionId = undefined
    if (sessionId === undefined) return
    // A runner that is gone has nothing left to free; stopping must not fail for it.
    await this.#request('DELETE', `/sessions/${encodeURIComponent(sessionId)}`, undefined, {
      timeoutMs: options.timeoutMs ?? this.#config.requestTimeoutMs,
    }).catch((error: unknown) => {
      this.logger.warn('could not delete the remote session', { vmId: this.id, error: String(error) })
    })
  }

  protected async runCode(code: string | Uint8Array, options: ResolvedExecOptions): Promise<ExecResult> {
    const started = performance.now()
    const wire: WireExecOptions = {
      timeoutMs: options.timeoutMs,
      maxOutputBytes: options.maxOutputBytes,
      chunkName: options.chunkName,
      echoReturnValues: options.echoReturnValues,
      repl: options.repl,
      ...(options.memoryLimitBytes === undefined ? {} : { memoryLimitBytes: options.memoryLimitBytes }),
    }
    const body: ExecuteRequest = {
      code,
      options: wire,
      ...(this.#sessionId === undefined ? {} : { sessionId: this.#sessionId }),
    }
    let reply: unknown
    try {
      reply = await this.#request('POST', '/execute', body, {
        // The runner enforces the deadline; ours only guards against a runner that does not.
        timeoutMs: options.timeoutMs + this.#config.requestGraceMs,
        signal: options.signal,
      })
    } catch (error) {
      const interrupted = (error as { interrupted?: Interrupted }).interrupted
      // Abandoning the request closes the connection, which tells the runner to stop the chunk.
      if (interrupted === 'cancelled') return this.result({ status: 'killed', durationMs: performance.now() - started })
      if (interrupted === 'deadline') return this.result({ status: 'timeout', durationMs: performance.now() - started })
      throw error
    }
    const parsed = parseWireResult(reply)
    if (typeof parsed === 'string') {
      throw new ProtocolError(`the runner at ${this.#base} sent a malformed result: ${parsed}`)
    }
    // No streaming over this protocol: callbacks get each stream once, when the chunk ended.
    if (parsed.stdoutBytes.length > 0) options.onStdout?.(parsed.stdout, parsed.stdoutBytes)
    if (parsed.stderrBytes.length > 0) options.onStderr?.(parsed.stderr, parsed.stderrBytes)
    const { luaVersion: _remoteVersion, ...fields } = parsed
    return this.result(fields)
  }

  protected override statusDetails(): Promise<Record<string, unknown>> {
    return Promise.resolve({ url: this.#base, sessionId: this.#sessionId ?? null })
  }

  /**
   * One JSON exchange. Resolves with the parsed reply (undefined for 204);
   * rejects with a typed error: `BackendUnavailableError` when the runner
   * cannot be reached or fails, `ConfigError` when it refuses the token,
   * `ProtocolError` when a reply is not what the protocol says. A request
   * cut short by `signal` or `timeoutMs` rejects with an error whose
   * `interrupted` says which.
   */
  async #request(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body: unknown,
    options: { timeoutMs: number; signal?: AbortSignal | undefined },
  ): Promise<unknown> {
    const deadline = AbortSignal.timeout(options.timeoutMs)
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline
    const headers: Record<string, string> = { accept: 'application/json' }
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (this.#config.token) headers.authorization = `Bearer ${this.#config.token}`
    const where = `${method} ${this.#base}${path}`

    let response: Response
    let text: string
    try {
      response = await fetch(`${this.#base}${path}`, {
        method,
        headers,
        signal,
        ...(body === undefined ? {} : { body: JSON.stringify(body, bytesReplacer) }),
      })
      text = await response.text()
    } catch (error) {
      if (signal.aborted) {
        const interrupted: Interrupted = options.signal?.aborted ? 'cancelled' : 'deadline'
        throw Object.assign(
          new BackendUnavailableError(
            interrupted === 'cancelled'
              ? `${where} was cancelled`
              : `${where} got no answer within ${options.timeoutMs} ms; is the runner overloaded?`,
            { cause: error },
          ),
          { interrupted },
        )
      }
      throw unreachable(where, error)
    }

    if (response.status === 401 || response.status === 403) {
      throw new ConfigError(
        `the runner at ${this.#base} refused the request (HTTP ${response.status}): ${this.#config.token ? 'the token is wrong' : 'it needs a token'}; set backends.http-runner.token or HTTP_RUNNER_TOKEN`,
      )
    }
    if (response.status === 204) return undefined
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : JSON.parse(text, bytesReviver)
    } catch {
      throw new ProtocolError(
        `${where} answered HTTP ${response.status} with a body that is not JSON: ${JSON.stringify(text.slice(0, 120))}`,
      )
    }
    if (response.ok) return parsed
    const remote = (parsed as Partial<ErrorReply> | undefined)?.error
    const message = typeof remote?.message === 'string' ? remote.message : `HTTP ${response.status}`
    if (response.status === 400 && remote?.tag === 'InvalidArgumentError') throw new InvalidArgumentError(message)
    if (response.status === 404 && path === '/execute') {
      // The runner no longer has our Lua state (it restarted or expired the session).
      this.markFailed()
      throw new BackendUnavailableError(
        `the runner at ${this.#base} lost this VM's session (${message}); its Lua state is gone: start the VM again`,
      )
    }
    throw new BackendUnavailableError(`${where} failed: HTTP ${response.status}: ${message}`, {
      details: { status: response.status, ...(remote?.tag ? { remoteTag: remote.tag } : {}) },
    })
  }
}

/** A fetch failure as a typed error; connection refused says the runner is not running. */
function unreachable(where: string, error: unknown): BackendUnavailableError {
  const cause = (error as { cause?: { code?: unknown } }).cause
  const code = typeof cause?.code === 'string' ? cause.code : undefined
  const hint =
    code === 'ECONNREFUSED'
      ? 'connection refused: is the runner running, and on this port?'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'the host name does not resolve'
        : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET'
          ? 'the connection was lost'
          : (error as Error)?.message || String(error)
  return new BackendUnavailableError(`cannot reach the runner (${where}): ${hint}`, {
    cause: error,
    ...(code ? { details: { code } } : {}),
  })
}

/** The implementation the descriptor's `load()` returns. */
export function createVM(init: VMInit<HttpRunnerConfig>): HttpRunnerVM {
  return new HttpRunnerVM(init)
}
