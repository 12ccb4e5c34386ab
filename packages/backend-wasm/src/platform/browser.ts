import type { EngineKind } from '../engine/types.js'
import { lowerInitialMemory } from '../initial-memory.js'
import { cachedModule } from '../module-cache.js'
import type { Platform, WasmSource, WorkerEvents, WorkerLike } from './types.js'

/**
 * glue.wasm shipped next to this file in `dist/browser/`. Bundlers (Vite,
 * webpack 5, Parcel) see `new URL('./glue.wasm', import.meta.url)` and emit
 * the file as an asset of the host app, so it is served by the app itself.
 * Bundlers that don't (esbuild) need it copied and `wasmUrl` pointed at it.
 */
function defaultWasmUrl(): string {
  return new URL('./glue.wasm', import.meta.url).href
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d]

// Not compileStreaming: the bytes are rewritten first (see initial-memory.ts),
// and a 270 KB module compiles in a few milliseconds anyway.
async function compile(url: string): Promise<WebAssembly.Module> {
  const missing = (why: string) =>
    new Error(
      `cannot load glue.wasm from ${url}: ${why}. Serve glue.wasm (in @bioxen-luavm/backend-wasm/dist/browser/) ` +
        'with your app and point the `wasmUrl` option at it, or pass a compiled `wasmModule`',
    )
  const response = await fetch(url, { credentials: 'same-origin' }).catch((error: unknown) => {
    throw missing(error instanceof Error ? error.message : String(error))
  })
  if (!response.ok) throw missing(`HTTP ${response.status}`)
  const bytes = new Uint8Array(await response.arrayBuffer())
  // A dev server answers an unknown path with its index.html.
  if (!WASM_MAGIC.every((b, i) => bytes[i] === b)) {
    throw missing(`the response is not WebAssembly (${response.headers.get('content-type') ?? 'no content-type'})`)
  }
  return WebAssembly.compile(lowerInitialMemory(bytes))
}

/** The worker script shipped for each engine: one engine per script. */
const WORKER_FILE: Record<EngineKind, string> = { wasmoon: 'wasm-worker.js', fengari: 'fengari-worker.js' }

function spawn(url: string | URL | undefined, engine: EngineKind): { worker: Worker; url: string } {
  if (url !== undefined) return { worker: new Worker(url, { type: 'module' }), url: String(url) }
  // The literal forms are what bundlers recognise and bundle as worker chunks.
  const worker =
    engine === 'fengari'
      ? new Worker(new URL('./fengari-worker.js', import.meta.url), { type: 'module' })
      : new Worker(new URL('./wasm-worker.js', import.meta.url), { type: 'module' })
  // Not a `new URL(literal, import.meta.url)`: bundlers would emit (and
  // Vite's dev server would fetch) both scripts for this error-message URL.
  const base = import.meta.url
  return { worker, url: new URL(WORKER_FILE[engine], base).href }
}

/** Browsers: Web Workers, glue.wasm fetched from the app's own origin. */
export const browserPlatform: Platform = {
  name: 'browser',
  get sharedMemory() {
    return (
      typeof SharedArrayBuffer === 'function' &&
      (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true
    )
  },
  cpus: typeof navigator === 'object' && navigator.hardwareConcurrency > 0 ? navigator.hardwareConcurrency : 2,

  wasmModule(source: WasmSource): Promise<WebAssembly.Module> {
    if (source.module) return Promise.resolve(source.module)
    const url = source.url === undefined ? defaultWasmUrl() : String(source.url)
    return cachedModule(url, () => compile(url))
  },

  // No file is read in a browser: the fetch Emscripten makes is answered
  // in memory (see module-cache.ts).
  locateFile: () => Promise.resolve('glue.wasm'),

  spawnWorker(url, { engine }, events: WorkerEvents): Promise<WorkerLike> {
    const { worker, url: from } = spawn(url, engine)
    // A script that never ran (404, an HTML fallback, a CSP refusal) reports
    // an error event before its first message, usually without a message.
    let started = false
    worker.onmessage = (event: MessageEvent) => {
      started = true
      events.message(event.data)
    }
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault()
      events.error(
        new Error(
          started
            ? event.message || 'the worker failed'
            : `the ${engine === 'fengari' ? 'fengari' : 'wasm'} worker could not start from ${from}` +
                `${event.message ? ` (${event.message})` : ''}. Serve ${WORKER_FILE[engine]} (in ` +
                '@bioxen-luavm/backend-wasm/dist/browser/) with your app and point the `workerUrl` option at it',
        ),
      )
    }
    worker.onmessageerror = () => events.error(new Error('a message from the worker could not be decoded'))
    return Promise.resolve({
      post: (message: unknown, transfer?: Transferable[]) => worker.postMessage(message, transfer ?? []),
      terminate: () => {
        worker.onmessage = null
        worker.onerror = null
        worker.terminate()
        return Promise.resolve()
      },
    })
  },
}
