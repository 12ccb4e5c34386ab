import { ConfigError, XapiError } from '@bioxen-luavm/core'
import type { CallOptions } from './client.js'
import { int, isRef, NULL_REF, str, strList, strMap } from './codec.js'
import type { XapiSession } from './session.js'

// Typed reads of the few XAPI objects the backend touches. int64 fields
// arrive as decimal strings; memory sizes and vCPU counts fit in a double.

/** The VM fields the backend reads. */
export interface VmRecord {
  ref: string
  uuid: string
  nameLabel: string
  powerState: 'Halted' | 'Paused' | 'Running' | 'Suspended'
  isTemplate: boolean
  isDefaultTemplate: boolean
  isControlDomain: boolean
  isSnapshot: boolean
  otherConfig: Record<string, string>
  /** Virtual hardware settings, e.g. `cores-per-socket`. */
  platform: Record<string, string>
  memory: { staticMin: number; staticMax: number; dynamicMin: number; dynamicMax: number }
  vcpusMax: number
  vcpusAtStartup: number
  vbds: string[]
  vifs: string[]
  snapshots: string[]
  guestMetrics: string
}

/** Decodes a `VM.get_record` reply. */
export function decodeVm(ref: string, raw: unknown): VmRecord {
  const r = raw as Record<string, unknown>
  return {
    ref,
    uuid: str(r.uuid, 'VM uuid'),
    nameLabel: String(r.name_label ?? ''),
    powerState: str(r.power_state, 'power_state') as VmRecord['powerState'],
    isTemplate: r.is_a_template === true,
    isDefaultTemplate: r.is_default_template === true,
    isControlDomain: r.is_control_domain === true,
    isSnapshot: r.is_a_snapshot === true,
    otherConfig: strMap(r.other_config ?? {}, 'other_config'),
    platform: strMap(r.platform ?? {}, 'platform'),
    memory: {
      staticMin: int(r.memory_static_min, 'memory_static_min'),
      staticMax: int(r.memory_static_max, 'memory_static_max'),
      dynamicMin: int(r.memory_dynamic_min, 'memory_dynamic_min'),
      dynamicMax: int(r.memory_dynamic_max, 'memory_dynamic_max'),
    },
    vcpusMax: int(r.VCPUs_max, 'VCPUs_max'),
    vcpusAtStartup: int(r.VCPUs_at_startup, 'VCPUs_at_startup'),
    vbds: strList(r.VBDs ?? [], 'VBDs'),
    vifs: strList(r.VIFs ?? [], 'VIFs'),
    snapshots: strList(r.snapshots ?? [], 'snapshots'),
    guestMetrics: String(r.guest_metrics ?? NULL_REF),
  }
}

/** Reads one VM. */
export async function getVm(session: XapiSession, ref: string, options: CallOptions = {}): Promise<VmRecord> {
  return decodeVm(ref, await session.call('VM.get_record', [ref], options))
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** True for text shaped like a uuid. */
export function looksLikeUuid(text: string): boolean {
  return UUID.test(text)
}

/**
 * Finds exactly one VM or template by uuid or name label. Labels are not
 * unique and VMs, templates and snapshots share them, so name lookups are
 * filtered by kind and fail on 0 or several matches, naming the key.
 */
export async function findVm(
  session: XapiSession,
  nameOrUuid: string,
  kind: 'template' | 'vm',
  configKey: string,
  options: CallOptions = {},
): Promise<VmRecord> {
  if (looksLikeUuid(nameOrUuid)) {
    const ref = str(await session.call('VM.get_by_uuid', [nameOrUuid], options))
    const vm = await getVm(session, ref, options)
    if (kind === 'template' && !vm.isTemplate) {
      throw new ConfigError(`${configKey} '${nameOrUuid}' is a VM, not a template; convert it to a template first`)
    }
    if (kind === 'vm' && vm.isTemplate) throw new ConfigError(`${configKey} '${nameOrUuid}' is a template, not a VM`)
    return vm
  }
  const refs = strList(await session.call('VM.get_by_name_label', [nameOrUuid], options))
  const matches: VmRecord[] = []
  for (const ref of refs) {
    const vm = await getVm(session, ref, options)
    if (vm.isSnapshot || vm.isControlDomain) continue
    if ((kind === 'template') === vm.isTemplate) matches.push(vm)
  }
  if (matches.length === 1) return matches[0] as VmRecord
  if (matches.length === 0) {
    throw new ConfigError(
      `${configKey} '${nameOrUuid}' matches no ${kind} on the pool; check the name or give its uuid`,
    )
  }
  throw new ConfigError(
    `${configKey} '${nameOrUuid}' matches ${matches.length} ${kind}s (${matches.map((m) => m.uuid).join(', ')}); give the uuid instead`,
  )
}

/** Finds an SR or network by uuid or name label (exactly one). */
export async function findObject(
  session: XapiSession,
  cls: 'SR' | 'network',
  nameOrUuid: string,
  configKey: string,
  options: CallOptions = {},
): Promise<string> {
  if (looksLikeUuid(nameOrUuid)) {
    try {
      return str(await session.call(`${cls}.get_by_uuid`, [nameOrUuid], options))
    } catch (error) {
      if (error instanceof XapiError && error.xapiCode === 'UUID_INVALID') {
        throw new ConfigError(`${configKey} '${nameOrUuid}': no ${cls} has that uuid`, { cause: error })
      }
      throw error
    }
  }
  const refs = strList(await session.call(`${cls}.get_by_name_label`, [nameOrUuid], options))
  if (refs.length === 1) return refs[0] as string
  throw new ConfigError(
    refs.length === 0
      ? `${configKey} '${nameOrUuid}' matches no ${cls}; check the name or give its uuid`
      : `${configKey} '${nameOrUuid}' matches ${refs.length} ${cls}s; give the uuid instead`,
  )
}

/** The fields of a VBD that decide whether its disk belongs to the VM. */
export interface VbdRecord {
  type: string
  vdi: string
  empty: boolean
}

/** Reads the fields of a VBD that {@link VbdRecord} describes. */
export async function getVbd(session: XapiSession, ref: string, options: CallOptions = {}): Promise<VbdRecord> {
  const r = (await session.call('VBD.get_record', [ref], options)) as Record<string, unknown>
  return { type: String(r.type ?? ''), vdi: String(r.VDI ?? NULL_REF), empty: r.empty === true }
}

/** The guest agent's network map of a VM, or undefined while it has none. */
export async function guestNetworks(
  session: XapiSession,
  vm: string,
  options: CallOptions = {},
): Promise<{ metrics: string; networks: Record<string, string> } | undefined> {
  const metrics = str(await session.call('VM.get_guest_metrics', [vm], options))
  if (!isRef(metrics)) return undefined
  try {
    const networks = strMap(await session.call('VM_guest_metrics.get_networks', [metrics], options), 'networks')
    return { metrics, networks }
  } catch (error) {
    // The agent replaced its metrics object between the two calls.
    if (error instanceof XapiError && error.xapiCode === 'HANDLE_INVALID') return undefined
    throw error
  }
}
