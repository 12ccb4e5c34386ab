import { lowerInitialMemory } from '../initial-memory.js'
import { cachedModule } from '../module-cache.js'
import type { Platform, WasmSource, WorkerEvents, WorkerLike } from './types.js'

/**
 * glue.wasm shipped next to this file in `dist/browser/`. Bundlers (Vite,
 * webpack 5, Parcel) see `new URL('./glue.wasm', import.meta.url)` and emit
 * the file as an asset of the host app, so it is served by the app itself.
 */
function defaultWasmUrl(): string {
  return new URL('./glue.wasm', import.meta.url).href
}

// Not compileStreaming: the bytes are rewritten first (see initial-memory.ts),
// and a 270 KB module compiles in a few milliseconds anyway.
async function compile(url: string): Promise<WebAssembly.Module> {
  const response = await fetch(url, { credentials: 'same-origin' })
  if (!response.ok) throw new Error(`cannot load glue.wasm from ${url}: HTTP ${response.status}`)
  return WebAssembly.compile(lowerInitialMemory(new Uint8Array(await response.arrayBuffer())))
}

function spawn(url: string | URL | undefined): Worker {
  // The literal form is what bundlers recognise and bundle as a worker chunk.
  if (url === undefined) return new Worker(new URL('./browser-worker.js', import.meta.url), { type: 'module' })
  return new Worker(url, { type: 'module' })
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

  spawnWorker(url, _limits, events: WorkerEvents): Promise<WorkerLike> {
    const worker = spawn(url)
    worker.onmessage = (event: MessageEvent) => events.message(event.data)
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault()
      events.error(new Error(event.message || 'the worker failed'))
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
