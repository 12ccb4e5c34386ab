import type { LuaValue } from '@bioxen-luavm/core'
import type { EngineExecRequest, EngineHooks, HostCallOutcome, LuaEngine } from '../engine/types.js'
import { EngineCrashedError } from '../engine/types.js'
import { describeThrown, hostResultJson } from '../engine/values.js'
import type { Platform, WasmSource } from '../platform/types.js'
import type { EngineHandle, EngineRequest, ExecIO, ExecOutcome, PlacementStats } from './types.js'

/**
 * Builds an engine in this thread. Engines load lazily, so a fengari-only
 * host never loads wasmoon and the other way round.
 */
export async function createEngine(
  request: EngineRequest,
  hooks: EngineHooks,
  platform: Platform,
  wasm: WasmSource,
): Promise<LuaEngine> {
  if (request.options.kind === 'fengari') {
    const { createFengariEngine } = await import('../engine/fengari-engine.js')
    return createFengariEngine(request.options, hooks)
  }
  const [{ createWasmoonEngine }, module, locateFile] = await Promise.all([
    import('../engine/wasmoon-engine.js'),
    platform.wasmModule(wasm),
    platform.locateFile(),
  ])
  return createWasmoonEngine(request.options, hooks, { module, locateFile })
}

/**
 * Inline isolation: the engine runs on the caller's thread. Fastest (no
 * message passing) but an execution blocks the thread until the runtime's
 * soft deadline stops it, and a single long C call (a pathological
 * `string.find`) cannot be interrupted at all. For trusted code.
 */
export async function createInlineHandle(
  request: EngineRequest,
  platform: Platform,
  wasm: WasmSource,
): Promise<EngineHandle> {
  const handle = new InlineEngineHandle(request, platform, wasm)
  await handle.start()
  return handle
}

class InlineEngineHandle implements EngineHandle {
  readonly #request: EngineRequest
  readonly #platform: Platform
  readonly #wasm: WasmSource
  #engine: LuaEngine | undefined
  #io: ExecIO | undefined
  #luaVersion = 'unknown'

  constructor(request: EngineRequest, platform: Platform, wasm: WasmSource) {
    this.#request = request
    this.#platform = platform
    this.#wasm = wasm
  }

  get luaVersion(): string {
    return this.#luaVersion
  }

  async start(): Promise<void> {
    const hooks: EngineHooks = {
      emit: (stream, bytes) => this.#io?.onOutput(stream, bytes),
      // The thread is busy while Lua runs, so an abort can only come from
      // a callback made during the run (output, host function): the clock
      // sees it and the runtime stops at its next check.
      clock: () => (this.#io?.signal?.aborted ? Number.POSITIVE_INFINITY : performance.now()),
      callHost: (name, args) => this.#callHost(name, args),
    }
    this.#engine = await createEngine(this.#request, hooks, this.#platform, this.#wasm)
    this.#luaVersion = this.#engine.luaVersion
  }

  async exec(request: EngineExecRequest, io: ExecIO): Promise<ExecOutcome> {
    // No await when the engine is up: each one is a turn of the microtask queue.
    const engine = this.#engine ?? (await this.#ready())
    this.#io = io
    try {
      return { json: engine.exec(request) }
    } catch (error) {
      if (!(error instanceof EngineCrashedError)) throw error
      await this.#replace(error.message)
      // Running out of memory is something the program did: a status, not a rejection.
      if (error.memory) return { stop: { status: 'memory', message: `${error.message}; the engine was restarted` } }
      throw error
    } finally {
      this.#io = undefined
    }
  }

  async mount(name: string, source: string): Promise<string | undefined> {
    const problem = (await this.#ready()).mount(name, source)
    if (problem === undefined) {
      // Remembered so a replacement engine gets the module too.
      this.#request.options = {
        ...this.#request.options,
        modules: { ...this.#request.options.modules, [name]: source },
      }
    }
    return problem
  }

  async reset(): Promise<void> {
    ;(await this.#ready()).reset()
  }

  async stats(): Promise<PlacementStats> {
    return { ...(await this.#ready()).stats(), isolation: 'inline' }
  }

  close(): Promise<void> {
    this.#engine?.close()
    this.#engine = undefined
    return Promise.resolve()
  }

  async #ready(): Promise<LuaEngine> {
    if (!this.#engine) await this.start()
    return this.#engine as LuaEngine
  }

  /** The engine broke: a fresh one replaces it and the VM learns its state is gone. */
  async #replace(reason: string): Promise<void> {
    this.#engine?.close()
    this.#engine = undefined
    this.#request.onStateLost({ at: Date.now(), reason, vmIds: [this.#request.vmId] })
    try {
      await this.start()
    } catch {
      // The next call retries the start and reports its failure.
    }
  }

  #callHost(name: string, args: LuaValue[]): HostCallOutcome {
    const fn = this.#request.hostFunctions[name]
    if (typeof fn !== 'function') return { ok: false, message: 'no such host function' }
    try {
      const value = fn(...args)
      if (isThenable(value)) {
        value.then(undefined, () => {})
        return {
          ok: false,
          message:
            'returned a Promise; async host functions need isolation "worker" (inline calls must be synchronous)',
        }
      }
      return { ok: true, json: hostResultJson(value) }
    } catch (error) {
      return { ok: false, message: describeThrown(error) }
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}
