import type { BackendCapabilities, BackendDescriptor, DetectResult } from '@bioxen-luavm/core'
import { type ProcessBackendConfig, processConfigSchema } from './config.js'
import { DEFAULT_INTERPRETERS, findInterpreters, INSTALL_ADVICE } from './interpreters/detect.js'
import { findPrlimit } from './spawn/rlimit.js'

/** What `process` VMs can do with their default config (sandbox off): luarocks installs included. */
export const PROCESS_CAPABILITIES: BackendCapabilities = Object.freeze({
  sandboxed: false,
  persistentState: true,
  sessions: true,
  packages: true,
  packageKinds: Object.freeze(['pure', 'native'] as const),
  networking: true,
  memoryLimit: true,
  hardTimeout: true,
  remote: false,
})

/**
 * Looks for native interpreters (`lua5.4`, `lua5.3`, `lua5.2`, `lua5.1`,
 * `luajit`, `lua`, each asked `-v` with a short deadline and cached for the
 * process) and `prlimit`. Never throws. When nothing is found the reason
 * says how to install Lua, and `type: 'auto'` falls back to `wasm`.
 */
export async function detectProcessBackend(): Promise<DetectResult> {
  try {
    const [{ found, problems }, prlimit] = await Promise.all([findInterpreters(), Promise.resolve(findPrlimit())])
    const details: Record<string, unknown> = {
      interpreters: found.map((i) => ({ command: i.command, path: i.path, version: i.label })),
      prlimit: prlimit.path ?? null,
      ...(prlimit.problem ? { memoryLimit: prlimit.problem } : {}),
      ...(problems.length ? { notFound: problems } : {}),
    }
    const best = found[0]
    if (!best) {
      return {
        available: false,
        reason: `no Lua interpreter found (tried ${DEFAULT_INTERPRETERS.join(', ')}); ${INSTALL_ADVICE}`,
        details,
      }
    }
    return { available: true, version: best.label, details: { ...details, default: best.command } }
  } catch (error) {
    return {
      available: false,
      reason: `interpreter detection failed: ${error instanceof Error ? error.message : String(error)}`,
    }
  }
}

/**
 * The `process` backend (alias `basic`, the original's `LuaProcess`):
 * native Lua in child processes — one-shot, persistent (default) or
 * pooled — with process-group deadlines, rlimit memory caps, REPL
 * sessions and LuaSocket networking. Importing this costs nothing; the
 * implementation loads on the first VM.
 *
 * @example
 * registry.register(processBackend)
 * const vm = await registry.create('process', 'vm1', { luaExecutable: 'lua5.4' })
 */
export const processBackend: BackendDescriptor<ProcessBackendConfig> = {
  type: 'process',
  aliases: ['basic'],
  description: 'native Lua interpreter in child processes (oneshot, persistent or pooled drivers)',
  capabilities: PROCESS_CAPABILITIES,
  configSchema: processConfigSchema,
  detect: detectProcessBackend,
  load: () => import('./impl.js').then((m) => m.implementation),
}
