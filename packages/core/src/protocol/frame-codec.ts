import { ProtocolError } from '../errors/index.js'

/**
 * One frame of the driver protocol: a one-character type and its payload.
 * On the wire a frame is the ASCII header `<type> <length>\n` followed by
 * exactly `length` payload bytes, so payloads may hold any bytes (NUL,
 * newlines, invalid UTF-8) without escaping.
 */
export interface Frame {
  /** One printable ASCII character, e.g. `X` (exec) or `D` (done). */
  type: string
  /** The payload bytes. */
  payload: Uint8Array
}

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * Largest payload accepted, in bytes (default 256 MiB). A larger header
   * means the stream is out of sync or hostile; the decoder fails instead of
   * trying to buffer it.
   */
  maxFrameBytes?: number
}

/** Default for {@link FrameDecoderOptions.maxFrameBytes}. */
export const DEFAULT_MAX_FRAME_BYTES = 256 * 1024 * 1024

// `T ` + up to 16 digits + `\n`: anything longer cannot be a valid header,
// so a missing newline is detected without buffering unbounded garbage.
const MAX_HEADER_BYTES = 2 + 16 + 1
const NEWLINE = 0x0a
const SPACE = 0x20

const encoder = new TextEncoder()

function isFrameType(code: number): boolean {
  return code > SPACE && code < 0x7f
}

/**
 * Encodes one frame into a single buffer, so a request costs one write (one
 * packet over SSH) instead of a header write plus a payload write.
 *
 * @param type - exactly one printable ASCII character
 * @param payload - bytes, or a string encoded as UTF-8
 * @throws ProtocolError when `type` is not one printable ASCII character
 */
export function encodeFrame(type: string, payload: Uint8Array | string): Uint8Array {
  if (type.length !== 1 || !isFrameType(type.charCodeAt(0))) {
    throw new ProtocolError(`invalid frame type ${JSON.stringify(type)}: expected one printable ASCII character`)
  }
  const body = typeof payload === 'string' ? encoder.encode(payload) : payload
  const header = encoder.encode(`${type} ${body.length}\n`)
  const out = new Uint8Array(header.length + body.length)
  out.set(header, 0)
  out.set(body, header.length)
  return out
}

/**
 * Streaming decoder for frames arriving in arbitrary chunks (pipes and SSH
 * channels split and merge writes freely). Feed chunks with {@link push};
 * each call returns the frames completed by that chunk, in order. A
 * malformed or oversized header throws a {@link ProtocolError}, after which
 * the decoder stays failed: the byte stream has lost sync and nothing after
 * that point can be trusted.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number
  // Header bytes seen so far for the frame being decoded.
  #header: number[] = []
  // Set once the header is complete: the frame's type and payload buffer.
  #type: string | undefined
  #payload: Uint8Array | undefined
  #filled = 0
  #failed: ProtocolError | undefined

  /** @param opts - limits; see {@link FrameDecoderOptions} */
  constructor(opts: FrameDecoderOptions = {}) {
    const max = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new ProtocolError(`maxFrameBytes must be a non-negative integer, got ${String(max)}`)
    }
    this.#maxFrameBytes = max
  }

  /** True when the decoder is between frames (nothing partial is buffered). */
  get idle(): boolean {
    return this.#failed === undefined && this.#header.length === 0 && this.#type === undefined
  }

  /**
   * Consumes a chunk and returns the frames it completed.
   *
   * @throws ProtocolError on a malformed or oversized header, or when the
   *   decoder already failed
   */
  push(chunk: Uint8Array): Frame[] {
    if (this.#failed) throw this.#failed
    const frames: Frame[] = []
    let i = 0
    const n = chunk.length
    while (i < n) {
      if (this.#type === undefined) {
        // Header: scan for the newline, bounded by MAX_HEADER_BYTES.
        const byte = chunk[i] as number
        i++
        if (byte !== NEWLINE) {
          this.#header.push(byte)
          if (this.#header.length >= MAX_HEADER_BYTES) this.#fail('frame header too long (missing newline?)')
          continue
        }
        this.#startPayload(frames)
        continue
      }
      const payload = this.#payload as Uint8Array
      const take = Math.min(payload.length - this.#filled, n - i)
      payload.set(chunk.subarray(i, i + take), this.#filled)
      this.#filled += take
      i += take
      if (this.#filled === payload.length) this.#finishFrame(frames)
    }
    return frames
  }

  /**
   * Declares the end of the stream.
   *
   * @throws ProtocolError when the stream ended inside a frame
   */
  end(): void {
    if (this.#failed) throw this.#failed
    if (this.#type !== undefined) {
      this.#fail(
        `stream ended inside a '${this.#type}' frame (${this.#filled} of ${(this.#payload as Uint8Array).length} payload bytes received)`,
      )
    }
    if (this.#header.length > 0) this.#fail('stream ended inside a frame header')
  }

  #startPayload(frames: Frame[]): void {
    const h = this.#header
    this.#header = []
    const text = String.fromCharCode(...h)
    // `T <digits>`: one printable type char, one space, a canonical decimal.
    if (h.length < 3 || !isFrameType(h[0] as number) || h[1] !== SPACE || !/^(0|[1-9][0-9]*)$/.test(text.slice(2))) {
      this.#fail(`malformed frame header ${JSON.stringify(text)}`)
    }
    const len = Number(text.slice(2))
    if (len > this.#maxFrameBytes) {
      this.#fail(`frame of ${len} bytes exceeds the limit of ${this.#maxFrameBytes} bytes`)
    }
    this.#type = text[0] as string
    this.#payload = new Uint8Array(len)
    this.#filled = 0
    if (len === 0) this.#finishFrame(frames)
  }

  #finishFrame(frames: Frame[]): void {
    frames.push({ type: this.#type as string, payload: this.#payload as Uint8Array })
    this.#type = undefined
    this.#payload = undefined
    this.#filled = 0
  }

  #fail(message: string): never {
    this.#failed = new ProtocolError(message)
    this.#header = []
    this.#type = undefined
    this.#payload = undefined
    throw this.#failed
  }
}
