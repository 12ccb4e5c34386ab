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
import type { GuestSummary, OperateOptions } from './operate.js'
import type { ReapedVm, ReapOptions } from './reap.js'
import type { XapiSession } from './xapi/session.js'

export { XCPNG_CAPABILITIES, xcpngBackend } from './descriptor.js'
export type { GuestSummary, OperateOptions } from './operate.js'
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

/** Guests of the pool; `ownedOnly` keeps those this SDK created. */
export async function listGuests(client: XapiSession, options: { ownedOnly?: boolean } = {}): Promise<GuestSummary[]> {
  return (await import('./impl/index.js')).listGuests(client, options)
}

/** One guest by uuid or name label: power state, owner tag, memory, vCPUs, IP. */
export async function guestStatus(client: XapiSession, nameOrUuid: string): Promise<GuestSummary> {
  return (await import('./impl/index.js')).guestStatus(client, nameOrUuid)
}

/** Clean shutdown within the deadline, then hard shutdown. */
export async function stopGuest(client: XapiSession, nameOrUuid: string, options: OperateOptions = {}): Promise<void> {
  return (await import('./impl/index.js')).stopGuest(client, nameOrUuid, options)
}

/** Destroys a guest this SDK created, with its own disks; others only with `allowForeign`. */
export async function destroyGuest(
  client: XapiSession,
  nameOrUuid: string,
  options: OperateOptions & { allowForeign?: boolean } = {},
): Promise<void> {
  return (await import('./impl/index.js')).destroyGuest(client, nameOrUuid, options)
}

export { xcpngBackend as default } from './descriptor.js'
