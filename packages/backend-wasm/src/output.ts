/** Chunks up to this size are checked for plain ASCII (argument lists of `fromCharCode` stay small). */
const ASCII_FAST = 1024
const STREAM = { stream: true }

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if ((bytes[i] as number) >= 0x80) return false
  return true
}

/**
 * Turns the engine's output bytes into the result's text and the caller's
 * streaming callbacks. Each stream has its own streaming decoder, so a
 * UTF-8 character split across two flushes is decoded whole.
 */
export class OutputCollector {
  stdout = ''
  stderr = ''
  // Made on a stream's first non-ASCII bytes: most output is short ASCII,
  // and a TextDecoder costs more to build than such text takes to convert.
  readonly #decoders: { 1?: TextDecoder; 2?: TextDecoder } = {}
  readonly #onStdout: ((chunk: string) => void) | undefined
  readonly #onStderr: ((chunk: string) => void) | undefined

  constructor(onStdout?: (chunk: string) => void, onStderr?: (chunk: string) => void) {
    this.#onStdout = onStdout
    this.#onStderr = onStderr
  }

  /** Adds bytes of one stream (1 = stdout, 2 = stderr). */
  readonly push = (stream: 1 | 2, bytes: Uint8Array): void => {
    // Without a decoder no partial character is pending, so ASCII bytes are
    // exactly their char codes.
    if (!this.#decoders[stream] && bytes.length <= ASCII_FAST && isAscii(bytes)) {
      this.#append(stream, String.fromCharCode.apply(null, bytes as unknown as number[]))
      return
    }
    this.#decoders[stream] ??= new TextDecoder()
    this.#append(stream, this.#decoders[stream].decode(bytes, STREAM))
  }

  /**
   * Ends both streams. When the output was cut at the byte cap, a trailing
   * partial character is dropped rather than turned into U+FFFD, which
   * would make the text longer than the cap.
   */
  finish(truncated: boolean): void {
    for (const stream of [1, 2] as const) {
      const decoder = this.#decoders[stream]
      if (decoder) this.#append(stream, truncated ? '' : decoder.decode())
    }
  }

  #append(stream: 1 | 2, text: string): void {
    if (text === '') return
    const listener = stream === 1 ? this.#onStdout : this.#onStderr
    if (stream === 1) this.stdout += text
    else this.stderr += text
    try {
      listener?.(text)
    } catch {
      // A throwing listener must not break the execution or lose the output.
    }
  }
}
