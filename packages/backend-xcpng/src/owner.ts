import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'

/** `other_config` key that marks a VM as created (and owned) by this SDK. */
export const OWNER_KEY = 'bioxen-luavm:owner'

/** What the owner tag records. */
export interface OwnerTag {
  /** Host name of the machine whose process created the VM. */
  host: string
  /** That process's pid (to tell a crashed owner from a live one on the same host). */
  pid: number
  /** Creation time, ms since the epoch. */
  created: number
  /** The SDK VM id. */
  vm: string
}

/** The tag for a VM created now by this process. */
export function ownerTag(vmId: string, now = Date.now()): OwnerTag {
  return { host: hostname(), pid: process.pid, created: now, vm: vmId }
}

/** Serializes a tag for `other_config` (values are strings). */
export function encodeOwner(tag: OwnerTag): string {
  return JSON.stringify(tag)
}

/** Reads a tag back; undefined when the value is not one of ours. */
export function parseOwner(text: string | undefined): OwnerTag | undefined {
  if (!text) return undefined
  try {
    const v = JSON.parse(text) as Partial<OwnerTag>
    if (typeof v.host !== 'string' || typeof v.pid !== 'number' || typeof v.created !== 'number') return undefined
    return { host: v.host, pid: v.pid, created: v.created, vm: typeof v.vm === 'string' ? v.vm : '' }
  } catch {
    return undefined
  }
}

/**
 * A unique VM name: `<prefix>-<vm id>-<nonce>`. The original used
 * `<prefix>-<vm id>`; the nonce makes the name a reliable handle when the
 * reply to `VM.clone` is lost and the clone has to be found by name.
 */
export function vmName(prefix: string, vmId: string): string {
  const id = vmId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60)
  return `${prefix}-${id}-${randomBytes(3).toString('hex')}`
}
