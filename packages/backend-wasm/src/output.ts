/**
 * Turns the engine's output bytes into the result's text and the caller's
 * streaming callbacks. Each stream has its own streaming decoder, so a
 * UTF-8 character split across two flushes is decoded whole.
 */
export class OutputCollector {
  stdout = ''
  stderr = ''
  readonly #decoders = { 1: new TextDecoder(), 2: new TextDecoder() }
  readonly #onStdout: ((chunk: string) => void) | undefined
  readonly #onStderr: ((chunk: string) => void) | undefined

  constructor(onStdout?: (chunk: string) => void, onStderr?: (chunk: string) => void) {
    this.#onStdout = onStdout
    this.#onStderr = onStderr
  }

  /** Adds bytes of one stream (1 = stdout, 2 = stderr). */
  readonly push = (stream: 1 | 2, bytes: Uint8Array): void => {
    this.#append(stream, this.#decoders[stream].decode(bytes, { stream: true }))
  }

  /**
   * Ends both streams. When the output was cut at the byte cap, a trailing
   * partial character is dropped rather than turned into U+FFFD, which
   * would make the text longer than the cap.
   */
  finish(truncated: boolean): void {
    for (const stream of [1, 2] as const) {
      const rest = truncated ? '' : this.#decoders[stream].decode()
      this.#append(stream, rest)
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
