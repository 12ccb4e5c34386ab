/**
 * The XAPI methods the simulator serves, with XAPI's parameter counts,
 * power-state rules and error shapes (xapi-notes §2, §5). Getters
 * (`get_all`, `get_record`, `get_by_uuid`, `get_by_name_label`,
 * `get_<field>`) are generic and live in server.ts.
 */
import { createHash, randomUUID } from 'node:crypto'
import { NULL_REF, type SimClass, SimFailure, type SimRecord } from './db.js'
import { attachVbd, vdiFields, vifFields } from './seed.js'
import type { XapiSim } from './server.js'
import { i64, type SimValue } from './wire.js'

/** Parameter types, for XAPI's unmarshalling rules. */
export type ParamType = 'string' | 'int' | 'float' | 'bool' | 'set' | 'map' | 'record'

/** One API method. `params` excludes the session. */
export interface MethodSpec {
  params: readonly ParamType[]
  /** Trailing parameters with defaults (login's version and originator). */
  optional?: number
  /** Needs a session as first argument (default true). */
  session?: boolean
  /** Has an `Async.` form. */
  async?: boolean
  run(sim: XapiSim, args: unknown[], call: CallContext): SimValue | Promise<SimValue>
}

/** What a method learns about its call. */
export interface CallContext {
  session: string | undefined
  /** Aborts when the client goes away or the task is cancelled. */
  signal: AbortSignal
  /** For Async calls: report progress 0..1. */
  progress(value: number): void
}

const lower = (s: string) => s.toLowerCase()

/**
 * XAPI's built-in roles, weakest first; each holds the permissions of those
 * before it. Written out here, not imported from the backend, so the
 * simulator does not share the client's model of XAPI.
 */
export const ROLES: readonly string[] = [
  'read-only',
  'vm-operator',
  'vm-admin',
  'vm-power-admin',
  'pool-operator',
  'pool-admin',
]

/**
 * The weakest role allowed to call each method the backend uses that
 * changes something (datamodel_vm.ml's `allowed_roles`); reads are open to
 * read-only. Only these are checked.
 */
export const ROLE_OF: Readonly<Record<string, string>> = {
  'VM.clone': 'vm-admin',
  'VM.copy': 'vm-admin',
  'VM.provision': 'vm-admin',
  'VM.destroy': 'vm-admin',
  'VM.add_to_other_config': 'vm-admin',
  'VM.remove_from_other_config': 'vm-admin',
  'VM.set_name_description': 'vm-admin',
  'VM.add_tags': 'vm-admin',
  'VM.set_VCPUs_max': 'vm-admin',
  'VM.set_VCPUs_at_startup': 'vm-admin',
  'VM.set_memory_limits': 'vm-power-admin',
  'VM.set_memory': 'vm-power-admin',
  'VM.set_memory_static_max': 'vm-power-admin',
  'VM.set_memory_dynamic_range': 'vm-power-admin',
  'VM.start': 'vm-operator',
  'VM.clean_shutdown': 'vm-operator',
  'VM.hard_shutdown': 'vm-operator',
  'VM.shutdown': 'vm-operator',
  'VIF.create': 'vm-admin',
  'VIF.destroy': 'vm-admin',
  'VDI.destroy': 'vm-admin',
}

/** The MAC XAPI derives for VIF `device` from a VM's `other_config:mac_seed` (locally administered). */
function macFromSeed(seed: string, device: string): string {
  const h = createHash('sha256').update(`${seed}/${device}`).digest()
  return ['02', ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':')
}

function vm(sim: XapiSim, ref: unknown): SimRecord {
  return sim.db.get('VM', String(ref))
}

function badPower(ref: string, expected: string, actual: string): SimFailure {
  return new SimFailure(['VM_BAD_POWER_STATE', ref, expected, lower(actual)])
}

function requireHalted(sim: XapiSim, ref: string, op: string): SimRecord {
  const r = vm(sim, ref)
  if (r.is_a_template && !['clone', 'copy', 'provision', 'destroy'].includes(op) && !op.startsWith('set_')) {
    throw new SimFailure(['VM_IS_TEMPLATE', ref, op])
  }
  if (r.power_state !== 'Halted') throw badPower(ref, 'halted', String(r.power_state))
  return r
}

/** Copies a VM the way VM.clone / VM.copy do; `sr` set means copy into that SR. */
function cloneVm(sim: XapiSim, src: string, name: string, sr: string | undefined): string {
  const s = vm(sim, src)
  if (s.power_state !== 'Halted' && s.power_state !== 'Suspended') throw badPower(src, 'halted', String(s.power_state))
  const { uuid: _u, ...fields } = sim.db.snapshot('VM', src)
  const other = { ...(fields.other_config as Record<string, string>) }
  delete other.default_template
  other.base_template_name = String(s.name_label)
  other.mac_seed = randomUUID()
  const ref = sim.db.create('VM', {
    ...fields,
    name_label: name,
    is_default_template: false,
    other_config: other,
    VBDs: [],
    VIFs: [],
    snapshots: [],
    guest_metrics: NULL_REF,
    power_state: 'Halted',
    domid: i64(-1),
    resident_on: NULL_REF,
  })
  sim.track('VM', ref)
  if (sim.agentVms.has(src)) sim.agentVms.add(ref)
  // XAPI copies the (stale) guest metrics; VM.start deletes them again.
  if (s.guest_metrics !== NULL_REF && sim.db.has('VM_guest_metrics', String(s.guest_metrics))) {
    const { uuid: _g, ...gm } = sim.db.snapshot('VM_guest_metrics', String(s.guest_metrics))
    const gref = sim.db.create('VM_guest_metrics', gm)
    sim.track('VM_guest_metrics', gref)
    sim.db.update('VM', ref, { guest_metrics: gref })
  }
  for (const vbdRef of s.VBDs as string[]) {
    const vbd = sim.db.get('VBD', vbdRef)
    let vdi = String(vbd.VDI)
    if (vbd.type === 'Disk' && vdi !== NULL_REF) {
      const { uuid: _d, ...d } = sim.db.snapshot('VDI', vdi)
      const target = sr ?? String(d.SR)
      vdi = sim.db.create('VDI', { ...d, SR: target, VBDs: [], name_label: String(d.name_label) })
      sim.track('VDI', vdi)
      sim.db.link('SR', target, 'VDIs', vdi)
    }
    const { uuid: _b, ...b } = sim.db.snapshot('VBD', vbdRef)
    const nvbd = sim.db.create('VBD', { ...b, VM: ref, VDI: vdi, currently_attached: false })
    sim.track('VBD', nvbd)
    sim.db.link('VM', ref, 'VBDs', nvbd)
    if (vdi !== NULL_REF) sim.db.link('VDI', vdi, 'VBDs', nvbd)
  }
  for (const vifRef of s.VIFs as string[]) {
    const { uuid: _v, ...v } = sim.db.snapshot('VIF', vifRef)
    // Clones get a new mac_seed, and their VIFs MACs derived from it.
    const mac = macFromSeed(other.mac_seed, String(v.device))
    const nvif = sim.db.create('VIF', { ...v, VM: ref, MAC: mac, currently_attached: false })
    sim.track('VIF', nvif)
    sim.db.link('VM', ref, 'VIFs', nvif)
    sim.db.link('network', String(v.network), 'VIFs', nvif)
  }
  return ref
}

function halt(sim: XapiSim, ref: string): void {
  sim.cancelGuestAgent(ref)
  const r = vm(sim, ref)
  for (const vbd of r.VBDs as string[])
    if (sim.db.has('VBD', vbd)) sim.db.update('VBD', vbd, { currently_attached: false })
  for (const vif of r.VIFs as string[])
    if (sim.db.has('VIF', vif)) sim.db.update('VIF', vif, { currently_attached: false })
  sim.db.update('VM', ref, { power_state: 'Halted', domid: i64(-1), resident_on: NULL_REF })
}

function memoryCheck(sim: XapiSim, smin: bigint, smax: bigint, dmin: bigint, dmax: bigint): void {
  if (!(smin <= dmin && dmin <= dmax && dmax <= smax)) throw new SimFailure(['MEMORY_CONSTRAINT_VIOLATION_ORDER'])
  const restricted =
    (sim.db.get('pool', sim.seeded.pool).restrictions as Record<string, string>).restrict_dmc === 'true'
  if (restricted && !(dmin === dmax && dmax === smax))
    throw new SimFailure(['MEMORY_CONSTRAINT_VIOLATION_MAXPIN', 'DMC disabled'])
}

const big = (v: unknown) => BigInt(v as bigint)
const int64 = (r: SimRecord, f: string) => (r[f] as { value: bigint }).value

function parseDisks(xml: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = []
  for (const m of xml.matchAll(/<disk\s([^>]*?)\/?>/g)) {
    const attrs: Record<string, string> = {}
    for (const a of (m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)) attrs[a[1] ?? ''] = a[2] ?? ''
    out.push(attrs)
  }
  return out
}

async function shutdownClean(sim: XapiSim, ref: string, call: CallContext): Promise<void> {
  const r = vm(sim, ref)
  if (r.power_state !== 'Running') throw badPower(ref, 'running', String(r.power_state))
  switch (sim.knobs.cleanShutdown) {
    case 'lacks-feature':
      throw new SimFailure(['VM_LACKS_FEATURE', ref])
    case 'timeout':
      throw new SimFailure(['VM_SHUTDOWN_TIMEOUT', ref, '1200'])
    case 'hang':
      // The guest ignores the request: wait until cancelled or the client leaves.
      await new Promise<void>((resolve) => call.signal.addEventListener('abort', () => resolve(), { once: true }))
      throw new SimFailure(['TASK_CANCELLED', 'clean_shutdown'])
    default:
      halt(sim, ref)
  }
}

/** The method table. */
export const METHODS: Readonly<Record<string, MethodSpec>> = {
  'session.login_with_password': {
    params: ['string', 'string', 'string', 'string'],
    optional: 2,
    session: false,
    run: (sim, [user, pass, _v, originator]) => sim.login(String(user), String(pass), String(originator ?? '')),
  },
  'session.get_subject': {
    params: ['string'],
    run: (sim, [self]) => String(sim.db.get('session', String(self)).subject),
  },
  'session.get_is_local_superuser': {
    params: ['string'],
    run: (sim, [self]) => Boolean(sim.db.get('session', String(self)).is_local_superuser),
  },
  'host.get_servertime': {
    params: ['string'],
    run: (sim, [host]) => {
      sim.db.get('host', String(host))
      return new Date()
    },
  },
  'session.logout': {
    params: [],
    run: (sim, _a, call) => {
      sim.logout(call.session as string)
      return ''
    },
  },

  'VM.clone': {
    params: ['string', 'string'],
    async: true,
    run: (sim, [src, name]) => cloneVm(sim, String(src), String(name), undefined),
  },
  'VM.copy': {
    params: ['string', 'string', 'string'],
    async: true,
    run: (sim, [src, name, sr]) => {
      const target = sim.db.has('SR', String(sr)) ? String(sr) : undefined
      if (target && sim.db.get('SR', target).content_type === 'iso') {
        throw new SimFailure(['OPERATION_NOT_ALLOWED', "Cannot copy a VM's disks to an ISO SR"])
      }
      return cloneVm(sim, String(src), String(name), target)
    },
  },
  'VM.provision': {
    params: ['string'],
    async: true,
    run: (sim, [ref]) => {
      const r = vm(sim, ref)
      if (!r.is_a_template) throw new SimFailure(['PROVISION_ONLY_ALLOWED_ON_TEMPLATE'])
      if (r.power_state !== 'Halted') throw badPower(String(ref), 'halted', String(r.power_state))
      sim.db.update('VM', String(ref), { is_a_template: false })
      const other = { ...(r.other_config as Record<string, string>) }
      if (other.disks) {
        for (const disk of parseDisks(other.disks)) {
          const sr = sim.db.byUuidOr('SR', disk.sr ?? '', () => new SimFailure(['UUID_INVALID', 'sr', disk.sr ?? '']))
          const vdi = sim.db.create(
            'VDI',
            vdiFields({
              name_label: `${r.name_label} ${disk.device}`,
              SR: sr,
              virtual_size: i64(BigInt(disk.size ?? '0')),
            }),
          )
          sim.track('VDI', vdi)
          sim.db.link('SR', sr, 'VDIs', vdi)
          const vbd = attachVbd(sim.db, String(ref), vdi, {
            userdevice: disk.device ?? '0',
            bootable: disk.bootable === 'true',
          })
          sim.track('VBD', vbd)
        }
        delete other.disks
        sim.db.update('VM', String(ref), { other_config: other })
      }
      return ''
    },
  },
  'VM.set_is_a_template': {
    params: ['string', 'bool'],
    run: (sim, [ref, value]) => {
      const r = vm(sim, ref)
      if (value && r.power_state !== 'Halted') throw badPower(String(ref), 'halted', String(r.power_state))
      sim.db.update('VM', String(ref), { is_a_template: Boolean(value) })
      return ''
    },
  },
  'VM.add_to_other_config': {
    params: ['string', 'string', 'string'],
    run: (sim, [ref, key, value]) => {
      const r = vm(sim, ref)
      const other = { ...(r.other_config as Record<string, string>) }
      if (String(key) in other) throw new SimFailure(['MAP_DUPLICATE_KEY', 'VM', 'other_config', r.uuid, String(key)])
      other[String(key)] = String(value)
      sim.db.update('VM', String(ref), { other_config: other })
      return ''
    },
  },
  'VM.remove_from_other_config': {
    params: ['string', 'string'],
    run: (sim, [ref, key]) => {
      const other = { ...(vm(sim, ref).other_config as Record<string, string>) }
      delete other[String(key)]
      sim.db.update('VM', String(ref), { other_config: other })
      return ''
    },
  },
  'VM.set_name_description': {
    params: ['string', 'string'],
    run: (sim, [ref, text]) => {
      vm(sim, ref)
      sim.db.update('VM', String(ref), { name_description: String(text) })
      return ''
    },
  },
  'VM.add_tags': {
    params: ['string', 'string'],
    run: (sim, [ref, tag]) => {
      const tags = vm(sim, ref).tags as string[]
      if (!tags.includes(String(tag))) sim.db.update('VM', String(ref), { tags: [...tags, String(tag)] })
      return ''
    },
  },
  'VM.set_memory_limits': {
    params: ['string', 'int', 'int', 'int', 'int'],
    async: true,
    run: (sim, [ref, smin, smax, dmin, dmax]) => {
      requireHalted(sim, String(ref), 'set_memory_limits')
      memoryCheck(sim, big(smin), big(smax), big(dmin), big(dmax))
      sim.db.update('VM', String(ref), {
        memory_static_min: i64(big(smin)),
        memory_static_max: i64(big(smax)),
        memory_dynamic_min: i64(big(dmin)),
        memory_dynamic_max: i64(big(dmax)),
      })
      return ''
    },
  },
  'VM.set_memory': {
    params: ['string', 'int'],
    async: true,
    run: (sim, [ref, v]) => {
      const r = requireHalted(sim, String(ref), 'set_memory')
      memoryCheck(sim, int64(r, 'memory_static_min'), big(v), big(v), big(v))
      sim.db.update('VM', String(ref), {
        memory_static_max: i64(big(v)),
        memory_dynamic_min: i64(big(v)),
        memory_dynamic_max: i64(big(v)),
      })
      return ''
    },
  },
  'VM.set_memory_static_max': {
    params: ['string', 'int'],
    run: (sim, [ref, v]) => {
      const r = requireHalted(sim, String(ref), 'set_memory_static_max')
      memoryCheck(
        sim,
        int64(r, 'memory_static_min'),
        big(v),
        int64(r, 'memory_dynamic_min'),
        int64(r, 'memory_dynamic_max'),
      )
      sim.db.update('VM', String(ref), { memory_static_max: i64(big(v)) })
      return ''
    },
  },
  'VM.set_memory_dynamic_range': {
    params: ['string', 'int', 'int'],
    run: (sim, [ref, lo, hi]) => {
      const r = vm(sim, ref)
      memoryCheck(sim, int64(r, 'memory_static_min'), int64(r, 'memory_static_max'), big(lo), big(hi))
      sim.db.update('VM', String(ref), { memory_dynamic_min: i64(big(lo)), memory_dynamic_max: i64(big(hi)) })
      return ''
    },
  },
  'VM.set_VCPUs_max': {
    params: ['string', 'int'],
    run: (sim, [ref, n]) => {
      const r = requireHalted(sim, String(ref), 'set_VCPUs_max')
      if (big(n) < 1n || int64(r, 'VCPUs_at_startup') > big(n)) {
        throw new SimFailure(['INVALID_VALUE', 'VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max', String(n)])
      }
      sim.db.update('VM', String(ref), { VCPUs_max: i64(big(n)) })
      return ''
    },
  },
  'VM.set_VCPUs_at_startup': {
    params: ['string', 'int'],
    run: (sim, [ref, n]) => {
      const r = requireHalted(sim, String(ref), 'set_VCPUs_at_startup')
      if (big(n) < 1n || big(n) > int64(r, 'VCPUs_max')) {
        throw new SimFailure(['INVALID_VALUE', 'VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max', String(n)])
      }
      sim.db.update('VM', String(ref), { VCPUs_at_startup: i64(big(n)) })
      return ''
    },
  },
  'VM.get_allowed_VIF_devices': {
    params: ['string'],
    run: (sim, [ref]) => {
      const used = new Set((vm(sim, ref).VIFs as string[]).map((v) => String(sim.db.get('VIF', v).device)))
      return ['0', '1', '2', '3', '4', '5', '6'].filter((d) => !used.has(d))
    },
  },
  'VM.start': {
    params: ['string', 'bool', 'bool'],
    async: true,
    run: (sim, [ref]) => {
      const r = vm(sim, ref)
      if (r.is_a_template) throw new SimFailure(['VM_IS_TEMPLATE', String(ref), 'start'])
      if (r.power_state !== 'Halted') throw badPower(String(ref), 'halted', String(r.power_state))
      if (int64(r, 'VCPUs_at_startup') < 1n) throw new SimFailure(['VM_NO_VCPUS', String(ref)])
      const perSocket = (r.platform as Record<string, string>)['cores-per-socket']
      if (perSocket !== undefined && int64(r, 'VCPUs_max') % BigInt(perSocket) !== 0n) {
        throw new SimFailure(['VCPU_MAX_NOT_CORES_PER_SOCKET_MULTIPLE', String(int64(r, 'VCPUs_max')), perSocket])
      }
      const needed = int64(r, 'memory_static_max')
      if (needed > sim.knobs.hostFreeMemory) {
        throw new SimFailure(['HOST_NOT_ENOUGH_FREE_MEMORY', String(needed), String(sim.knobs.hostFreeMemory)])
      }
      // XAPI drops guest metrics inherited from the template on start.
      const old = String(r.guest_metrics)
      if (old !== NULL_REF && sim.db.has('VM_guest_metrics', old)) sim.db.destroy('VM_guest_metrics', old)
      for (const vbd of r.VBDs as string[]) sim.db.update('VBD', vbd, { currently_attached: true })
      for (const vif of r.VIFs as string[]) sim.db.update('VIF', vif, { currently_attached: true })
      sim.db.update('VM', String(ref), {
        power_state: 'Running',
        guest_metrics: NULL_REF,
        domid: i64(sim.nextDomid()),
        resident_on: sim.seeded.host,
      })
      sim.presentIdentity(String(ref))
      sim.scheduleGuestAgent(String(ref))
      return ''
    },
  },
  'VM.clean_shutdown': {
    params: ['string'],
    async: true,
    run: async (sim, [ref], call) => {
      await shutdownClean(sim, String(ref), call)
      return ''
    },
  },
  'VM.hard_shutdown': {
    params: ['string'],
    async: true,
    run: (sim, [ref]) => {
      const r = vm(sim, ref)
      if (r.power_state === 'Halted') throw badPower(String(ref), 'running; paused; suspended', 'halted')
      halt(sim, String(ref))
      return ''
    },
  },
  'VM.shutdown': {
    params: ['string'],
    async: true,
    run: async (sim, [ref], call) => {
      const r = vm(sim, ref)
      if (r.power_state === 'Halted') throw badPower(String(ref), 'running; paused; suspended', 'halted')
      // Clean first, then hard: either way the VM ends up halted.
      void call
      halt(sim, String(ref))
      return ''
    },
  },
  'VM.destroy': {
    params: ['string'],
    async: true,
    run: (sim, [ref]) => {
      const r = vm(sim, ref)
      if (r.is_default_template) throw new SimFailure(['VM_CANNOT_DELETE_DEFAULT_TEMPLATE'])
      if (r.is_control_domain) throw new SimFailure(['OPERATION_NOT_ALLOWED', 'cannot destroy a control domain'])
      if (r.power_state !== 'Halted' && r.power_state !== 'Suspended') {
        throw badPower(String(ref), 'halted, suspended', String(r.power_state))
      }
      sim.cancelGuestAgent(String(ref))
      for (const vbd of r.VBDs as string[]) {
        if (!sim.db.has('VBD', vbd)) continue
        const vdi = String(sim.db.get('VBD', vbd).VDI)
        sim.db.unlink('VDI', vdi, 'VBDs', vbd)
        sim.db.destroy('VBD', vbd)
      }
      for (const vif of r.VIFs as string[]) {
        if (!sim.db.has('VIF', vif)) continue
        sim.db.unlink('network', String(sim.db.get('VIF', vif).network), 'VIFs', vif)
        sim.db.destroy('VIF', vif)
      }
      const gm = String(r.guest_metrics)
      if (gm !== NULL_REF && sim.db.has('VM_guest_metrics', gm)) sim.db.destroy('VM_guest_metrics', gm)
      sim.agentVms.delete(String(ref))
      sim.db.destroy('VM', String(ref))
      return ''
    },
  },

  'VIF.create': {
    params: ['record'],
    async: true,
    run: (sim, [raw]) => {
      const rec = raw as Record<string, unknown>
      for (const f of [
        'device',
        'network',
        'VM',
        'MAC',
        'other_config',
        'qos_algorithm_type',
        'qos_algorithm_params',
      ]) {
        if (!(f in rec)) throw new SimFailure(['INTERNAL_ERROR', `Missing field ${f} in VIF.create record`])
      }
      const vmRef = String(rec.VM)
      const net = String(rec.network)
      const r = vm(sim, vmRef)
      sim.db.get('network', net)
      const device = String(rec.device)
      if (!/^\d+$/.test(device)) throw new SimFailure(['INVALID_DEVICE', device])
      for (const v of r.VIFs as string[])
        if (sim.db.get('VIF', v).device === device) throw new SimFailure(['DEVICE_ALREADY_EXISTS', device])
      let mac = String(rec.MAC)
      if (mac === '') {
        const seed = (r.other_config as Record<string, string>).mac_seed
        if (!seed)
          throw new SimFailure(['INTERNAL_ERROR', `VM ${r.uuid} has no other_config:mac_seed to derive a MAC from`])
        mac = macFromSeed(seed, String(rec.device))
      } else if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(mac)) throw new SimFailure(['MAC_INVALID', mac])
      const ref = sim.db.create(
        'VIF',
        vifFields({
          VM: vmRef,
          network: net,
          device,
          MAC: mac,
          // xapi v26.4 takes the MTU from the network and ignores the VIF's.
          MTU: sim.db.get('network', net).MTU as SimValue,
          other_config: (rec.other_config ?? {}) as Record<string, string>,
          currently_attached: false,
        }),
      )
      sim.track('VIF', ref)
      sim.db.link('VM', vmRef, 'VIFs', ref)
      sim.db.link('network', net, 'VIFs', ref)
      return ref
    },
  },
  'VIF.destroy': {
    params: ['string'],
    async: true,
    run: (sim, [ref]) => {
      const v = sim.db.get('VIF', String(ref))
      if (v.currently_attached)
        throw new SimFailure(['OPERATION_NOT_ALLOWED', 'VIF is currently attached; unplug it first'])
      sim.db.unlink('VM', String(v.VM), 'VIFs', String(ref))
      sim.db.unlink('network', String(v.network), 'VIFs', String(ref))
      sim.db.destroy('VIF', String(ref))
      return ''
    },
  },
  'VDI.destroy': {
    params: ['string'],
    async: true,
    run: (sim, [ref]) => {
      const vdi = sim.db.get('VDI', String(ref))
      if (sim.knobs.vdiInUseOnce > 0) {
        sim.knobs.vdiInUseOnce--
        throw new SimFailure(['VDI_IN_USE', String(ref), 'destroy'])
      }
      for (const vbd of vdi.VBDs as string[]) {
        if (sim.db.has('VBD', vbd) && sim.db.get('VBD', vbd).currently_attached)
          throw new SimFailure(['VDI_IN_USE', String(ref), 'destroy'])
      }
      for (const vbd of vdi.VBDs as string[]) {
        if (!sim.db.has('VBD', vbd)) continue
        sim.db.unlink('VM', String(sim.db.get('VBD', vbd).VM), 'VBDs', vbd)
        sim.db.destroy('VBD', vbd)
      }
      sim.db.unlink('SR', String(vdi.SR), 'VDIs', String(ref))
      sim.db.destroy('VDI', String(ref))
      return ''
    },
  },

  'task.cancel': {
    params: ['string'],
    run: (sim, [ref]) => {
      sim.cancelTask(String(ref))
      return ''
    },
  },
  'task.destroy': {
    params: ['string'],
    run: (sim, [ref]) => {
      const t = sim.db.get('task', String(ref))
      // xapi v26.4 defers destroying a running task until it completes.
      if (t.status === 'pending' || t.status === 'cancelling') sim.destroyWhenDone.add(String(ref))
      else sim.db.destroy('task', String(ref))
      return ''
    },
  },

  'event.from': {
    params: ['set', 'string', 'float'],
    run: (sim, [classes, token, timeout], call) =>
      sim.eventFrom(classes as string[], String(token), Number(timeout), call.signal),
  },
  'event.inject': {
    params: ['string', 'string'],
    run: (sim, [cls, ref]) => {
      const name = (
        ['VM', 'VM_guest_metrics', 'VBD', 'VDI', 'VIF', 'network', 'SR', 'pool', 'host', 'task'] as SimClass[]
      ).find((c) => c.toLowerCase() === String(cls).toLowerCase())
      if (!name) throw new SimFailure(['EVENT_SUBSCRIPTION_PARSE_FAILURE', String(cls)])
      sim.db.update(name, String(ref), {})
      return sim.token(sim.db.generation)
    },
  },
  'system.listMethods': {
    params: [],
    session: false,
    run: () => Object.keys(METHODS),
  },
}
