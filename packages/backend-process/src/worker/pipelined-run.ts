import {
  type DriverExecOutcome,
  type DriverHello,
  FrameDecoder,
  FrameType,
  OutputCollector,
  ProtocolError,
  parseDone,
  parseHello,
} from '@bioxen-luavm/core'

/** One exec frame written ahead of time, with its output callbacks. */
export interface PipelinedExec {
  id: number
  onStdout?(chunk: string, bytes: Uint8Array): void
  onStderr?(chunk: string, bytes: Uint8Array): void
}

/**
 * Reads the replies of requests that were all written at once — init, then
 * exec frames, then quit — so a one-shot process costs no round trip per
 * request. `DriverConnection` sends one request per reply on purpose (it
 * serves long-lived drivers); this reader is its pipelined twin for a
 * process that runs a fixed script and exits.
 */
export class PipelinedRun {
  readonly #decoder = new FrameDecoder()
  readonly #execs: PipelinedExec[]
  readonly #results: Array<{
    resolve(v: DriverExecOutcome): void
    reject(e: unknown): void
    promise: Promise<DriverExecOutcome>
  }>
  readonly #hello: { resolve(v: DriverHello): void; reject(e: unknown): void; promise: Promise<DriverHello> }
  #index = -1 // -1 until the hello arrived
  #output: OutputCollector | undefined
  #failed: ProtocolError | undefined

  constructor(execs: PipelinedExec[]) {
    this.#execs = execs
    this.#results = execs.map(() => deferred<DriverExecOutcome>())
    this.#hello = deferred<DriverHello>()
    // Settled by the owner or by close(); an unobserved rejection is not an error here.
    for (const r of this.#results) r.promise.catch(() => {})
    this.#hello.promise.catch(() => {})
  }

  /** Resolves with the driver's hello. */
  get hello(): Promise<DriverHello> {
    return this.#hello.promise
  }

  /** Resolves with the reply to the i-th exec. */
  result(i: number): Promise<DriverExecOutcome> {
    const r = this.#results[i]
    if (!r) throw new RangeError(`no pipelined exec #${i}`)
    return r.promise
  }

  /** Feeds bytes from the driver's stdout. */
  receive(chunk: Uint8Array): void {
    if (this.#failed) return
    try {
      for (const frame of this.#decoder.push(chunk)) this.#handle(frame.type, frame.payload)
    } catch (error) {
      this.close(error instanceof Error ? error : new Error(String(error)))
    }
  }

  /** The stream ended: whatever is unanswered fails. */
  close(reason: Error | string): void {
    if (this.#failed) return
    const message = typeof reason === 'string' ? reason : reason.message
    this.#failed =
      reason instanceof ProtocolError ? reason : new ProtocolError(`the driver connection closed: ${message}`)
    this.#hello.reject(this.#failed)
    for (let i = Math.max(0, this.#index); i < this.#results.length; i++) this.#results[i]?.reject(this.#failed)
  }

  #handle(type: string, payload: Uint8Array): void {
    if (type === FrameType.Fatal)
      throw new ProtocolError(`the driver stopped with a fatal error: ${new TextDecoder().decode(payload)}`)
    if (this.#index === -1) {
      if (type !== FrameType.Hello) throw new ProtocolError(`expected the hello frame, got '${type}'`)
      this.#hello.resolve(parseHello(payload))
      this.#index = 0
      return
    }
    const exec = this.#execs[this.#index]
    const result = this.#results[this.#index]
    if (!exec || !result) throw new ProtocolError(`unexpected '${type}' frame after the last pipelined exec`)
    this.#output ??= new OutputCollector(exec.onStdout, exec.onStderr)
    const output = this.#output
    if (type === FrameType.Stdout || type === FrameType.Stderr) {
      output.push(type === FrameType.Stdout ? 1 : 2, payload)
      return
    }
    if (type !== FrameType.Done) throw new ProtocolError(`unexpected '${type}' frame from the driver`)
    const reply = parseDone(payload)
    if (reply.id !== exec.id)
      throw new ProtocolError(`driver answered exec ${String(reply.id)} while exec ${exec.id} was running`)
    output.finish(reply.truncated)
    this.#output = undefined
    this.#index++
    result.resolve({ ...reply, ...output.fields() })
  }
}

function deferred<T>() {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
