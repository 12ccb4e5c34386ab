/**
 * Synchronous host-function calls across the worker boundary.
 *
 * Lua calls `host.f(x)` inside a worker; the function lives on the host
 * thread and may be async. The worker posts the call and blocks in
 * `Atomics.wait` on a small SharedArrayBuffer; the host runs the function
 * and writes the JSON result into the buffer in chunks, bumping a sequence
 * number each time. Each chunk names its call, so a late answer to a call
 * the worker gave up on is recognised and skipped. The same buffer carries
 * the host's soft-cancel flag, which the worker's clock reads, and the
 * worker's heartbeat: when the runtime last read its clock (the deadline
 * hook does, every few thousand instructions), which tells the host whether
 * a soft stop is alive before it terminates the thread.
 */

const SEQ = 0
const CALL = 1
const LEN = 2
const FLAGS = 3
const CANCEL = 4
const BEAT = 5
const HEADER_BYTES = 32
const DATA_BYTES = 64 * 1024
const FLAG_ERROR = 1
const FLAG_MORE = 2
const NO_BEAT = -1
const INT32_MAX = 2_147_483_647

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A control block for one worker. */
export function createSharedBlock(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + DATA_BYTES)
}

/** The host side: answers calls and raises the cancel flag. */
export class HostChannelWriter {
  readonly #i32: Int32Array
  readonly #data: Uint8Array
  #current: { call: number; bytes: Uint8Array; error: boolean; offset: number } | undefined

  constructor(shared: SharedArrayBuffer) {
    this.#i32 = new Int32Array(shared, 0, HEADER_BYTES / 4)
    this.#data = new Uint8Array(shared, HEADER_BYTES, DATA_BYTES)
  }

  /** Sets or clears the soft-cancel flag of the running execution. */
  setCancel(on: boolean): void {
    Atomics.store(this.#i32, CANCEL, on ? 1 : 0)
  }

  /** Forgets the heartbeat of the previous execution (before posting the next). */
  clearBeat(): void {
    Atomics.store(this.#i32, BEAT, NO_BEAT)
  }

  /** When the running execution's runtime last read its clock, in ms since it was sent; undefined if never. */
  lastBeat(): number | undefined {
    const beat = Atomics.load(this.#i32, BEAT)
    return beat === NO_BEAT ? undefined : beat
  }

  /** Starts answering `call` with `payload` (JSON text, or an error message). */
  answer(call: number, payload: string, error: boolean): void {
    this.#current = { call, bytes: encoder.encode(payload), error, offset: 0 }
    this.#writeChunk()
  }

  /** The worker took a chunk and wants the next one. */
  next(call: number): void {
    if (this.#current?.call === call) this.#writeChunk()
  }

  /** The worker gave up on `call`. */
  cancel(call: number): void {
    if (this.#current?.call === call) this.#current = undefined
  }

  #writeChunk(): void {
    const cur = this.#current
    if (!cur) return
    const piece = cur.bytes.subarray(cur.offset, cur.offset + DATA_BYTES)
    cur.offset += piece.length
    const more = cur.offset < cur.bytes.length
    this.#data.set(piece)
    Atomics.store(this.#i32, LEN, piece.length)
    Atomics.store(this.#i32, FLAGS, (cur.error ? FLAG_ERROR : 0) | (more ? FLAG_MORE : 0))
    Atomics.store(this.#i32, CALL, cur.call)
    Atomics.add(this.#i32, SEQ, 1)
    Atomics.notify(this.#i32, SEQ)
    if (!more) this.#current = undefined
  }
}

/** The worker side: blocks for answers and reads the cancel flag. */
export class HostChannelReader {
  readonly #i32: Int32Array
  readonly #data: Uint8Array

  constructor(shared: SharedArrayBuffer) {
    this.#i32 = new Int32Array(shared, 0, HEADER_BYTES / 4)
    this.#data = new Uint8Array(shared, HEADER_BYTES, DATA_BYTES)
  }

  /** Records a clock read, `elapsedMs` after the running execution was sent. */
  beat(elapsedMs: number): void {
    Atomics.store(this.#i32, BEAT, Math.min(Math.max(0, Math.floor(elapsedMs)), INT32_MAX))
  }

  get cancelled(): boolean {
    return Atomics.load(this.#i32, CANCEL) !== 0
  }

  /** The sequence number to pass to `await` for a call about to be posted. */
  mark(): number {
    return Atomics.load(this.#i32, SEQ)
  }

  /**
   * Blocks until the host answered `call`, asking for further chunks with
   * `requestNext`. Gives up when `deadline` (epoch ms) passes or the
   * cancel flag rises: then returns undefined.
   */
  await(
    call: number,
    seen: number,
    deadline: number,
    now: () => number,
    requestNext: () => void,
  ): { payload: string; error: boolean } | undefined {
    const parts: Uint8Array[] = []
    for (;;) {
      const remaining = deadline - now()
      if (remaining <= 0 || this.cancelled) return undefined
      Atomics.wait(this.#i32, SEQ, seen, Math.min(remaining, 100))
      const seq = Atomics.load(this.#i32, SEQ)
      if (seq === seen) continue
      seen = seq
      if (Atomics.load(this.#i32, CALL) !== call) continue
      const len = Atomics.load(this.#i32, LEN)
      const flags = Atomics.load(this.#i32, FLAGS)
      parts.push(this.#data.slice(0, len))
      if (flags & FLAG_MORE) {
        requestNext()
        continue
      }
      return { payload: decoder.decode(concat(parts)), error: (flags & FLAG_ERROR) !== 0 }
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
