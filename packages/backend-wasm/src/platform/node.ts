import { open, readFile, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { lowerInitialMemory } from '../initial-memory.js'
import { cachedModule } from '../module-cache.js'
import { devWorkerScript } from './node-dev-worker.js'
import type { Platform, WasmSource, WorkerEvents, WorkerLike } from './types.js'

const require = createRequire(import.meta.url)

/** glue.wasm as installed with wasmoon: served from disk, never from a CDN. */
function gluePath(): string {
  return require.resolve('wasmoon/dist/glue.wasm')
}

function toPath(url: string | URL): string {
  if (url instanceof URL) return fileURLToPath(url)
  return url.startsWith('file:') ? fileURLToPath(url) : url
}

/** The built worker next to this file, or (running from TypeScript sources) a bundle made on the fly. */
async function workerScript(explicit: string | URL | undefined): Promise<URL | string | { eval: string }> {
  if (explicit !== undefined)
    return explicit instanceof URL || explicit.startsWith('file:') ? new URL(explicit) : explicit
  if (import.meta.url.endsWith('.ts')) return devWorkerScript(new URL('./node-worker.ts', import.meta.url))
  return new URL('./node-worker.js', import.meta.url)
}

/** Node: worker_threads, glue.wasm read from node_modules, files through fs. */
export const nodePlatform: Platform = {
  name: 'node',
  sharedMemory: typeof SharedArrayBuffer === 'function',
  cpus: availableParallelism(),

  wasmModule(source: WasmSource): Promise<WebAssembly.Module> {
    if (source.module) return Promise.resolve(source.module)
    const path = source.url === undefined ? gluePath() : toPath(source.url)
    return cachedModule(`file:${path}`, async () => WebAssembly.compile(lowerInitialMemory(await readFile(path))))
  },

  // Emscripten reads this file before instantiating; the bytes are ignored
  // (the module is already compiled) but the file must exist.
  locateFile: () => Promise.resolve(gluePath()),

  // One worker script for both engines: Node loads each engine lazily.
  async spawnWorker(url, limits, events: WorkerEvents): Promise<WorkerLike> {
    const script = await workerScript(url)
    const resourceLimits = limits.maxHeapMb ? { resourceLimits: { maxOldGenerationSizeMb: limits.maxHeapMb } } : {}
    const worker =
      typeof script === 'object' && 'eval' in script
        ? new Worker(script.eval, { eval: true, ...resourceLimits })
        : new Worker(script, resourceLimits)
    worker.on('message', (data: unknown) => events.message(data))
    worker.on('error', (error: Error) => events.error(error))
    worker.on('exit', (code: number) => events.error(new Error(`the worker exited with code ${code}`)))
    return {
      post: (message, transfer) => worker.postMessage(message, transfer as never),
      terminate: async () => {
        worker.removeAllListeners('exit')
        worker.removeAllListeners('error')
        worker.on('error', () => {})
        await worker.terminate()
      },
      ref: () => worker.ref(),
      unref: () => worker.unref(),
    }
  },

  readFile: (path: string) => readFile(path),

  async readBinaryFile(path, { signal, maxBytes }): Promise<Uint8Array | undefined> {
    const file = toPath(path)
    try {
      // Checked before reading, so a huge file is never buffered.
      const info = await stat(file)
      if (!info.isFile()) return undefined
      if (info.size > maxBytes) throw new Error(`${file} is larger than ${maxBytes} bytes`)
      return await readAtMost(file, maxBytes, signal)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') {
        return undefined
      }
      throw error
    }
  },
}

// Reads `file` in pieces, never more than `maxBytes` + 1: one that grew after
// its size was checked (a log, a file being written) is still cut off.
async function readAtMost(file: string, maxBytes: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
  const handle = await open(file, 'r')
  try {
    const chunks: Uint8Array[] = []
    let total = 0
    for (;;) {
      signal?.throwIfAborted()
      const chunk = new Uint8Array(Math.min(256 * 1024, maxBytes + 1 - total))
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null)
      if (bytesRead === 0) break
      total += bytesRead
      if (total > maxBytes) throw new Error(`${file} is larger than ${maxBytes} bytes`)
      chunks.push(chunk.subarray(0, bytesRead))
    }
    const out = new Uint8Array(total)
    let at = 0
    for (const c of chunks) {
      out.set(c, at)
      at += c.length
    }
    return out
  } finally {
    await handle.close()
  }
}
