/**
 * Record shapes (every field the simulator serves, with XAPI's types) and
 * the objects a fresh simulator starts with: a host, a pool, storage, two
 * networks, dom0, a custom template with a disk, a CD and a VIF, a stock
 * template with `disks` XML, and a running VM to attach to.
 */
import { randomBytes } from 'node:crypto'
import { NULL_REF, type SimDb } from './db.js'
import { i64, type SimValue } from './wire.js'

const GiB = 1024 ** 3
const MiB = 1024 ** 2

/** A full VM record with XAPI's field types. */
export function vmFields(overrides: Record<string, SimValue>): Record<string, SimValue> {
  return {
    name_label: '',
    name_description: '',
    power_state: 'Halted',
    is_a_template: false,
    is_default_template: false,
    is_control_domain: false,
    is_a_snapshot: false,
    other_config: {},
    tags: [],
    blocked_operations: {},
    platform: {},
    HVM_boot_params: {},
    PV_args: '',
    memory_static_min: i64(512 * MiB),
    memory_static_max: i64(1 * GiB),
    memory_dynamic_min: i64(1 * GiB),
    memory_dynamic_max: i64(1 * GiB),
    VCPUs_max: i64(1),
    VCPUs_at_startup: i64(1),
    VBDs: [],
    VIFs: [],
    snapshots: [],
    guest_metrics: NULL_REF,
    metrics: NULL_REF,
    resident_on: NULL_REF,
    suspend_VDI: NULL_REF,
    domid: i64(-1),
    allowed_operations: [],
    current_operations: {},
    ...overrides,
  }
}

export function vdiFields(overrides: Record<string, SimValue>): Record<string, SimValue> {
  return {
    name_label: '',
    name_description: '',
    SR: NULL_REF,
    virtual_size: i64(8 * GiB),
    type: 'system',
    VBDs: [],
    sharable: false,
    read_only: false,
    managed: true,
    is_a_snapshot: false,
    other_config: {},
    ...overrides,
  }
}

export function vbdFields(overrides: Record<string, SimValue>): Record<string, SimValue> {
  return {
    VM: NULL_REF,
    VDI: NULL_REF,
    userdevice: '0',
    device: '',
    type: 'Disk',
    mode: 'RW',
    bootable: false,
    empty: false,
    currently_attached: false,
    unpluggable: true,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
    ...overrides,
  }
}

export function vifFields(overrides: Record<string, SimValue>): Record<string, SimValue> {
  return {
    VM: NULL_REF,
    network: NULL_REF,
    device: '0',
    MAC: randomMac(),
    MTU: i64(1500),
    currently_attached: false,
    locking_mode: 'network_default',
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
    ...overrides,
  }
}

export function randomMac(): string {
  const b = randomBytes(3)
  return `52:54:00:${[...b].map((x) => x.toString(16).padStart(2, '0')).join(':')}`
}

/** Refs of the seeded objects. */
export interface Seeded {
  host: string
  pool: string
  localSr: string
  otherSr: string
  isoSr: string
  network: string
  privateNetwork: string
  dom0: string
  /** Custom template `debian-lua` (disk, CD, VIF on the default network). */
  template: string
  templateDisk: string
  isoVdi: string
  /** Stock template with `other_config.disks`. */
  stockTemplate: string
  /** A running VM (not a template) with guest metrics, for attach tests. */
  existingVm: string
}

/** Creates the standard objects. `guestIp` is what guest metrics report. */
export function seed(db: SimDb, guestIp: string): Seeded {
  const host = db.create('host', {
    name_label: 'xcp-sim',
    address: '127.0.0.1',
    API_version_major: i64(2),
    API_version_minor: i64(21),
    software_version: { product_brand: 'XCP-ng', product_version: '8.3.0' },
  })
  const localSr = db.create('SR', {
    name_label: 'Local storage',
    type: 'ext',
    content_type: 'user',
    VDIs: [],
    shared: false,
    physical_size: i64(500 * GiB),
    physical_utilisation: i64(20 * GiB),
  })
  const otherSr = db.create('SR', {
    name_label: 'NFS storage',
    type: 'nfs',
    content_type: 'user',
    VDIs: [],
    shared: true,
    physical_size: i64(2000 * GiB),
    physical_utilisation: i64(100 * GiB),
  })
  const isoSr = db.create('SR', {
    name_label: 'ISO library',
    type: 'iso',
    content_type: 'iso',
    VDIs: [],
    shared: true,
    physical_size: i64(100 * GiB),
    physical_utilisation: i64(10 * GiB),
  })
  const pool = db.create('pool', { name_label: 'sim-pool', master: host, default_SR: localSr, other_config: {} })
  const network = db.create('network', {
    name_label: 'Pool-wide network associated with eth0',
    bridge: 'xenbr0',
    MTU: i64(1500),
    other_config: { automatic: 'true' },
    VIFs: [],
    PIFs: [],
  })
  const privateNetwork = db.create('network', {
    name_label: 'Private',
    bridge: 'xapi1',
    MTU: i64(1500),
    other_config: { automatic: 'false' },
    VIFs: [],
    PIFs: [],
  })
  const dom0 = db.create(
    'VM',
    vmFields({
      name_label: 'Control domain on host: xcp-sim',
      is_control_domain: true,
      power_state: 'Running',
      domid: i64(0),
      resident_on: host,
    }),
  )

  // A prepared guest converted to a template: one system disk, a CD with an ISO, one VIF.
  const template = db.create(
    'VM',
    vmFields({
      name_label: 'debian-lua',
      name_description: 'Debian 12 with lua5.4, luarocks, guest tools',
      is_a_template: true,
    }),
  )
  const templateDisk = db.create('VDI', vdiFields({ name_label: 'debian-lua disk', SR: localSr }))
  db.link('SR', localSr, 'VDIs', templateDisk)
  const isoVdi = db.create(
    'VDI',
    vdiFields({ name_label: 'tools.iso', SR: isoSr, type: 'user', read_only: true, virtual_size: i64(50 * MiB) }),
  )
  db.link('SR', isoSr, 'VDIs', isoVdi)
  attachVbd(db, template, templateDisk, { userdevice: '0', bootable: true })
  attachVbd(db, template, isoVdi, { userdevice: '3', type: 'CD', mode: 'RO' })
  const tvif = db.create('VIF', vifFields({ VM: template, network, device: '0' }))
  db.link('VM', template, 'VIFs', tvif)
  db.link('network', network, 'VIFs', tvif)

  const stockTemplate = db.create(
    'VM',
    vmFields({
      name_label: 'Debian Bookworm 12',
      is_a_template: true,
      is_default_template: true,
      other_config: {
        default_template: 'true',
        disks: '<provision><disk device="0" size="10737418240" sr="" bootable="true" type="system"/></provision>',
      },
    }),
  )

  const existingVm = db.create(
    'VM',
    vmFields({
      name_label: 'lab-runner',
      power_state: 'Running',
      domid: i64(7),
      resident_on: host,
      memory_static_max: i64(2 * GiB),
      memory_dynamic_max: i64(2 * GiB),
      memory_dynamic_min: i64(2 * GiB),
      VCPUs_max: i64(2),
      VCPUs_at_startup: i64(2),
    }),
  )
  const evif = db.create('VIF', vifFields({ VM: existingVm, network, device: '0', currently_attached: true }))
  db.link('VM', existingVm, 'VIFs', evif)
  db.link('network', network, 'VIFs', evif)
  const gm = db.create('VM_guest_metrics', guestMetricsFields({ '0/ip': guestIp, '0/ipv4/0': guestIp }))
  db.update('VM', existingVm, { guest_metrics: gm })

  return {
    host,
    pool,
    localSr,
    otherSr,
    isoSr,
    network,
    privateNetwork,
    dom0,
    template,
    templateDisk,
    isoVdi,
    stockTemplate,
    existingVm,
  }
}

export function guestMetricsFields(networks: Record<string, string>): Record<string, SimValue> {
  return {
    networks,
    os_version: { name: 'Debian GNU/Linux 12 (bookworm)', distro: 'debian' },
    PV_drivers_version: { major: '8', minor: '3' },
    PV_drivers_detected: true,
    live: true,
    last_updated: new Date(),
    other: {},
    other_config: {},
  }
}

/** Creates a VBD linking `vm` and `vdi`, with back-references. */
export function attachVbd(db: SimDb, vm: string, vdi: string, overrides: Record<string, SimValue>): string {
  const vbd = db.create('VBD', vbdFields({ VM: vm, VDI: vdi, ...overrides }))
  db.link('VM', vm, 'VBDs', vbd)
  db.link('VDI', vdi, 'VBDs', vbd)
  return vbd
}
