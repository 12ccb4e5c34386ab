import type { LuaValue } from '@bioxen-luavm/core'
import type { EngineHooks, EngineKind, EngineOptions, HostCallOutcome, LuaEngine } from '../engine/types.js'
import { EngineCrashedError } from '../engine/types.js'
import { HostChannelReader } from './host-channel.js'
import { epochNow, type InitMessage, type Request, type WorkerMessage } from './protocol.js'

/** How the worker talks to its host, whatever the platform. */
export interface WorkerPort {
  post(message: WorkerMessage, transfer?: Transferable[]): void
  listen(handler: (message: unknown) => void): void
}

// Output of a fast execution rides on its reply; a long one streams in
// batches so the host sees progress without one message per flush. The
// thread is busy in the engine while Lua runs (no timers), so held output
// is posted from the engine's callbacks: on a write past STREAM_BYTES, on
// the runtime's clock reads once it is STREAM_AFTER_MS old (the deadline
// hook reads the clock all along, so "print, then compute" streams), and
// before a host call blocks the thread.
const STREAM_AFTER_MS = 25
const STREAM_BYTES = 64 * 1024

interface Running {
  rid: number
  slot: number
  /** When the host sent the request (epoch ms). */
  sentAt: number
  deadline: number
  /** A host function was still pending at the deadline. */
  hostTimedOut?: string
  chunks: Array<[1 | 2, Uint8Array]>
  bytes: number
  /** When the oldest output still held was written. */
  heldSince: number
  /**
   * Post every flush of the runtime at once. Hook-free executions end at
   * the deadline by a worker kill, which loses whatever this thread still
   * holds; the runtime already batches (16 KiB, or 25 ms of its clock), so
   * this adds a message per batch, not per print.
   */
  eager: boolean
}

/** Makes one kind of engine inside a worker, from the worker's init message. */
export type WorkerEngineFactory = (options: EngineOptions, hooks: EngineHooks, init: InitMessage) => Promise<LuaEngine>

/**
 * The engines a worker script carries. Each browser worker script carries
 * one (a wasm page never downloads fengari, nor a fengari page wasmoon);
 * the Node worker carries both, each loaded on first use.
 */
export type WorkerEngines = Partial<Record<EngineKind, WorkerEngineFactory>>

/** What a wasmoon engine needs from the init message: the compiled glue.wasm. */
export function wasmSetup(init: InitMessage): { module: WebAssembly.Module; locateFile: string } {
  if (!init.module) throw new Error('this worker was started without glue.wasm; it hosts fengari VMs only')
  return { module: init.module, locateFile: init.locateFile ?? 'glue.wasm' }
}

/**
 * The code inside a worker: it hosts the engines of several VMs (each its
 * own wasm instance or fengari state) and runs one request at a time —
 * executions are synchronous, so the host can always tell what is running
 * when it decides to terminate the thread.
 */
export function serveWorker(port: WorkerPort, factories: WorkerEngines): void {
  let init: InitMessage | undefined
  let channel: HostChannelReader | undefined
  const engines = new Map<number, LuaEngine>()
  let running: Running | undefined
  let callSeq = 0
  let queue: Promise<void> = Promise.resolve()

  const flush = (run: Running) => {
    if (run.chunks.length === 0) return
    port.post(
      { t: 'out', rid: run.rid, chunks: run.chunks },
      run.chunks.map(([, b]) => b.buffer as ArrayBuffer),
    )
    run.chunks = []
    run.bytes = 0
  }

  const hooksFor = (slot: number): EngineHooks => ({
    emit(stream, bytes) {
      const run = running
      if (!run || run.slot !== slot) return
      if (run.chunks.length === 0) run.heldSince = performance.now()
      run.chunks.push([stream, bytes])
      run.bytes += bytes.length
      if (run.eager || run.bytes >= STREAM_BYTES) flush(run)
    },
    clock() {
      const now = performance.now()
      const run = running
      if (run && run.slot === slot) {
        // The heartbeat the host checks before a hard kill (see WorkerConnection).
        if (channel) channel.beat(epochNow() - run.sentAt)
        if (run.chunks.length > 0 && now - run.heldSince >= STREAM_AFTER_MS) flush(run)
      }
      return channel?.cancelled ? Number.POSITIVE_INFINITY : now
    },
    callHost(name: string, args: LuaValue[]): HostCallOutcome {
      const run = running
      if (!run || run.slot !== slot) return { ok: false, message: 'host functions can only be called while code runs' }
      if (!channel) {
        return {
          ok: false,
          message:
            'host functions in a worker need SharedArrayBuffer (a cross-origin isolated page); use isolation "inline"',
        }
      }
      flush(run)
      const call = ++callSeq
      const seen = channel.mark()
      port.post({ t: 'host-call', rid: run.rid, call, slot, name, args })
      const answer = channel.await(call, seen, run.deadline, epochNow, () => port.post({ t: 'host-next', call }))
      if (!answer) {
        port.post({ t: 'host-cancel', call })
        run.hostTimedOut = name
        return { ok: false, message: 'the host did not answer before the deadline' }
      }
      return answer.error ? { ok: false, message: answer.payload } : { ok: true, json: answer.payload }
    },
  })

  const create = async (slot: number, options: EngineOptions): Promise<LuaEngine> => {
    if (!init) throw new Error('worker not initialised')
    const factory = factories[options.kind]
    if (!factory) {
      throw new Error(
        `this worker script hosts ${Object.keys(factories).join(', ')} engines, not ${options.kind}: point \`workerUrl\` at the ${options.kind === 'fengari' ? 'fengari-worker.js' : 'wasm-worker.js'} the package ships`,
      )
    }
    return factory(options, hooksFor(slot), init)
  }

  const engineOf = (slot: number): LuaEngine => {
    const engine = engines.get(slot)
    if (!engine) throw new Error(`no engine for slot ${slot}`)
    return engine
  }

  const handle = async (req: Request): Promise<unknown> => {
    switch (req.t) {
      case 'create': {
        engines.get(req.slot)?.close()
        const engine = await create(req.slot, req.options)
        engines.set(req.slot, engine)
        return { luaVersion: engine.luaVersion }
      }
      case 'exec': {
        const engine = engineOf(req.slot)
        // The deadline counts from when the host dispatched the request, so
        // message latency cannot push the soft stop past the host's hard one.
        const elapsed = Math.max(0, epochNow() - req.sentAt)
        const timeoutMs = Math.max(1, req.request.timeoutMs - elapsed)
        const run: Running = {
          rid: req.rid,
          slot: req.slot,
          sentAt: req.sentAt,
          deadline: req.sentAt + req.request.timeoutMs,
          chunks: [],
          bytes: 0,
          heldSince: 0,
          eager: !req.request.softDeadline,
        }
        running = run
        try {
          const json = engine.exec({ ...req.request, timeoutMs })
          return {
            json: run.hostTimedOut
              ? asTimeout(json, req.request.timeoutMs, run.hostTimedOut)
              : statingRequestedTimeout(json, req.request.timeoutMs),
            output: run.chunks,
          }
        } finally {
          running = undefined
        }
      }
      case 'mount':
        return { problem: engineOf(req.slot).mount(req.name, req.source) }
      case 'reset':
        engineOf(req.slot).reset()
        return null
      case 'stats':
        return engineOf(req.slot).stats()
      case 'destroy':
        engines.get(req.slot)?.close()
        engines.delete(req.slot)
        return null
    }
  }

  port.listen((message) => {
    const msg = message as InitMessage | Request
    if (msg.t === 'init') {
      init = msg
      channel = msg.shared ? new HostChannelReader(msg.shared) : undefined
      port.post({ t: 'ready' })
      return
    }
    const req = msg as Request
    // One request at a time, in arrival order, even while one awaits (create).
    queue = queue
      .then(() => handle(req))
      .then(
        (value) => {
          const out = (value as { output?: Array<[1 | 2, Uint8Array]> } | null)?.output
          port.post(
            { t: 'reply', rid: req.rid, ok: true, value },
            out?.map(([, b]) => b.buffer as ArrayBuffer),
          )
        },
        (error: unknown) => {
          const crashed = error instanceof EngineCrashedError
          if (crashed) engines.delete((req as { slot: number }).slot)
          port.post({
            t: 'reply',
            rid: req.rid,
            ok: false,
            error: error instanceof Error ? error.message : String(error),
            crashed,
            memory: crashed && (error as EngineCrashedError).memory,
          })
        },
      )
      .catch((error: unknown) => {
        port.post({ t: 'reply', rid: req.rid, ok: false, error: `worker could not reply: ${String(error)}` })
      })
  })
}

/**
 * The deadline passed while Lua waited for a host function. The waiting
 * call raised an error; if that error ended the chunk, the run is reported
 * as the timeout it was (the runtime's hook never got to fire).
 */
/** The engine ran with what was left of the budget; its timeout message states the budget the caller asked for. */
function statingRequestedTimeout(json: string, timeoutMs: number): string {
  if (!json.includes('"status":"timeout"')) return json
  const result = JSON.parse(json) as { status: string; error?: { message?: string } }
  if (result.status !== 'timeout' || !result.error) return json
  result.error.message = `execution timed out after ${timeoutMs} ms`
  return JSON.stringify(result)
}

function asTimeout(json: string, timeoutMs: number, name: string): string {
  const result = JSON.parse(json) as { status: string; error?: unknown }
  if (result.status !== 'error') return json
  result.status = 'timeout'
  result.error = { message: `execution timed out after ${timeoutMs} ms waiting for host.${name}`, kind: 'runtime' }
  return JSON.stringify(result)
}
