import {
  BOOTSTRAP_LUA,
  ConfigError,
  DriverConnection,
  type DriverConnectionExecOptions,
  type DriverExecOutcome,
  type DriverHello,
  type Logger,
  LuaNotFoundError,
  SshError,
  silentLogger,
  VMTimeoutError,
} from '@bioxen-luavm/core'
import type { ClientChannel } from 'ssh2'
import type { SshConnection } from './connection.js'
import { shellQuote } from './shell.js'

/** Options of {@link RemoteDriver.start}. */
export interface RemoteDriverOptions {
  /** Interpreter on the guest (default `lua5.4`: plain `lua` is often 5.1 on Debian). */
  lua?: string
  /** Run user code in the sandbox (default true). */
  sandbox?: boolean
  grants?: readonly string[]
  /** Environment for the interpreter (e.g. `LUA_PATH_5_4` for a luarocks tree). */
  env?: Readonly<Record<string, string>>
  /**
   * Memory cap of the interpreter (what Lua may use on top of its own
   * footprint): the hard RLIMIT_AS it starts under, through the guest's
   * `prlimit`. Executions may lower it ({@link RemoteDriver.limitMemory}).
   */
  memoryLimitBytes?: number
  /** Deadline for the driver's hello (default 15 s). */
  startTimeoutMs?: number
  logger?: Logger
}

// Address space the interpreter maps before Lua code runs (binary, libc,
// the runtime): a cap counts what Lua may use on top of it, as the process
// backend's does.
const INTERPRETER_FOOTPRINT_BYTES = 8 * 1024 * 1024

const addressSpace = (memoryLimitBytes: number): number => Math.floor(memoryLimitBytes) + INTERPRETER_FOOTPRINT_BYTES

// The wrapper's exit status when a cap is asked for and the guest has no prlimit.
const NO_PRLIMIT = 125

// The guest-side wrapper, run by `sh -c` with $0 = interpreter, $1 = the
// bootstrap and $2 = the hard RLIMIT_AS in bytes or "" (so none needs
// nested quoting):
// - `$$` is the new session's (and process group's) id under `setsid`, and
//   stays the interpreter's pid after `exec` (prlimit execs it too); it goes
//   to stderr first, with whether the guest has prlimit, so the host can
//   kill the whole group and change its memory cap from a second channel;
// - a watchdog in the same group writes one byte per second to stderr.
//   When the SSH session dies (host crash, network loss) the pipe breaks,
//   `printf` fails with EPIPE, and the watchdog kills the group: closing a
//   channel does not kill a runaway Lua on its own;
// - the watchdog also ends (killing leftovers) once the interpreter exits.
const WRAPPER =
  'pg=$$; pl=yes; command -v prlimit >/dev/null 2>&1 || pl=no; printf "luavm-pgid %s prlimit=%s\\n" "$pg" "$pl" >&2; ' +
  `if [ -n "$2" ]; then [ "$pl" = yes ] || exit ${NO_PRLIMIT}; fi; ` +
  '( trap "" PIPE; while kill -0 "$pg" 2>/dev/null && printf . >&2; do sleep 1; done; kill -9 "-$pg" 2>/dev/null ) </dev/null >/dev/null & ' +
  'if [ -n "$2" ]; then exec prlimit --as="$2:$2" -- "$0" -e "$1"; fi; exec "$0" -e "$1"'

/**
 * The exec string that starts the driver. `setsid -w` gives the driver its
 * own process group (and relays its exit status); without setsid the
 * shell sshd started is already a session leader on OpenSSH.
 */
export function driverCommand(
  lua: string,
  env: Readonly<Record<string, string>> = {},
  memoryLimitBytes?: number,
): string {
  let exports = ''
  for (const [name, value] of Object.entries(env)) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) throw new SshError(`invalid environment variable name '${name}'`)
    exports += `export ${name}=${shellQuote(value)}; `
  }
  const hard = memoryLimitBytes === undefined ? '' : String(addressSpace(memoryLimitBytes))
  const args = `sh -c ${shellQuote(WRAPPER)} ${shellQuote(lua)} ${shellQuote(BOOTSTRAP_LUA)} ${shellQuote(hard)}`
  return `${exports}if command -v setsid >/dev/null 2>&1; then exec setsid -w ${args}; else exec ${args}; fi`
}

/** The command a second channel runs to set the driver's RLIMIT_AS (soft, hard: bytes or `unlimited`). */
export function prlimitCommand(pid: number, soft: number | 'unlimited', hard: number | 'unlimited'): string {
  if (!Number.isSafeInteger(pid) || pid < 2) throw new SshError(`refusing to change the limits of pid ${pid}`)
  const bytes = (v: number | 'unlimited') => (v === 'unlimited' ? v : String(Math.floor(v)))
  return `prlimit --pid ${pid} --as=${bytes(soft)}:${bytes(hard)}`
}

/** The command a second channel runs to kill the driver's whole process group. */
export function killCommand(pgid: number): string {
  // `kill -- -1` would kill every process of the user: refuse anything odd.
  if (!Number.isSafeInteger(pgid) || pgid < 2) throw new SshError(`refusing to kill process group ${pgid}`)
  // `kill -9 -N` is the one spelling dash, bash and busybox all accept for a group.
  return `kill -9 -${pgid} 2>/dev/null || kill -9 ${pgid} 2>/dev/null; true`
}

const MAX_DIAGNOSTICS = 4096

/**
 * The Lua driver running on the guest over one SSH exec channel, with the
 * framed protocol of `DriverConnection`. User code travels only inside
 * frames; the command line holds our bootstrap and nothing else.
 *
 * Hard kill: the driver reports its process group id before it starts; a
 * second exec channel runs `kill -9 -<pgid>` (see {@link kill}),
 * which ends the interpreter and anything it spawned. The VM then starts a
 * fresh driver. OpenSSH ignores `signal('KILL')` on a channel, so this is
 * the only reliable way to stop a runaway chunk.
 */
export class RemoteDriver {
  readonly #conn: SshConnection
  readonly #channel: ClientChannel
  readonly #driver: DriverConnection
  readonly #logger: Logger
  readonly #closed: Promise<{ code: number | null; signal: string | null }>
  #pgid: number | undefined
  #prlimit = false
  readonly #hardLimit: number | 'unlimited'
  #softLimit: number | 'unlimited'
  #hello: DriverHello | undefined
  #exited = false
  #diagnostics = ''

  private constructor(
    conn: SshConnection,
    channel: ClientChannel,
    logger: Logger,
    memoryLimitBytes: number | undefined,
    onPgid: (pgid: number) => void,
  ) {
    this.#conn = conn
    this.#channel = channel
    this.#logger = logger
    this.#hardLimit = memoryLimitBytes === undefined ? 'unlimited' : addressSpace(memoryLimitBytes)
    this.#softLimit = this.#hardLimit
    this.#driver = new DriverConnection({
      write: (bytes) => {
        channel.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
      },
    })
    channel.on('data', (chunk: Buffer) => this.#driver.receive(chunk))
    let stderrHead = ''
    channel.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1')
      if (this.#pgid === undefined) {
        stderrHead += text
        const m = /luavm-pgid (\d+) prlimit=(yes|no)\n/.exec(stderrHead)
        if (m) {
          this.#prlimit = m[2] === 'yes'
          this.#pgid = Number(m[1])
          onPgid(this.#pgid)
          this.#note(stderrHead.slice(0, m.index) + stderrHead.slice(m.index + m[0].length))
        } else if (stderrHead.length > MAX_DIAGNOSTICS) {
          this.#note(stderrHead)
          stderrHead = ''
        }
        return
      }
      this.#note(text)
    })
    this.#closed = new Promise((resolve) => {
      channel.on('close', (code: number | null = null, signal: string | null = null) => {
        this.#exited = true
        const why = this.#diagnostics.trim()
        this.#driver.close(
          `the remote Lua exited (${signal ? `signal ${signal}` : `status ${code}`})${why ? `: ${why.slice(0, 500)}` : ''}`,
        )
        resolve({ code: typeof code === 'number' ? code : null, signal: signal ?? null })
      })
    })
  }

  /**
   * Starts the driver and waits for its hello. Rejects with
   * `LuaNotFoundError` when the interpreter is missing on the guest,
   * `VMTimeoutError` when no hello comes, or `SshError`.
   */
  static async start(conn: SshConnection, options: RemoteDriverOptions = {}): Promise<RemoteDriver> {
    const lua = options.lua ?? 'lua5.4'
    const logger = options.logger ?? silentLogger
    const channel = await conn.exec(driverCommand(lua, options.env, options.memoryLimitBytes))
    let gotPgid: (pgid: number) => void = () => {}
    const pgid = new Promise<number>((resolve) => {
      gotPgid = resolve
    })
    const remote = new RemoteDriver(conn, channel, logger, options.memoryLimitBytes, gotPgid)
    const timeoutMs = options.startTimeoutMs ?? 15_000
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new VMTimeoutError(`the Lua driver on ${conn.host} did not say hello within ${timeoutMs} ms`)),
        timeoutMs,
      )
    })
    try {
      const init = remote.#driver.init({
        sandbox: options.sandbox ?? true,
        ...(options.grants ? { grants: options.grants } : {}),
      })
      const [hello] = await Promise.race([Promise.all([init, pgid]), deadline])
      remote.#hello = hello
      return remote
    } catch (error) {
      await remote.kill().catch(() => {})
      const exit = remote.#exited ? await remote.#closed : undefined
      const why = remote.#diagnostics.trim()
      if (exit?.code === NO_PRLIMIT && !remote.#prlimit) {
        throw new ConfigError(
          `memory_limit_bytes is set, but the guest ${conn.host} has no \`prlimit\` (util-linux) to enforce it: install util-linux in the template or drop memory_limit_bytes`,
          { cause: error },
        )
      }
      if (exit?.code === 127 || /not found/.test(why)) {
        throw new LuaNotFoundError(
          `'${lua}' was not found on the guest ${conn.host}: install it in the template or set lua_executable${why ? ` (${why.slice(0, 300)})` : ''}`,
          { cause: error },
        )
      }
      if (error instanceof VMTimeoutError) throw error
      throw new SshError(
        `the Lua driver on ${conn.host} did not start: ${(error as Error).message}${why ? ` — ${why.slice(0, 300)}` : ''}`,
        { cause: error, details: { host: conn.host, reason: 'driver' } },
      )
    } finally {
      clearTimeout(timer)
    }
  }

  /** The driver's hello (Lua version, sandbox, hooks). */
  get hello(): DriverHello {
    return this.#hello as DriverHello
  }

  /** The driver's process group id on the guest. */
  get pgid(): number | undefined {
    return this.#pgid
  }

  /** Whether the guest has `prlimit`, so memory caps can be enforced (known once started). */
  get canLimitMemory(): boolean {
    return this.#prlimit
  }

  /**
   * Sets the cap for the next executions: `memoryLimitBytes` (at most the
   * cap the driver started with), or back to that cap when undefined. The
   * soft RLIMIT_AS of the running interpreter changes from a second channel,
   * so the driver keeps its Lua state; nothing runs when the cap is already
   * in place.
   */
  async limitMemory(memoryLimitBytes: number | undefined): Promise<void> {
    const hard = this.#hardLimit
    const wanted = memoryLimitBytes === undefined ? hard : addressSpace(memoryLimitBytes)
    const soft = hard === 'unlimited' || wanted === 'unlimited' ? wanted : Math.min(wanted, hard)
    if (soft === this.#softLimit) return
    if (!this.#prlimit || this.#pgid === undefined) {
      throw new ConfigError(
        `the guest ${this.#conn.host} has no \`prlimit\` (util-linux): memory caps cannot be enforced`,
      )
    }
    const r = await this.#conn.run(prlimitCommand(this.#pgid, soft, hard), { timeoutMs: 10_000 })
    if (r.code !== 0) {
      throw new SshError(
        `prlimit could not set the memory cap on ${this.#conn.host}: ${r.stderr.trim() || `status ${r.code}`}`,
        {
          details: { host: this.#conn.host, reason: 'prlimit' },
        },
      )
    }
    this.#softLimit = soft
  }

  /** Whether a memory cap is in force for the next execution. */
  get memoryCapped(): boolean {
    return this.#softLimit !== 'unlimited'
  }

  /** True once the driver's channel closed. */
  get exited(): boolean {
    return this.#exited
  }

  /** Runs a chunk; resolves with the driver's reply, rejects when the driver or the link dies. */
  exec(code: string | Uint8Array, options: DriverConnectionExecOptions): Promise<DriverExecOutcome> {
    return this.#driver.exec(code, options)
  }

  /** Drops the user state of the driver (a fresh sandbox env). */
  reset(): Promise<void> {
    return this.#driver.reset()
  }

  /**
   * Kills the driver's process group from a second channel and waits
   * (bounded) for its channel to close. Safe to call more than once.
   */
  async kill(): Promise<void> {
    if (this.#exited) return
    if (this.#pgid !== undefined && !this.#conn.closed) {
      try {
        await this.#conn.run(killCommand(this.#pgid), { timeoutMs: 10_000 })
      } catch (error) {
        this.#logger.warn('could not kill the remote Lua driver; the guest watchdog ends it when the link drops', {
          host: this.#conn.host,
          error: (error as Error).message,
        })
      }
    }
    if (!(await this.#waitClosed(5_000))) this.#channel.close()
  }

  /**
   * Asks the driver to exit, then ends its process group: the guest
   * watchdog would otherwise hold the channel open for up to a second.
   */
  async quit(graceMs = 200): Promise<void> {
    if (this.#exited) return
    await this.#driver.quit().catch(() => {})
    this.#channel.end()
    if (!(await this.#waitClosed(graceMs))) await this.kill()
  }

  async #waitClosed(ms: number): Promise<boolean> {
    if (this.#exited) return true
    let timer: NodeJS.Timeout | undefined
    const closed = await Promise.race([
      this.#closed.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms)
      }),
    ])
    clearTimeout(timer)
    return closed
  }

  #note(text: string): void {
    // Chunks of only dots are the watchdog's heartbeat.
    const visible = /^[.\s]*$/.test(text) ? '' : text
    if (visible === '' || this.#diagnostics.length >= MAX_DIAGNOSTICS) return
    this.#diagnostics = (this.#diagnostics + visible).slice(0, MAX_DIAGNOSTICS)
    this.#logger.debug('remote Lua stderr', { host: this.#conn.host, text: visible.slice(0, 500) })
  }
}
