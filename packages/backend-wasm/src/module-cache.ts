import type { LuaWasm } from 'wasmoon'

/**
 * Compiling glue.wasm costs milliseconds and memory; instantiating an
 * already compiled `WebAssembly.Module` is what makes a new VM cheap. This
 * cache holds one compile per source (file path or URL) per thread.
 */
const compiled = new Map<string, Promise<WebAssembly.Module>>()

/**
 * The compiled module for `key`, compiling it with `load` the first time.
 * A failed compile is forgotten so the next VM can retry.
 */
export function cachedModule(key: string, load: () => Promise<WebAssembly.Module>): Promise<WebAssembly.Module> {
  let pending = compiled.get(key)
  if (!pending) {
    pending = load()
    compiled.set(key, pending)
    pending.catch(() => compiled.delete(key))
  }
  return pending
}

/** The parts of wasmoon's namespace this file needs. */
export interface WasmoonNamespace {
  LuaWasm: { initialize(customWasmFileLocation?: string): Promise<LuaWasm> }
}

/** Where Emscripten should think glue.wasm lives; its bytes are never compiled. */
export interface InstantiateOptions {
  /**
   * Node: an existing file (Emscripten reads it before instantiating, and
   * we then ignore the bytes). Browsers: any string; no request is made.
   */
  locateFile: string
}

let chain: Promise<unknown> = Promise.resolve()

/** A fresh Emscripten instance of glue.wasm: wasmoon's wrapper and the instance's own exports. */
export interface LuaWasmInstance {
  lua: LuaWasm
  /**
   * The WebAssembly exports themselves (`lua_pcallk`, `realloc`, the
   * function table...). Emscripten's `Module._lua_*` wrappers in wasmoon's
   * debug build assert and build two message strings on every call; the
   * engine calls these directly instead.
   */
  exports: WebAssembly.Exports
}

/**
 * A fresh wasmoon `LuaWasm` (one Emscripten instance: its own linear memory,
 * MEMFS and abort state) built from an already compiled module.
 *
 * wasmoon 1.16's Emscripten build refuses `instantiateWasm` and
 * `wasmBinary` (they are outside its INCOMING_MODULE_JS_API), so the only
 * seam is the instantiate call itself: for the duration of one
 * initialization we route Emscripten's `WebAssembly.instantiate` /
 * `instantiateStreaming` to our module. Calls are serialized and the hook
 * fires once, only for an import object that satisfies exactly this
 * module's imports, so unrelated WebAssembly use is untouched.
 */
export function instantiateLuaWasm(
  wasmoon: WasmoonNamespace,
  module: WebAssembly.Module,
  options: InstantiateOptions,
): Promise<LuaWasmInstance> {
  const run = chain.then(() => instantiateOnce(wasmoon, module, options))
  chain = run.catch(() => undefined)
  return run
}

type InstantiateFn = (source: unknown, imports?: WebAssembly.Imports) => Promise<unknown>

async function instantiateOnce(
  wasmoon: WasmoonNamespace,
  module: WebAssembly.Module,
  options: InstantiateOptions,
): Promise<LuaWasmInstance> {
  const wa = WebAssembly as unknown as { instantiate: InstantiateFn; instantiateStreaming?: InstantiateFn }
  const realInstantiate = wa.instantiate
  const realStreaming = wa.instantiateStreaming
  let used = false
  const ours = (imports: unknown) => !used && importsFit(module, imports)
  const restore = () => {
    if (wa.instantiate === patched) wa.instantiate = realInstantiate
    if (wa.instantiateStreaming === patchedStreaming) wa.instantiateStreaming = realStreaming
  }
  let exports: WebAssembly.Exports | undefined
  const take = async (imports: WebAssembly.Imports) => {
    used = true
    restore()
    const instance = await instantiateNow(realInstantiate, module, imports)
    exports = instance.exports
    return { instance, module }
  }
  function patched(this: unknown, source: unknown, imports?: WebAssembly.Imports): Promise<unknown> {
    if (imports && ours(imports)) return take(imports)
    return realInstantiate.call(WebAssembly, source, imports)
  }
  function patchedStreaming(this: unknown, source: unknown, imports?: WebAssembly.Imports): Promise<unknown> {
    if (imports && ours(imports)) {
      void Promise.resolve(source).then(
        (r) => (r as Response | undefined)?.body?.cancel?.(),
        () => undefined,
      )
      return take(imports)
    }
    return (realStreaming as InstantiateFn).call(WebAssembly, source, imports)
  }
  wa.instantiate = patched
  if (realStreaming) wa.instantiateStreaming = patchedStreaming

  // Browsers: Emscripten fetches the file synchronously inside initialize()
  // (Node reads it after an await instead). Answer that one fetch with an
  // empty body so no request leaves the page; the bytes would be ignored.
  const g = globalThis as { fetch?: typeof fetch }
  const realFetch = g.fetch
  const answerFetch = !isNode() && typeof realFetch === 'function' && typeof Response === 'function'
  let pending: Promise<LuaWasm>
  try {
    if (answerFetch) g.fetch = () => Promise.resolve(new Response(new Uint8Array(0)))
    pending = wasmoon.LuaWasm.initialize(options.locateFile)
  } catch (error) {
    restore()
    throw error
  } finally {
    if (answerFetch) g.fetch = realFetch
  }
  try {
    const lua = await pending
    if (!exports) throw new Error('luavm: glue.wasm was not instantiated from the compiled module')
    return { lua, exports }
  } finally {
    restore()
  }
}

/**
 * Instantiates at once. `WebAssembly.instantiate` resolves from a task the
 * engine posts to the event loop, which costs milliseconds per VM when the
 * loop is busy; the module is already compiled, so the synchronous
 * constructor does the same work without the wait. Where it is refused (a
 * browser's main thread may cap synchronous instantiation) the
 * asynchronous call does it.
 */
async function instantiateNow(
  realInstantiate: InstantiateFn,
  module: WebAssembly.Module,
  imports: WebAssembly.Imports,
): Promise<WebAssembly.Instance> {
  try {
    return new WebAssembly.Instance(module, imports)
  } catch (error) {
    if (!(error instanceof RangeError)) throw error
    return (await realInstantiate.call(WebAssembly, module, imports)) as WebAssembly.Instance
  }
}

const importNames = new WeakMap<WebAssembly.Module, Array<{ module: string; name: string }>>()

function importsFit(module: WebAssembly.Module, imports: unknown): boolean {
  if (!imports || typeof imports !== 'object') return false
  let names = importNames.get(module)
  if (!names) {
    names = WebAssembly.Module.imports(module).map(({ module: m, name }) => ({ module: m, name }))
    importNames.set(module, names)
  }
  const table = imports as Record<string, Record<string, unknown> | undefined>
  return names.every(({ module: m, name }) => table[m] !== undefined && name in (table[m] as object))
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process
  return typeof p?.versions?.node === 'string'
}
