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

// Errors that mean the request never reached the host, so any call may be
// sent to another one without running twice.
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'EAI_AGAIN', 'ENOTFOUND'])

function unreachable(error: unknown): error is XapiError {
  return error instanceof XapiError && error.xapiCode === 'TRANSPORT_ERROR' && UNREACHABLE.has(error.params[0] ?? '')
}

const bare = (host: string) => host.replace(/^\[|\]$/g, '').toLowerCase()

/**
 * A logged-in XAPI session. Every `open` is paired with a `logout` (XAPI
 * keeps at most 500 sessions per user and evicts the oldest, so leaked
 * sessions end up logging out other tools). The session logs in again once
 * when XAPI says `SESSION_INVALID` (idle sessions expire after 24 h) and
 * follows `HOST_IS_SLAVE` to the pool master, both at login and on calls.
 *
 * Like Xen Orchestra, it learns the addresses of the pool's hosts at login
 * and, when the master stops answering, logs in through another member —
 * which redirects to the new master once one is elected (HA, or
 * `xe pool-emergency-transition-to-master`). While the members still name
 * the dead master the call fails with `POOL_MASTER_UNREACHABLE`.
 */
export class XapiSession {
  #transport: XapiTransport
  readonly #username: string
  readonly #password: string
  readonly #originator: string
  readonly #logger: Logger
  #ref: string | undefined
  #login: Promise<string> | undefined
  #failover: Promise<void> | undefined
  #closed = false
  /** Addresses of the pool's hosts, learnt at login, for failover when the master dies. */
  #poolHosts: string[] = []
  /**
   * The newest `event.from` token seen on this session: a wait that starts
   * from it needs no first round trip to get one, and one whose objects
   * did not change since then blocks at once. Reset when the host changes.
   */
  eventToken = ''

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
      if (unreachable(error)) {
        throw new XapiError(
          'TRANSPORT_ERROR',
          error.params,
          `${error.message}: xapi_url must name a reachable host of the pool (its master, or a member, which redirects to the master)`,
          { cause: error },
        )
      }
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
    return this.#call(method, (ref) => [ref, ...args], options)
  }

  /**
   * Calls a `session.*` method about this session itself, e.g.
   * `session.get_subject`: XAPI wants the session ref twice (as the
   * caller and as the object), and the ref never leaves this class.
   */
  async callOnSelf(method: `session.${string}`, options: CallOptions = {}): Promise<unknown> {
    return this.#call(method, (ref) => [ref, ref], options)
  }

  async #call(method: string, params: (ref: string) => XapiParam[], options: CallOptions): Promise<unknown> {
    let relogged = false
    let hops = 0
    let failedOver = false
    for (;;) {
      const ref = await this.#ensureLogin(options.signal)
      const transport = this.#transport
      try {
        return await transport.call(method, params(ref), options)
      } catch (error) {
        if (!(error instanceof XapiError) || this.#closed) throw error
        // Another call moved the session to another host meanwhile.
        if (transport !== this.#transport && error.xapiCode === 'TRANSPORT_ERROR') continue
        if (unreachable(error) && !failedOver) {
          failedOver = true
          await this.#failOver(error, options.signal)
          continue
        }
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

  /** After the master stopped answering: log in through another pool member (once for all callers). */
  #failOver(cause: XapiError, signal: AbortSignal | undefined): Promise<void> {
    this.#failover ??= this.#tryMembers(cause, signal).finally(() => {
      this.#failover = undefined
    })
    return this.#failover
  }

  async #tryMembers(cause: XapiError, signal: AbortSignal | undefined): Promise<void> {
    const dead = this.#transport.url.hostname
    const members = this.#poolHosts.filter((a) => bare(a) !== bare(dead))
    // A lone host that is restarting: the caller's retries handle that.
    if (members.length === 0) throw cause
    const base = this.#transport
    this.#ref = undefined
    this.eventToken = ''
    base.close()
    for (const address of members) {
      this.#logger.warn('XAPI pool master does not answer; trying another pool member', { from: dead, to: address })
      this.#transport = base.forHost(address)
      try {
        this.#ref = await this.#loginFollowingMaster(signal)
        return
      } catch (error) {
        this.#transport.close()
        if (!unreachable(error)) throw error
      }
    }
    // Later calls try the master again: it may come back.
    this.#transport = base.forHost(dead)
    throw new XapiError(
      'POOL_MASTER_UNREACHABLE',
      [bare(dead), ...members],
      `the XAPI pool master ${bare(dead)} does not answer, and the other pool members (${members.join(', ')}) do not answer or still name it as master: wait for HA to elect a new master, or run xe pool-emergency-transition-to-master on a member`,
      { cause },
    )
  }

  // The pool's host addresses, for failover. A pool that hides them only loses failover.
  async #learnPoolHosts(ref: string): Promise<void> {
    try {
      const hosts = (await this.#transport.call('host.get_all_records', [ref], { timeoutMs: 15_000 })) as Record<
        string,
        { address?: unknown }
      >
      const addresses = Object.values(hosts ?? {})
        .map((h) => h?.address)
        .filter((a): a is string => typeof a === 'string' && a !== '')
      if (addresses.length) this.#poolHosts = addresses
    } catch (error) {
      this.#logger.debug('could not list the pool hosts; no failover if the master dies', {
        error: (error as Error).message,
      })
    }
  }

  async #moveTo(address: string, oldRef: string): Promise<void> {
    const old = this.#transport
    this.#logger.info('XAPI host is a pool member; moving to the master', { from: old.url.host, to: address })
    // The old host is no master; its session is best logged out, not leaked.
    await old.call('session.logout', [oldRef], { timeoutMs: 5_000 }).catch(() => {})
    old.close()
    this.#transport = old.forHost(address)
    this.eventToken = ''
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
        await this.#learnPoolHosts(ref)
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
          this.eventToken = ''
          continue
        }
        throw error
      }
    }
  }
}
