import { type Logger, silentLogger, XapiError } from '@bioxen-luavm/core'
import { type CallOptions, XapiTransport, type XapiTransportOptions } from './client.js'
import { str, type XapiParam } from './codec.js'

/** Options of `XapiSession.open`. */
export interface XapiSessionOptions extends XapiTransportOptions {
  username: string
  /** Kept in a private field; never logged, never part of an error. */
  password: string
  /** Shown in XAPI's session list; XAPI caps sessions per originator (default `bioxen-luavm`). */
  originator?: string
  /** Aborts the login. */
  signal?: AbortSignal
}

// Pool redirects to follow before giving up: one hop is the normal case
// (a member names its master); two covers a master change during the call.
const MAX_HOPS = 2

/**
 * A logged-in XAPI session. Every `open` is paired with a `logout` (XAPI
 * keeps at most 500 sessions per user and evicts the oldest, so leaked
 * sessions end up logging out other tools). The session logs in again once
 * when XAPI says `SESSION_INVALID` (idle sessions expire after 24 h) and
 * follows `HOST_IS_SLAVE` to the pool master, both at login and on calls.
 */
export class XapiSession {
  #transport: XapiTransport
  readonly #username: string
  readonly #password: string
  readonly #originator: string
  readonly #logger: Logger
  #ref: string | undefined
  #login: Promise<string> | undefined
  #closed = false

  private constructor(options: XapiSessionOptions) {
    this.#transport = new XapiTransport(options)
    this.#username = options.username
    this.#password = options.password
    this.#originator = options.originator ?? 'bioxen-luavm'
    this.#logger = options.logger ?? silentLogger
  }

  /** Connects and logs in (following a pool member to its master). */
  static async open(options: XapiSessionOptions): Promise<XapiSession> {
    const session = new XapiSession(options)
    try {
      await session.#ensureLogin(options.signal)
    } catch (error) {
      session.#transport.close()
      throw error
    }
    return session
  }

  /** The pool master's URL this session talks to (after any redirect). */
  get url(): string {
    return this.#transport.url.href
  }

  /** True once {@link logout} ran. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * Calls `method` with this session as first argument and resolves with
   * the reply's Value. Rejects like the transport's `call`.
   */
  async call(method: string, args: readonly XapiParam[] = [], options: CallOptions = {}): Promise<unknown> {
    let relogged = false
    let hops = 0
    for (;;) {
      const ref = await this.#ensureLogin(options.signal)
      try {
        return await this.#transport.call(method, [ref, ...args], options)
      } catch (error) {
        if (!(error instanceof XapiError) || this.#closed) throw error
        if (error.xapiCode === 'SESSION_INVALID' && !relogged) {
          relogged = true
          // Another call may already have replaced the session.
          if (this.#ref === ref) this.#ref = undefined
          this.#logger.info('XAPI session expired; logging in again', { host: this.#transport.url.host })
          continue
        }
        if (error.xapiCode === 'HOST_IS_SLAVE' && hops < MAX_HOPS && error.params[0]) {
          hops++
          await this.#moveTo(error.params[0], ref)
          continue
        }
        throw error
      }
    }
  }

  /** Logs out and closes the connection. Idempotent; never rejects. */
  async logout(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const ref = this.#ref ?? (await this.#login?.catch(() => undefined))
    this.#ref = undefined
    if (ref) {
      try {
        await this.#transport.call('session.logout', [ref], { timeoutMs: 10_000 })
      } catch (error) {
        this.#logger.warn('XAPI logout failed; the session expires on its own after 24 h', {
          host: this.#transport.url.host,
          error: (error as Error).message,
        })
      }
    }
    this.#transport.close()
  }

  /** A JSON view without secrets. */
  toJSON(): Record<string, unknown> {
    return { url: this.url, username: this.#username, loggedIn: this.#ref !== undefined && !this.#closed }
  }

  async #moveTo(address: string, oldRef: string): Promise<void> {
    const old = this.#transport
    this.#logger.info('XAPI host is a pool member; moving to the master', { from: old.url.host, to: address })
    // The old host is no master; its session is best logged out, not leaked.
    await old.call('session.logout', [oldRef], { timeoutMs: 5_000 }).catch(() => {})
    old.close()
    this.#transport = old.forHost(address)
    if (this.#ref === oldRef) this.#ref = undefined
  }

  #ensureLogin(signal: AbortSignal | undefined): Promise<string> {
    if (this.#closed) {
      return Promise.reject(new XapiError('SESSION_CLOSED', [], 'the XAPI session was logged out; open a new one'))
    }
    if (this.#ref) return Promise.resolve(this.#ref)
    this.#login ??= this.#loginFollowingMaster(signal).finally(() => {
      this.#login = undefined
    })
    return this.#login
  }

  async #loginFollowingMaster(signal: AbortSignal | undefined): Promise<string> {
    for (let hop = 0; ; hop++) {
      try {
        const ref = str(
          await this.#transport.call(
            'session.login_with_password',
            [this.#username, this.#password, '1.0', this.#originator],
            { signal, timeoutMs: 30_000 },
          ),
          'session ref',
        )
        if (this.#closed) {
          // logout() ran while we were logging in: do not leak this one.
          await this.#transport.call('session.logout', [ref], { timeoutMs: 10_000 }).catch(() => {})
          throw new XapiError('SESSION_CLOSED', [], 'the XAPI session was logged out during login')
        }
        this.#ref = ref
        return ref
      } catch (error) {
        if (error instanceof XapiError && error.xapiCode === 'HOST_IS_SLAVE' && hop < MAX_HOPS && error.params[0]) {
          const old = this.#transport
          this.#logger.info('XAPI host is a pool member; logging in on the master', {
            from: old.url.host,
            to: error.params[0],
          })
          old.close()
          this.#transport = old.forHost(error.params[0])
          continue
        }
        throw error
      }
    }
  }
}
