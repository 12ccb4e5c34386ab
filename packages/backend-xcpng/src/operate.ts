import { type Logger, silentLogger, VMManagerError } from '@bioxen-luavm/core'
import { OWNER_KEY, type OwnerTag, parseOwner } from './owner.js'
import { destroyVmAndDisks, shutdownVm } from './provision/teardown.js'
import { runWorkflow } from './provision/undo.js'
import { decodeVm, findVm, guestNetworks, type VmRecord } from './xapi/api.js'
import type { XapiSession } from './xapi/session.js'

// What an operator does by hand (the CLI's `xcpng list|status|stop|destroy`),
// on top of the same teardown steps the backend uses.

/** A guest as listed for operators. */
export interface GuestSummary {
  uuid: string
  name: string
  powerState: VmRecord['powerState']
  /** Set when this SDK created the VM. */
  owner?: OwnerTag
  memoryBytes: number
  vcpus: number
  /** The guest agent's first IPv4 address, when it reports one. */
  ip?: string
}

/** Options shared by the operator calls. */
export interface OperateOptions {
  logger?: Logger
  signal?: AbortSignal
  /** Deadline of a stop or destroy (default 5 min). */
  timeoutMs?: number
}

/** Guests of the pool (templates, snapshots and dom0 excluded); `ownedOnly` keeps those this SDK created. */
export async function listGuests(session: XapiSession, options: { ownedOnly?: boolean } = {}): Promise<GuestSummary[]> {
  const records = (await session.call('VM.get_all_records')) as Record<string, unknown>
  const out: GuestSummary[] = []
  for (const [ref, raw] of Object.entries(records)) {
    const vm = decodeVm(ref, raw)
    if (vm.isTemplate || vm.isSnapshot || vm.isControlDomain) continue
    const summary = await summarize(session, vm)
    if (options.ownedOnly && !summary.owner) continue
    out.push(summary)
  }
  return out.sort((a, b) => a.name.localeCompare(b.name))
}

/** One guest by uuid or name label. */
export async function guestStatus(session: XapiSession, nameOrUuid: string): Promise<GuestSummary> {
  return summarize(session, await findVm(session, nameOrUuid, 'vm', 'VM'))
}

/** Clean shutdown within the deadline, then hard shutdown. Works on any guest. */
export async function stopGuest(session: XapiSession, nameOrUuid: string, options: OperateOptions = {}): Promise<void> {
  const vm = await findVm(session, nameOrUuid, 'vm', 'VM')
  if (vm.powerState === 'Halted') return
  await runWorkflow(
    shutdownVm(session, vm.ref, Math.min(options.timeoutMs ?? 300_000, 120_000)),
    workflow(`stopping VM ${vm.uuid}`, options),
  )
}

/**
 * Shuts a guest down and destroys it with its own disks (never CD/ISO or
 * shared disks). Refuses VMs this SDK did not create unless `allowForeign`:
 * an operator typo must not destroy someone else's VM.
 */
export async function destroyGuest(
  session: XapiSession,
  nameOrUuid: string,
  options: OperateOptions & { allowForeign?: boolean } = {},
): Promise<void> {
  const vm = await findVm(session, nameOrUuid, 'vm', 'VM')
  if (!parseOwner(vm.otherConfig[OWNER_KEY]) && !options.allowForeign) {
    throw new VMManagerError(
      `VM '${vm.nameLabel}' (${vm.uuid}) was not created by bioxen-luavm; refusing to destroy it (pass allowForeign / --force to insist)`,
    )
  }
  await runWorkflow(destroyVmAndDisks(session, vm.ref), workflow(`destroying VM ${vm.uuid}`, options))
}

function workflow(what: string, options: OperateOptions) {
  return {
    what,
    logger: options.logger ?? silentLogger,
    timeoutMs: options.timeoutMs ?? 300_000,
    callTimeoutMs: 60_000,
    signal: options.signal,
  }
}

async function summarize(session: XapiSession, vm: VmRecord): Promise<GuestSummary> {
  const owner = parseOwner(vm.otherConfig[OWNER_KEY])
  const nets = vm.powerState === 'Running' ? await guestNetworks(session, vm.ref) : undefined
  const ip = nets ? Object.entries(nets.networks).find(([k]) => /\/ipv4\/0$|\/ip$/.test(k))?.[1] : undefined
  return {
    uuid: vm.uuid,
    name: vm.nameLabel,
    powerState: vm.powerState,
    ...(owner ? { owner } : {}),
    memoryBytes: vm.memory.staticMax,
    vcpus: vm.vcpusAtStartup,
    ...(ip ? { ip } : {}),
  }
}
