import type { BackendCapabilities, BackendDescriptor, BackendImplementation, DetectResult } from '@bioxen-luavm/core'
import { xcpngConfigSchema } from './schema.js'

/**
 * What `xcpng` VMs can do. Networking depends on the guest and on `grants`,
 * so it is not promised; memory caps need `prlimit` (util-linux) on the
 * guest, and a VM whose guest lacks it refuses them.
 */
export const XCPNG_CAPABILITIES: BackendCapabilities = Object.freeze({
  sandboxed: true,
  persistentState: true,
  sessions: true,
  packages: true,
  networking: false,
  memoryLimit: true,
  hardTimeout: true,
  remote: true,
})

const UNCONFIGURED =
  'configure xapi_url (or XAPI_URL), username, password (XCPNG_PASSWORD), template_name and ssh_user — ' +
  'in xcpng_config.json or the backends.xcpng config section; see docs/xcpng.md. XAPI is only contacted when a VM starts.'

/**
 * Whether the backend is configured. It cannot contact XAPI cheaply, so it
 * only looks for an endpoint in the environment or an `xcpng_config.json`
 * in the working directory; a configured backend may still fail to start.
 */
async function detect(): Promise<DetectResult> {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {}
  const url = env.LUAVM_XCPNG_XAPI_URL || env.XAPI_URL
  if (url) return { available: true, details: { configuredBy: 'environment', xapiUrl: url } }
  try {
    const { existsSync } = await import('node:fs')
    if (existsSync('xcpng_config.json')) return { available: true, details: { configuredBy: 'xcpng_config.json' } }
  } catch {
    // no file system here
  }
  return { available: false, reason: UNCONFIGURED }
}

/**
 * The `xcpng` backend: Lua on XCP-ng guests cloned from a template through
 * XAPI (or an existing VM), driven over SSH. Registering it is free; the
 * XAPI client, ssh2 and effect load when the first VM is created.
 *
 * ```ts
 * registry.register(xcpngBackend)
 * const vm = await registry.create('xcpng', 'job-1', config)
 * ```
 */
export const xcpngBackend: BackendDescriptor = {
  type: 'xcpng',
  description: 'Lua on XCP-ng guests provisioned on demand through XAPI and driven over SSH',
  capabilities: XCPNG_CAPABILITIES,
  configSchema: xcpngConfigSchema,
  detect,
  load: () => import('./impl/index.js') as Promise<BackendImplementation>,
}
