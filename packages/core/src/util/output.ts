import { bytesToText, concatBytes } from './bytes.js'

/** Receives one piece of a stream: its text (streaming UTF-8 decode) and its exact bytes. */
export type OutputListener = (chunk: string, bytes: Uint8Array) => void

/** Chunks up to this size are checked for plain ASCII (argument lists of `fromCharCode` stay small). */
const ASCII_FAST = 1024
const STREAM = { stream: true }

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if ((bytes[i] as number) >= 0x80) return false
  return true
}

/**
 * One output stream of an execution: its exact bytes, and the text and
 * streaming callbacks derived from them. A streaming decoder turns the
 * bytes into text, so a UTF-8 character split across two pieces is
 * decoded whole (never two U+FFFD).
 */
export class OutputStream {
  #chunks: Uint8Array[] = []
  #length = 0
  #text = ''
  // Made on the first non-ASCII bytes: most output is short ASCII, and a
  // TextDecoder costs more to build than such text takes to convert.
  #decoder: TextDecoder | undefined
  #ended = false
  readonly #listener: OutputListener | undefined

  constructor(listener?: OutputListener) {
    this.#listener = listener
  }

  /** Bytes received so far. */
  get byteLength(): number {
    return this.#length
  }

  /** The text so far (a UTF-8 view of the bytes). */
  get text(): string {
    return this.#text
  }

  /** The exact bytes so far. */
  get bytes(): Uint8Array {
    if (this.#chunks.length > 1) this.#chunks = [concatBytes(this.#chunks)]
    return concatBytes(this.#chunks)
  }

  /** Adds bytes; the caller must not change them afterwards. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0 || this.#ended) return
    this.#chunks.push(bytes)
    this.#length += bytes.length
    let text: string
    // Without a decoder no partial character is pending, so ASCII bytes are
    // exactly their char codes.
    if (!this.#decoder && bytes.length <= ASCII_FAST && isAscii(bytes)) {
      text = String.fromCharCode.apply(null, bytes as unknown as number[])
    } else {
      this.#decoder ??= new TextDecoder('utf-8', { ignoreBOM: true })
      text = this.#decoder.decode(bytes, STREAM)
    }
    this.#deliver(text, bytes)
  }

  /**
   * Ends the stream. When the output was cut at the byte cap, a trailing
   * partial character is dropped rather than turned into U+FFFD, which
   * would make the text longer than the cap.
   */
  end(truncated: boolean): void {
    if (this.#ended) return
    this.#ended = true
    const decoder = this.#decoder
    if (decoder && !truncated) this.#deliver(decoder.decode(), new Uint8Array(0))
  }

  #deliver(text: string, bytes: Uint8Array): void {
    this.#text += text
    if (text === '' && bytes.length === 0) return
    try {
      this.#listener?.(text, bytes)
    } catch {
      // A throwing listener must not break the execution or lose the output.
    }
  }
}

/** The output fields of an `ExecResult`. */
export interface OutputFields {
  stdout: string
  stderr: string
  stdoutBytes: Uint8Array
  stderrBytes: Uint8Array
}

/**
 * Turns the output bytes of one execution (stream 1 = stdout, 2 = stderr)
 * into the result's bytes and text and the caller's streaming callbacks.
 */
export class OutputCollector {
  readonly out: OutputStream
  readonly err: OutputStream

  constructor(onStdout?: OutputListener, onStderr?: OutputListener) {
    this.out = new OutputStream(onStdout)
    this.err = new OutputStream(onStderr)
  }

  /** Adds bytes of one stream. */
  readonly push = (stream: 1 | 2, bytes: Uint8Array): void => {
    ;(stream === 2 ? this.err : this.out).push(bytes)
  }

  /** Ends both streams (see {@link OutputStream.end}). */
  finish(truncated: boolean): void {
    this.out.end(truncated)
    this.err.end(truncated)
  }

  /** The result's output fields. */
  fields(): OutputFields {
    return { stdout: this.out.text, stderr: this.err.text, stdoutBytes: this.out.bytes, stderrBytes: this.err.bytes }
  }
}

/**
 * Output fields from bytes alone (for output assembled after the fact,
 * e.g. cut at a host-side cap): the text is their UTF-8 view.
 */
export function outputFields(stdoutBytes: Uint8Array, stderrBytes: Uint8Array, truncated: boolean): OutputFields {
  return {
    stdout: bytesToText(stdoutBytes, truncated),
    stderr: bytesToText(stderrBytes, truncated),
    stdoutBytes,
    stderrBytes,
  }
}

/**
 * Cuts output to a cap of `maxBytes` for stdout and stderr together,
 * counted and cut in bytes. stdout is kept first, as it was produced first
 * by the runtime's accounting. For output that reached the host past the
 * runtime's own cut (raw writes of C code or child processes to a
 * process's stderr; what a killed run streamed before it died).
 */
export function cutOutput(
  stdout: Uint8Array,
  stderr: Uint8Array,
  maxBytes: number,
): { stdout: Uint8Array; stderr: Uint8Array; truncated: boolean } {
  if (stdout.length >= maxBytes) {
    return {
      stdout: stdout.subarray(0, maxBytes),
      stderr: new Uint8Array(0),
      truncated: stdout.length > maxBytes || stderr.length > 0,
    }
  }
  const room = maxBytes - stdout.length
  if (stderr.length <= room) return { stdout, stderr, truncated: false }
  return { stdout, stderr: stderr.subarray(0, room), truncated: true }
}
