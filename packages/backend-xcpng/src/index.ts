/**
 * `@bioxen-luavm/backend-xcpng` — the `xcpng` backend: Lua on XCP-ng guests
 * provisioned through XAPI and driven over SSH.
 *
 * Importing this module is cheap: the descriptor is plain data, and the
 * XAPI client, ssh2 and effect load on first use.
 *
 * @packageDocumentation
 */
import type { Logger } from '@bioxen-luavm/core'
import type { ReapedVm, ReapOptions } from './reap.js'
import type { XapiSession } from './xapi/session.js'

export { XCPNG_CAPABILITIES, xcpngBackend } from './descriptor.js'
export { OWNER_KEY, type OwnerTag, parseOwner } from './owner.js'
export type { ProvisionProgress } from './provision/effects.js'
export type { ReapedVm, ReapOptions } from './reap.js'
export { xcpngConfigSchema } from './schema.js'
export type { XapiSession, XapiSessionOptions } from './xapi/session.js'
export type { XcpngVM } from './xcpng-vm.js'

/**
 * Removes VMs this SDK created that a crashed process left behind (see
 * the implementation's docs in reap.ts). Pass a session from
 * {@link connectXapi}.
 *
 * ```ts
 * const xapi = await connectXapi(config)
 * try { console.table(await reapOrphans(xapi, { olderThanMs: 3_600_000, dryRun: true })) }
 * finally { await xapi.logout() }
 * ```
 */
export async function reapOrphans(client: XapiSession, options: ReapOptions = {}): Promise<ReapedVm[]> {
  const impl = await import('./impl/index.js')
  return impl.reapOrphans(client, options)
}

/** Opens an XAPI session from an `xcpng` config section; `logout()` it when done. */
export async function connectXapi(
  config: Record<string, unknown>,
  options: { logger?: Logger; signal?: AbortSignal } = {},
): Promise<XapiSession> {
  const impl = await import('./impl/index.js')
  return impl.connectXapi(config, options)
}

export { xcpngBackend as default } from './descriptor.js'
