import { monitorEventLoopDelay } from 'node:perf_hooks'
import { processBackend } from '@bioxen-luavm/backend-process'
import { fengariBackend, wasmBackend } from '@bioxen-luavm/backend-wasm'
import { BackendRegistry, type BaseLuaVM } from '@bioxen-luavm/core'

/**
 * The hostile corpus (issue: guarantees no input can break) runs every case
 * on every sandboxed backend and isolation mode, and on process plain and
 * sandboxed. One list, so every class of the corpus covers the same kinds.
 */
export const HOSTILE_KINDS = [
  { name: 'wasm worker', type: 'wasm', config: { isolation: 'worker' } },
  { name: 'wasm inline', type: 'wasm', config: { isolation: 'inline' } },
  { name: 'fengari worker', type: 'fengari', config: { isolation: 'worker' } },
  { name: 'fengari inline', type: 'fengari', config: { isolation: 'inline' } },
  { name: 'process', type: 'process', config: { luaExecutable: 'lua5.4' } },
  { name: 'process sandbox', type: 'process', config: { luaExecutable: 'lua5.4', sandbox: true } },
] as const

/** One entry of {@link HOSTILE_KINDS}. */
export type HostileKind = (typeof HOSTILE_KINDS)[number]

/** Only the in-process sandboxes (wasm, fengari; both isolation modes). */
export const SANDBOX_KINDS = HOSTILE_KINDS.filter((k) => k.type !== 'process')

const registry = new BackendRegistry().register(processBackend).register(wasmBackend).register(fengariBackend)

/** Creates and starts a VM of `kind` (extra config merged over the kind's). */
export function startVM(kind: HostileKind, extra: Record<string, unknown> = {}): Promise<BaseLuaVM> {
  return registry.create(kind.type, undefined, { ...kind.config, ...extra })
}

/** What the host went through while a guard was on. */
export interface HostReport {
  /** Longest event-loop stall seen, in ms (10 ms resolution). */
  maxLoopDelayMs: number
  /** Growth of the JS heap in use, bytes (after a GC when `--expose-gc` is on). */
  heapGrowthBytes: number
  /** Growth of the resident set, bytes. */
  rssGrowthBytes: number
}

/**
 * Watches the host while hostile work runs: event-loop delay (a stall means
 * the host did unbounded work on Lua's behalf on its own thread), heap and
 * RSS growth. Start it, run the case, then `stop()` and assert on the report
 * with generous bounds (the suite runs on busy machines).
 */
export function guardHost(): { stop(): HostReport } {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const heap0 = process.memoryUsage().heapUsed
  const rss0 = process.memoryUsage().rss
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  return {
    stop() {
      delay.disable()
      gc?.()
      const m = process.memoryUsage()
      return {
        maxLoopDelayMs: delay.max / 1e6,
        heapGrowthBytes: m.heapUsed - heap0,
        rssGrowthBytes: m.rss - rss0,
      }
    },
  }
}
