/**
 * Record shapes (every field the simulator serves, with XAPI's types) and
 * the objects a fresh simulator starts with: a host, a pool, storage, two
 * networks, dom0, a custom template with a disk, a CD and a VIF, a stock
 * template with `disks` XML, and a running VM to attach to.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { NULL_REF, type SimDb } from './db.js'
import { f64, i64, type SimValue } from './wire.js'

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
    user_version: i64(1),
    other_config: {},
    tags: [],
    blocked_operations: {},
    // What `xe vm-install` leaves on an HVM guest (xapi v26.4).
    platform: {
      timeoffset: '0',
      'device-model': 'qemu-upstream-compat',
      viridian: 'false',
      acpi: '1',
      apic: 'true',
      pae: 'true',
      nx: 'true',
      hpet: 'true',
    },
    HVM_boot_policy: 'BIOS order',
    HVM_boot_params: { order: 'cd' },
    HVM_shadow_multiplier: f64(1),
    PV_args: '',
    PV_bootloader: '',
    PV_kernel: '',
    domain_type: 'hvm',
    actions_after_shutdown: 'destroy',
    actions_after_reboot: 'restart',
    actions_after_crash: 'restart',
    memory_overhead: i64(11 * MiB),
    memory_target: i64(0),
    memory_static_min: i64(512 * MiB),
    memory_static_max: i64(1 * GiB),
    memory_dynamic_min: i64(1 * GiB),
    memory_dynamic_max: i64(1 * GiB),
    VCPUs_params: {},
    VCPUs_max: i64(1),
    VCPUs_at_startup: i64(1),
    affinity: NULL_REF,
    xenstore_data: {},
    recommendations: '',
    has_vendor_device: false,
    ha_restart_priority: '',
    ha_always_run: false,
    start_delay: i64(0),
    shutdown_delay: i64(0),
    order: i64(0),
    hardware_platform_version: i64(0),
    version: i64(0),
    generation_id: '',
    is_snapshot_from_vmpp: false,
    snapshot_of: NULL_REF,
    parent: NULL_REF,
    children: [],
    consoles: [],
    crash_dumps: [],
    VTPMs: [],
    VUSBs: [],
    attached_PCIs: [],
    blobs: {},
    bios_strings: {},
    last_boot_CPU_flags: {},
    last_booted_record: '',
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

/** A pool record with the fields xapi v26.4 serves; `dmc` says whether dynamic memory control is licensed. */
export function poolFields(overrides: Record<string, SimValue>, dmc: boolean): Record<string, SimValue> {
  return {
    name_label: 'sim-pool',
    name_description: '',
    master: NULL_REF,
    default_SR: NULL_REF,
    suspend_image_SR: NULL_REF,
    crash_dump_SR: NULL_REF,
    other_config: {},
    tags: [],
    gui_config: {},
    health_check_config: {},
    ha_enabled: false,
    ha_configuration: {},
    ha_statefiles: [],
    ha_host_failures_to_tolerate: i64(0),
    ha_plan_exists_for: i64(0),
    ha_allow_overcommit: false,
    ha_overcommitted: false,
    blobs: {},
    wlb_url: '',
    wlb_enabled: false,
    redo_log_enabled: false,
    restrictions: restrictions(dmc),
    cpu_info: { cpu_count: '8', socket_count: '1', vendor: 'GenuineIntel', features_hvm: '', features_pv: '' },
    policy_no_vendor_device: false,
    live_patching_disabled: false,
    igmp_snooping_enabled: false,
    is_psr_pending: false,
    tls_verification_enabled: true,
    migration_compression: false,
    coordinator_bias: true,
    ...overrides,
  }
}

/** `pool.restrictions` as a licence writes them; XCP-ng lifts them all, a restricted pool sets `restrict_dmc`. */
export function restrictions(dmc: boolean): Record<string, string> {
  return {
    restrict_dmc: dmc ? 'false' : 'true',
    restrict_vswitch_controller: 'false',
    restrict_lab: 'false',
    restrict_rbac: 'false',
    restrict_pool_size: 'false',
    restrict_cpu_masking: 'false',
    enable_xha: 'true',
  }
}

function hostExtras(): Record<string, SimValue> {
  return {
    hostname: 'xcp-sim',
    enabled: true,
    API_version_vendor: 'XenSource',
    memory_overhead: i64(1200 * MiB),
    cpu_info: {
      cpu_count: '8',
      socket_count: '1',
      vendor: 'GenuineIntel',
      speed: '2400.000',
      modelname: 'Simulated CPU',
      family: '6',
      model: '85',
      stepping: '4',
      flags: 'fpu de tsc msr pae',
      features_pv: '',
      features_hvm: '',
    },
    other_config: {},
    tags: [],
    resident_VMs: [],
  }
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
export function seed(db: SimDb, guestIp: string, dmc: boolean): Seeded {
  const host = db.create('host', {
    name_label: 'xcp-sim',
    address: '127.0.0.1',
    API_version_major: i64(2),
    API_version_minor: i64(21),
    software_version: { product_brand: 'XCP-ng', product_version: '8.3.0', xapi: '26.4' },
    ...hostExtras(),
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
  const pool = db.create('pool', poolFields({ master: host, default_SR: localSr }, dmc))
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
      other_config: { mac_seed: randomUUID() },
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
      other_config: { mac_seed: randomUUID() },
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
