import { type Logger, SshError, silentLogger, VMTimeoutError } from '@bioxen-luavm/core'
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2'
import type { HostKeyVerifier } from './host-key.js'

/** Where and how to log in to a guest. */
export interface SshTarget {
  host: string
  port: number
  username: string
  /** Private key (PEM/OpenSSH text). Never logged. */
  privateKey?: string | Buffer | undefined
  /** Passphrase of the private key. Never logged. */
  passphrase?: string | undefined
  /** ssh-agent socket path, for agent authentication. */
  agent?: string | undefined
  hostKey: HostKeyVerifier
  /** Handshake deadline per attempt (default 20 s). */
  readyTimeoutMs?: number | undefined
  /** Keepalive interval; a dead link is detected after 3 missed replies (default 15 s). */
  keepaliveIntervalMs?: number | undefined
}

/** The outcome of {@link SshConnection.run}. */
export interface RunResult {
  /** Exit status, or null when the command died from a signal. */
  code: number | null
  signal: string | null
  stdout: string
  stderr: string
  /** True when output went past `maxOutputBytes` and was cut. */
  truncated: boolean
}

/**
 * One SSH connection to a guest (ssh2). Nagle is turned off at once: with
 * sshd's delayed ACKs it costs about 2×40 ms per request otherwise. ssh2
 * emits errors on the client even after `ready`, so a listener is always
 * attached; a lost connection is reported through {@link onClose}.
 */
export class SshConnection {
  readonly #client: Client
  readonly #target: SshTarget
  readonly #closeListeners = new Set<(error?: Error) => void>()
  #closed = false
  #lastError: Error | undefined

  private constructor(client: Client, target: SshTarget) {
    this.#client = client
    this.#target = target
    client.on('error', (error) => {
      this.#lastError = error
    })
    client.on('close', () => {
      this.#closed = true
      for (const listener of this.#closeListeners) {
        try {
          listener(this.#lastError)
        } catch {
          // listeners only observe
        }
      }
    })
  }

  /** Connects once. Rejects with an `SshError` (host key, auth, network). */
  static connect(target: SshTarget, signal?: AbortSignal): Promise<SshConnection> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason)
        return
      }
      const client = new Client()
      let settled = false
      const finish = (error?: unknown) => {
        if (settled) return
        settled = true
        signal?.removeEventListener('abort', onAbort)
        if (error === undefined) {
          resolve(connection)
        } else {
          client.end()
          client.destroy()
          reject(error)
        }
      }
      const onAbort = () => finish(signal?.reason)
      signal?.addEventListener('abort', onAbort, { once: true })
      const connection = new SshConnection(client, target)
      client.once('ready', () => {
        client.setNoDelay(true)
        finish()
      })
      client.on('error', (error) => finish(sshError(error, target)))
      client.once('close', () =>
        finish(
          new SshError(`the SSH connection to ${target.host}:${target.port} closed during login`, {
            details: { host: target.host, port: target.port, reason: 'closed' },
          }),
        ),
      )
      const config: ConnectConfig = {
        host: target.host,
        port: target.port,
        username: target.username,
        hostVerifier: target.hostKey.verify,
        readyTimeout: target.readyTimeoutMs ?? 20_000,
        keepaliveInterval: target.keepaliveIntervalMs ?? 15_000,
        keepaliveCountMax: 3,
        ...(target.privateKey === undefined ? {} : { privateKey: target.privateKey }),
        ...(target.passphrase === undefined ? {} : { passphrase: target.passphrase }),
        ...(target.agent === undefined ? {} : { agent: target.agent }),
      }
      try {
        client.connect(config)
      } catch (error) {
        // ssh2 throws synchronously on a malformed key.
        finish(
          new SshError(`cannot use the SSH key for ${target.username}@${target.host}: ${(error as Error).message}`, {
            details: { host: target.host, port: target.port, reason: 'key' },
          }),
        )
      }
    })
  }

  /** Address as connected. */
  get host(): string {
    return this.#target.host
  }

  /** True once the connection is gone. */
  get closed(): boolean {
    return this.#closed
  }

  /** Calls `listener` once the connection closes (with the error that closed it, if any). */
  onClose(listener: (error?: Error) => void): () => void {
    this.#closeListeners.add(listener)
    return () => this.#closeListeners.delete(listener)
  }

  /**
   * Opens an exec channel. The command goes through the remote user's
   * shell: callers pass constant text or shell-quoted arguments only.
   */
  exec(command: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(this.#lostError())
        return
      }
      try {
        this.#client.exec(command, (error, channel) => {
          if (error) {
            reject(
              new SshError(`cannot open an SSH channel to ${this.#target.host}: ${error.message}`, {
                cause: error,
                details: { host: this.#target.host, reason: 'channel' },
              }),
            )
          } else {
            resolve(channel)
          }
        })
      } catch (error) {
        // ssh2 throws 'Not connected' synchronously when the socket is gone.
        reject(this.#lostError(error as Error))
      }
    })
  }

  /**
   * Runs a command to completion and collects its output (at most
   * `maxOutputBytes` per stream). The deadline and the signal only stop
   * waiting and close the channel; commands that must die with it run
   * under the guest's `timeout`.
   */
  async run(
    command: string,
    options: { stdin?: string; timeoutMs?: number; signal?: AbortSignal; maxOutputBytes?: number } = {},
  ): Promise<RunResult> {
    const channel = await this.exec(command)
    const max = options.maxOutputBytes ?? 1024 * 1024
    return new Promise((resolve, reject) => {
      const out: Buffer[] = []
      const err: Buffer[] = []
      let outBytes = 0
      let errBytes = 0
      let truncated = false
      let code: number | null = null
      let sig: string | null = null
      const collect = (parts: Buffer[], bytes: number, chunk: Buffer): number => {
        const room = max - bytes
        if (room <= 0) {
          truncated = true
          return bytes
        }
        if (chunk.length > room) truncated = true
        parts.push(chunk.subarray(0, room))
        return bytes + Math.min(room, chunk.length)
      }
      channel.on('data', (chunk: Buffer) => {
        outBytes = collect(out, outBytes, chunk)
      })
      channel.stderr.on('data', (chunk: Buffer) => {
        errBytes = collect(err, errBytes, chunk)
      })
      channel.on('exit', (c: number | null, s?: string) => {
        code = c
        sig = s ?? null
      })
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              channel.close()
              done(
                new VMTimeoutError(`the command on ${this.#target.host} did not finish within ${options.timeoutMs} ms`),
              )
            }, options.timeoutMs)
      const onAbort = () => {
        channel.close()
        done(options.signal?.reason)
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      let finished = false
      const done = (error?: unknown) => {
        if (finished) return
        finished = true
        if (timer) clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
        if (error !== undefined) reject(error)
        else {
          resolve({
            code,
            signal: sig,
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
            truncated,
          })
        }
      }
      channel.on('close', (c?: number | null, s?: string) => {
        if (code === null && typeof c === 'number') code = c
        if (sig === null && s) sig = s
        if (this.#closed) done(this.#lostError())
        else done()
      })
      if (options.stdin !== undefined) channel.end(options.stdin)
      else channel.end()
    })
  }

  /** Closes the connection. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#client.end()
    // end() waits for the peer; a dead peer must not keep the socket.
    setTimeout(() => this.#client.destroy(), 2_000).unref()
  }

  #lostError(cause?: Error): SshError {
    const why = cause?.message ?? this.#lastError?.message
    return new SshError(
      `lost the SSH connection to ${this.#target.host}:${this.#target.port}${why ? ` (${why})` : ''}; the guest may have stopped or sshd was restarted`,
      { ...(cause ? { cause } : {}), details: { host: this.#target.host, port: this.#target.port, reason: 'lost' } },
    )
  }
}

function sshError(error: Error & { level?: string }, target: SshTarget): SshError {
  const where = `${target.username}@${target.host}:${target.port}`
  const hostKeyFailure = target.hostKey.failure
  if (hostKeyFailure) return hostKeyFailure
  if (error.level === 'client-authentication') {
    return new SshError(
      `SSH login as ${where} was refused: the key in ssh_key_path (or the agent) is not in the guest's authorized_keys`,
      { cause: error, details: { host: target.host, port: target.port, reason: 'auth' } },
    )
  }
  if (error.level === 'client-timeout') {
    return new SshError(`SSH handshake with ${where} timed out: ${error.message}`, {
      cause: error,
      details: { host: target.host, port: target.port, reason: 'timeout' },
    })
  }
  const code = (error as NodeJS.ErrnoException).code
  return new SshError(`cannot connect to ${where}: ${code ?? ''} ${error.message}`.replace(/\s+/g, ' '), {
    cause: error,
    details: { host: target.host, port: target.port, reason: 'network', ...(code ? { errno: code } : {}) },
  })
}

/** True for failures worth retrying while a fresh guest boots (sshd not up yet). */
export function isTransientSshError(error: unknown): boolean {
  if (!(error instanceof SshError)) return false
  const reason = error.details.reason
  return reason === 'network' || reason === 'timeout' || reason === 'closed'
}

/**
 * Connects, retrying transient failures (connection refused while sshd
 * starts, first-boot key generation) with backoff until `deadline`. Host
 * key and authentication failures are final at once.
 */
export async function connectWithRetry(
  target: SshTarget,
  options: { deadline: number; signal?: AbortSignal | undefined; logger?: Logger },
): Promise<SshConnection> {
  const logger = options.logger ?? silentLogger
  let delay = 250
  let attempt = 0
  for (;;) {
    attempt++
    const remaining = options.deadline - Date.now()
    try {
      return await SshConnection.connect(
        { ...target, readyTimeoutMs: Math.max(1_000, Math.min(target.readyTimeoutMs ?? 20_000, remaining)) },
        options.signal,
      )
    } catch (error) {
      if (!isTransientSshError(error) || Date.now() + delay >= options.deadline) {
        if (isTransientSshError(error)) {
          throw new VMTimeoutError(
            `sshd on ${target.host}:${target.port} did not accept a connection before the deadline (${attempt} attempts): ${(error as Error).message}`,
            { cause: error, details: { host: target.host, port: target.port } },
          )
        }
        throw error
      }
      logger.debug('SSH not ready yet; retrying', { host: target.host, attempt, error: (error as Error).message })
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, delay)
        options.signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(t)
            reject(options.signal?.reason)
          },
          { once: true },
        )
      })
      delay = Math.min(delay * 2, 5_000)
    }
  }
}
