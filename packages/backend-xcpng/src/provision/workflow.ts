import { ConfigError, type Logger, type LuaVMError, VMStateError } from '@bioxen-luavm/core'
import { Effect, type Scope } from 'effect'
import { driverOptions, type LoadedSecrets, type XcpngConfig } from '../config.js'
import { encodeOwner, OWNER_KEY, ownerTag, vmName } from '../owner.js'
import { connectWithRetry, type SshConnection, type SshTarget } from '../ssh/connection.js'
import { verifyGuestIdentity } from '../ssh/guest-identity.js'
import { HostKeyVerifier } from '../ssh/host-key.js'
import { RemoteDriver } from '../ssh/remote-driver.js'
import { findObject, findVm, getVm, type VmRecord } from '../xapi/api.js'
import { isRef, str, strList } from '../xapi/codec.js'
import { XapiSession } from '../xapi/session.js'
import { attempt, Provisioning, retryTransient, xcall } from './effects.js'
import { applyMemory, applyVcpus, checkCoresPerSocket } from './memory.js'
import { attachNetwork, waitForIp } from './network.js'
import { checkRole } from './rbac.js'
import { destroyVmAndDisks, hardShutdown, shutdownVm } from './teardown.js'
import { taskStep, undoable } from './undo.js'

/** What provisioning needs. */
export interface ProvisionInput {
  cfg: XcpngConfig
  secrets: LoadedSecrets
  /** The SDK VM id (names the VM and its owner tag). */
  vmId: string
  logger: Logger
}

/** A guest ready to run Lua: everything the VM object then owns. */
export interface Guest {
  session: XapiSession
  /** VM ref, uuid and name label. */
  vm: string
  uuid: string
  name: string
  /** True when the SDK created the VM (and so destroys it on stop). */
  owned: boolean
  ip: string
  ssh: SshConnection
  target: SshTarget
  driver: RemoteDriver
}

const GUEST_TAG = 'bioxen-luavm'

/** Logs in; the logout is the last undo, after everything made with the session. */
function openSession(input: ProvisionInput): Effect.Effect<XapiSession, LuaVMError, Scope.Scope | Provisioning> {
  const { cfg, secrets, logger } = input
  return undoable(
    'session',
    attempt('XAPI login', (signal) =>
      XapiSession.open({
        url: cfg.xapiUrl,
        username: cfg.username,
        password: cfg.password,
        tls: secrets.tls,
        logger,
        callTimeoutMs: cfg.callTimeoutMs,
        signal,
      }),
    ),
    (session) => Effect.promise(() => session.logout()),
  )
}

/** With `pool_uuid` set, refuses to work on another pool (a mistyped xapi_url). */
function checkPool(session: XapiSession, poolUuid: string | undefined): Effect.Effect<void, LuaVMError, Provisioning> {
  if (!poolUuid) return Effect.void
  return Effect.gen(function* () {
    const pools = strList(yield* xcall(session, 'pool.get_all', []), 'pools')
    for (const pool of pools) {
      if (str(yield* xcall(session, 'pool.get_uuid', [pool])).toLowerCase() === poolUuid.toLowerCase()) return
    }
    return yield* Effect.fail(
      new ConfigError(
        `pool_uuid ${poolUuid} does not match the pool behind xapi_url ${session.url}; check both`,
      ) as LuaVMError,
    )
  })
}

/**
 * Stock templates describe their disks as `<provision>` XML with an `sr`
 * attribute that is often empty; like `xe vm-install`, point every disk at
 * the chosen SR (or the pool's default SR) before provisioning.
 */
function rewriteProvisioningDisks(
  session: XapiSession,
  vm: VmRecord,
  sr: string | undefined,
): Effect.Effect<void, LuaVMError, Provisioning> {
  const disks = vm.otherConfig.disks
  if (!disks) return Effect.void
  return Effect.gen(function* () {
    let target = sr
    if (!target) {
      const pool = strList(yield* xcall(session, 'pool.get_all', []), 'pools')[0]
      target = pool ? str(yield* xcall(session, 'pool.get_default_SR', [pool])) : undefined
    }
    if (!target || !isRef(target)) {
      return yield* Effect.fail(
        new ConfigError(
          'the template provisions new disks but the pool has no default SR; set storage_repository',
        ) as LuaVMError,
      )
    }
    const uuid = str(yield* xcall(session, 'SR.get_uuid', [target]))
    const rewritten = disks.replace(/\bsr="[^"]*"/g, `sr="${uuid}"`)
    if (rewritten === disks) return
    yield* xcall(session, 'VM.remove_from_other_config', [vm.ref, 'disks'])
    yield* xcall(session, 'VM.add_to_other_config', [vm.ref, 'disks', rewritten], 'create')
  })
}

/** Clone (or copy), tag, provision, size, network, start. Every creation registers its undo. */
function createVm(
  input: ProvisionInput,
  session: XapiSession,
): Effect.Effect<{ vm: VmRecord; device: string | undefined }, LuaVMError, Scope.Scope | Provisioning> {
  const { cfg, vmId } = input
  return Effect.gen(function* () {
    const p = yield* Provisioning
    const lookup = <A>(what: string, run: (signal: AbortSignal) => Promise<A>) =>
      attempt(what, run).pipe(retryTransient('idempotent'))
    const template = yield* lookup('template lookup', (signal) =>
      findVm(session, cfg.templateName as string, 'template', 'template_name', { signal }),
    )
    const topology = checkCoresPerSocket(template, cfg.vmVcpus)
    if (topology) return yield* Effect.fail(topology as LuaVMError)
    const sr = cfg.storageRepository
      ? yield* lookup('SR lookup', (signal) =>
          findObject(session, 'SR', cfg.storageRepository as string, 'storage_repository', { signal }),
        )
      : undefined
    const network = cfg.networkUuid
      ? yield* lookup('network lookup', (signal) =>
          findObject(session, 'network', cfg.networkUuid as string, 'network_uuid', { signal }),
        )
      : undefined
    const name = vmName(cfg.vmNamePrefix, vmId)
    p.logger.info(`${sr ? 'copying' : 'cloning'} template ${template.nameLabel} as ${name}`)
    const ref = yield* taskStep(
      session,
      sr ? 'VM.copy' : 'VM.clone',
      sr ? [template.ref, name, sr] : [template.ref, name],
      {
        step: sr ? 'copy' : 'clone',
        decode: (v) => str(v, 'VM ref'),
        undo: (vm) => destroyVmAndDisks(session, vm),
        // The name is unique, so anything carrying it is this step's product.
        reconcile: xcall(session, 'VM.get_by_name_label', [name]).pipe(Effect.map((v) => strList(v, 'VMs'))),
      },
    )
    // Tag first, so reapOrphans finds the VM even if this process dies now.
    yield* xcall(session, 'VM.add_to_other_config', [ref, OWNER_KEY, encodeOwner(ownerTag(vmId))], 'create')
    yield* xcall(session, 'VM.add_tags', [ref, GUEST_TAG])
    yield* xcall(session, 'VM.set_name_description', [
      ref,
      `bioxen-luavm VM ${vmId} (created by the SDK; removed on stop)`,
    ])
    const cloned = yield* lookup('VM.get_record', (signal) => getVm(session, ref, { signal }))
    yield* rewriteProvisioningDisks(session, cloned, sr)
    // provision's own products (disks) hang off the VM and go with its undo.
    // provision also clears is_a_template: the clone of a template is one too until then.
    yield* taskStep(session, 'VM.provision', [ref], { step: 'provision', decode: () => undefined })
    let vm = yield* lookup('VM.get_record', (signal) => getVm(session, ref, { signal }))
    if (cfg.vmMemory !== undefined) yield* applyMemory(session, vm, cfg.vmMemory)
    if (cfg.vmVcpus !== undefined) yield* applyVcpus(session, vm, cfg.vmVcpus)
    const device = network ? (yield* attachNetwork(session, ref, network)).device : undefined
    yield* taskStep(session, 'VM.start', [ref, false, false], {
      step: 'start',
      decode: () => ref,
      undo: (vmRef) => hardShutdown(session, vmRef),
    })
    vm = yield* lookup('VM.get_record', (signal) => getVm(session, ref, { signal }))
    return { vm, device }
  })
}

/** An existing VM, used without owning it: it must already run. */
function attachVm(input: ProvisionInput, session: XapiSession): Effect.Effect<VmRecord, LuaVMError, Provisioning> {
  return Effect.gen(function* () {
    const vm = yield* attempt('attach_vm lookup', (signal) =>
      findVm(session, input.cfg.attachVm as string, 'vm', 'attach_vm', { signal }),
    ).pipe(retryTransient('idempotent'))
    if (vm.powerState !== 'Running') {
      return yield* Effect.fail(
        new VMStateError(
          `attach_vm '${input.cfg.attachVm}' is ${vm.powerState}; the SDK never changes the power state of a VM it does not own — start it first`,
          { details: { vm: vm.uuid, powerState: vm.powerState } },
        ) as LuaVMError,
      )
    }
    return vm
  })
}

/** SSH in (retrying while sshd comes up), check the guest is `vm`, and start the Lua driver. */
function connectGuest(
  input: ProvisionInput,
  vm: VmRecord,
  ip: string,
  deadline: number,
): Effect.Effect<
  { ssh: SshConnection; target: SshTarget; driver: RemoteDriver },
  LuaVMError,
  Scope.Scope | Provisioning
> {
  const { cfg, secrets, logger } = input
  return Effect.gen(function* () {
    const p = yield* Provisioning
    const target: SshTarget = {
      host: ip,
      port: cfg.sshPort,
      username: cfg.sshUser,
      hostKey: new HostKeyVerifier(secrets.hostKeys, ip, cfg.sshPort, logger),
      ...(secrets.privateKey ? { privateKey: secrets.privateKey } : {}),
      ...(cfg.sshKeyPassphrase ? { passphrase: cfg.sshKeyPassphrase } : {}),
      ...(secrets.agent ? { agent: secrets.agent } : {}),
    }
    p.progress({ step: 'ssh', detail: `${cfg.sshUser}@${ip}:${cfg.sshPort}` })
    const ssh = yield* undoable(
      'ssh',
      attempt('SSH connect', (signal) => connectWithRetry(target, { deadline, signal, logger })),
      (c) => Effect.sync(() => c.close()),
    )
    yield* attempt('guest identity check', (signal) =>
      verifyGuestIdentity(ssh, vm.uuid, { path: cfg.guestUuidPath, host: ip, logger, signal }),
    )
    p.progress({ step: 'driver' })
    const driver = yield* undoable(
      'driver',
      attempt('Lua driver start', () => RemoteDriver.start(ssh, driverOptions(cfg, logger))),
      (d) => Effect.promise(() => d.kill()),
    )
    return { ssh, target, driver }
  })
}

/**
 * The whole start: log in, clone or attach, boot, wait for the IP, SSH in,
 * start the driver. Run it with `runWorkflow`: any failure, timeout or
 * cancel unwinds exactly what was created, in reverse order.
 */
export function provisionGuest(input: ProvisionInput): Effect.Effect<Guest, LuaVMError, Scope.Scope | Provisioning> {
  return Effect.gen(function* () {
    const p = yield* Provisioning
    const session = yield* openSession(input)
    yield* checkPool(session, input.cfg.poolUuid)
    yield* checkRole(session, input.cfg)
    let vm: VmRecord
    let device: string | undefined
    const owned = !input.cfg.attachVm
    if (owned) ({ vm, device } = yield* createVm(input, session))
    else vm = yield* attachVm(input, session)
    p.progress({ step: 'wait-ip' })
    const deadline = Date.now() + input.cfg.bootTimeoutMs
    const ip = yield* waitForIp(session, vm.ref, device, deadline)
    p.logger.info(`guest ${vm.nameLabel} is at ${ip}`)
    const { ssh, target, driver } = yield* connectGuest(input, vm, ip, deadline)
    return { session, vm: vm.ref, uuid: vm.uuid, name: vm.nameLabel, owned, ip, ssh, target, driver }
  })
}

/**
 * Stops a guest: driver, SSH, then — only for VMs the SDK created — clean
 * shutdown with a deadline, hard shutdown, destroy with its disks. The
 * session is logged out whatever happens.
 */
export function teardownGuest(
  guest: Guest,
  options: { force: boolean; shutdownTimeoutMs: number },
): Effect.Effect<void, LuaVMError, Provisioning> {
  return Effect.gen(function* () {
    yield* Effect.promise(() => (options.force ? guest.driver.kill() : guest.driver.quit()))
    guest.ssh.close()
    if (!guest.owned) return
    if (!options.force) yield* shutdownVm(guest.session, guest.vm, options.shutdownTimeoutMs)
    yield* destroyVmAndDisks(guest.session, guest.vm)
  }).pipe(Effect.ensuring(Effect.promise(() => guest.session.logout())))
}

/**
 * Lets go of a guest the user wants to keep: driver and SSH end, but the VM
 * runs on. Its owner tag is removed first, so `reapOrphans` and
 * `xcpng reap` never take it; the description says who kept it and when.
 */
export function releaseGuest(guest: Guest, vmId: string): Effect.Effect<void, LuaVMError, Provisioning> {
  return Effect.gen(function* () {
    yield* Effect.promise(() => guest.driver.quit())
    guest.ssh.close()
    if (!guest.owned) return
    yield* xcall(guest.session, 'VM.remove_from_other_config', [guest.vm, OWNER_KEY])
    yield* xcall(guest.session, 'VM.set_name_description', [
      guest.vm,
      `bioxen-luavm VM ${vmId} (kept by the user on ${new Date().toISOString()}; no longer removed by the SDK)`,
    ])
  }).pipe(Effect.ensuring(Effect.promise(() => guest.session.logout())))
}
