import { LuaSyntaxError, ProtocolError } from '../errors/index.js'
import { OutputCollector, type OutputFields } from '../util/output.js'
import {
  type DriverExecOptions,
  type DriverExecReply,
  type DriverHello,
  type DriverInitOptions,
  encodeBootstrapPayload,
  encodeExec,
  encodeInit,
  encodeMount,
  encodeQuit,
  encodeReset,
  FrameType,
  parseDone,
  parseHello,
} from './driver-protocol.js'
import { DEFAULT_MAX_FRAME_BYTES, type Frame, FrameDecoder } from './frame-codec.js'

/** The byte sink a {@link DriverConnection} writes requests to (a pipe, an SSH channel). */
export interface DriverTransport {
  /** Writes bytes to the driver's stdin. Each request is one call. */
  write(bytes: Uint8Array): void
}

/** Options of {@link DriverConnection}. */
export interface DriverConnectionOptions {
  /** Largest frame accepted from the driver (see `FrameDecoder`). */
  maxFrameBytes?: number
  /** Called once when the connection dies (transport closed, protocol error, quit). */
  onDead?(error: ProtocolError): void
}

/** Options of {@link DriverConnection.init}. */
export interface DriverConnectionInitOptions extends DriverInitOptions {
  /**
   * Send the bootstrap payload (`<n>\n` + driver program) in the same write
   * as the init frame, for a driver started as `lua -e BOOTSTRAP_LUA`.
   * Default true; false when the driver program was started another way.
   */
  sendProgram?: boolean
}

/** Options of {@link DriverConnection.exec}. */
export interface DriverConnectionExecOptions extends Omit<DriverExecOptions, 'id'> {
  /** Receives stdout as frames arrive: text (streaming UTF-8 decode) and the exact bytes. */
  onStdout?(chunk: string, bytes: Uint8Array): void
  /** Receives stderr as frames arrive; as `onStdout`. */
  onStderr?(chunk: string, bytes: Uint8Array): void
}

/** The reply to an exec, with the captured output: exact bytes, and their UTF-8 text. */
export interface DriverExecOutcome extends DriverExecReply, OutputFields {}

type Settle<T> = { resolve(value: T): void; reject(error: unknown): void }

type Request =
  | ({ kind: 'init'; bytes: Uint8Array } & Settle<DriverHello>)
  | ({
      kind: 'exec'
      id: number
      bytes: Uint8Array
      output: OutputCollector
    } & Settle<DriverExecOutcome>)
  | ({ kind: 'reset' | 'mount'; bytes: Uint8Array; name?: string } & Settle<void>)
  | ({ kind: 'quit'; bytes: Uint8Array } & Settle<void>)

const textDecoder = new TextDecoder()

/**
 * Client of the Lua driver (driver.lua) over any byte stream. The transport
 * owner feeds incoming bytes to {@link receive} and reports the end of the
 * stream with {@link close}; this class does the framing, matching and
 * decoding. Requests are serialized: one is in flight at a time and the
 * others wait in FIFO order, because the driver runs one chunk at a time and
 * its output frames carry no request id.
 *
 * When the stream breaks (closed, malformed frame, fatal `E` frame) every
 * pending and queued request rejects with a {@link ProtocolError}, and later
 * calls reject at once.
 */
export class DriverConnection {
  readonly #transport: DriverTransport
  readonly #decoder: FrameDecoder
  readonly #maxFrameBytes: number
  readonly #onDead: ((error: ProtocolError) => void) | undefined
  readonly #queue: Request[] = []
  #current: Request | undefined
  #deadError: ProtocolError | undefined
  #initSent = false
  #nextId = 1

  /**
   * @param transport - where requests are written
   * @param opts - limits and the death callback
   */
  constructor(transport: DriverTransport, opts: DriverConnectionOptions = {}) {
    this.#transport = transport
    this.#maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    this.#decoder = new FrameDecoder({ maxFrameBytes: this.#maxFrameBytes })
    this.#onDead = opts.onDead
  }

  /** True once the connection can no longer be used. */
  get dead(): boolean {
    return this.#deadError !== undefined
  }

  /** Why the connection died, when it did. */
  get deadReason(): ProtocolError | undefined {
    return this.#deadError
  }

  /**
   * Sends the init frame (and, by default, the bootstrap program first) and
   * resolves with the driver's hello. Must be the first request.
   */
  init(opts: DriverConnectionInitOptions = {}): Promise<DriverHello> {
    if (this.#initSent) return Promise.reject(new ProtocolError('init() was already called on this driver connection'))
    let bytes: Uint8Array
    try {
      // The driver keeps its frames within what this side accepts.
      const frame = encodeInit({ ...opts, maxFrameBytes: this.#maxFrameBytes })
      if (opts.sendProgram === false) {
        bytes = frame
      } else {
        const program = encodeBootstrapPayload()
        bytes = new Uint8Array(program.length + frame.length)
        bytes.set(program, 0)
        bytes.set(frame, program.length)
      }
    } catch (error) {
      return Promise.reject(error)
    }
    this.#initSent = true
    return new Promise<DriverHello>((resolve, reject) => this.#enqueue({ kind: 'init', bytes, resolve, reject }))
  }

  /**
   * Runs a chunk. Resolves with the driver's reply for everything the Lua
   * code did (error, timeout, output limit included) plus the decoded
   * output; rejects only when the connection fails.
   */
  exec(code: string | Uint8Array, opts: DriverConnectionExecOptions = {}): Promise<DriverExecOutcome> {
    const early = this.#checkUsable()
    if (early) return early
    const id = this.#nextId++
    let bytes: Uint8Array
    try {
      const { onStdout: _o, onStderr: _e, ...wire } = opts
      bytes = encodeExec({ ...wire, id }, code)
    } catch (error) {
      return Promise.reject(error)
    }
    return new Promise<DriverExecOutcome>((resolve, reject) =>
      this.#enqueue({
        kind: 'exec',
        id,
        bytes,
        output: new OutputCollector(opts.onStdout, opts.onStderr),
        resolve,
        reject,
      }),
    )
  }

  /** Drops the VM's user state (mounted modules persist). */
  reset(): Promise<void> {
    const early = this.#checkUsable()
    if (early) return early
    const bytes = encodeReset()
    return new Promise<void>((resolve, reject) => this.#enqueue({ kind: 'reset', bytes, resolve, reject }))
  }

  /**
   * Makes a pure-Lua module available to `require`. Rejects with a
   * {@link LuaSyntaxError} when the source does not compile.
   */
  mount(name: string, source: string | Uint8Array): Promise<void> {
    const early = this.#checkUsable()
    if (early) return early
    let bytes: Uint8Array
    try {
      bytes = encodeMount(name, source)
    } catch (error) {
      return Promise.reject(error)
    }
    return new Promise<void>((resolve, reject) => this.#enqueue({ kind: 'mount', name, bytes, resolve, reject }))
  }

  /**
   * Asks the driver to exit once the requests queued before it are done.
   * Resolves when the quit frame is written; the connection is dead after.
   */
  quit(): Promise<void> {
    if (this.#deadError) return Promise.reject(this.#deadError)
    const bytes = encodeQuit()
    return new Promise<void>((resolve, reject) => this.#enqueue({ kind: 'quit', bytes, resolve, reject }))
  }

  /** Feeds bytes read from the driver's stdout. */
  receive(chunk: Uint8Array): void {
    if (this.#deadError) return
    let frames: Frame[]
    try {
      frames = this.#decoder.push(chunk)
    } catch (error) {
      this.#fail(error instanceof ProtocolError ? error : new ProtocolError(String(error), { cause: error }))
      return
    }
    for (const frame of frames) {
      if (this.#deadError) return
      try {
        this.#handle(frame)
      } catch (error) {
        this.#fail(
          error instanceof ProtocolError
            ? error
            : new ProtocolError(`cannot handle a '${frame.type}' frame from the driver: ${String(error)}`, {
                cause: error,
              }),
        )
      }
    }
  }

  /**
   * Reports that the transport closed (process exited, channel closed).
   * Everything pending rejects with a {@link ProtocolError} naming `reason`.
   */
  close(reason?: string | Error): void {
    if (this.#deadError) return
    const text = reason === undefined ? '' : `: ${reason instanceof Error ? reason.message : reason}`
    this.#fail(
      new ProtocolError(`the driver connection closed${text}`, reason instanceof Error ? { cause: reason } : {}),
    )
  }

  #checkUsable(): Promise<never> | undefined {
    if (this.#deadError) return Promise.reject(this.#deadError)
    if (!this.#initSent) return Promise.reject(new ProtocolError('call init() before using the driver connection'))
    return undefined
  }

  #enqueue(request: Request): void {
    if (this.#deadError) {
      request.reject(this.#deadError)
      return
    }
    this.#queue.push(request)
    this.#pump()
  }

  #pump(): void {
    while (!this.#current && !this.#deadError) {
      const next = this.#queue.shift()
      if (!next) return
      this.#current = next
      try {
        this.#transport.write(next.bytes)
      } catch (error) {
        this.#fail(new ProtocolError(`cannot write to the driver: ${String(error)}`, { cause: error }))
        return
      }
      if (next.kind === 'quit') {
        this.#current = undefined
        next.resolve()
        this.#fail(new ProtocolError('the driver connection was quit'))
        return
      }
    }
  }

  #handle(frame: Frame): void {
    const current = this.#current
    switch (frame.type) {
      case FrameType.Fatal:
        this.#fail(new ProtocolError(`the driver stopped with a fatal error: ${textDecoder.decode(frame.payload)}`))
        return
      case FrameType.Hello: {
        if (current?.kind !== 'init') throw new ProtocolError('unexpected hello frame from the driver')
        const hello = parseHello(frame.payload)
        this.#settle()
        current.resolve(hello)
        return
      }
      case FrameType.Stdout:
      case FrameType.Stderr: {
        if (current?.kind !== 'exec') throw new ProtocolError('output frame from the driver while no exec is running')
        current.output.push(frame.type === FrameType.Stdout ? 1 : 2, frame.payload)
        return
      }
      case FrameType.Done: {
        if (!current || current.kind === 'init' || current.kind === 'quit') {
          throw new ProtocolError('unexpected done frame from the driver')
        }
        const reply = parseDone(frame.payload)
        if (current.kind === 'exec') {
          if (reply.id !== current.id) {
            throw new ProtocolError(`driver answered exec ${String(reply.id)} while exec ${current.id} was running`)
          }
          current.output.finish(reply.truncated)
          this.#settle()
          current.resolve({ ...reply, ...current.output.fields() })
          return
        }
        this.#settle()
        if (reply.status === 'ok') {
          current.resolve()
        } else if (current.kind === 'mount') {
          current.reject(
            new LuaSyntaxError(`cannot mount module '${current.name}': ${reply.error?.message ?? 'unknown error'}`),
          )
        } else {
          current.reject(new ProtocolError(`the driver failed to reset: ${reply.error?.message ?? 'unknown error'}`))
        }
        return
      }
      default:
        throw new ProtocolError(`unknown frame type '${frame.type}' from the driver`)
    }
  }

  // The current request is answered: the next one may go out.
  #settle(): void {
    this.#current = undefined
    this.#pump()
  }

  #fail(error: ProtocolError): void {
    if (this.#deadError) return
    this.#deadError = error
    const pending = this.#current ? [this.#current, ...this.#queue] : [...this.#queue]
    this.#current = undefined
    this.#queue.length = 0
    for (const request of pending) request.reject(error)
    if (this.#onDead) {
      try {
        this.#onDead(error)
      } catch {
        // The death is already recorded; a throwing listener changes nothing.
      }
    }
  }
}
