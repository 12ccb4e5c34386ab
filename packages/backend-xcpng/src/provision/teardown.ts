import { type LuaVMError, XapiError } from '@bioxen-luavm/core'
import { Effect } from 'effect'
import { getVbd, getVm, type VmRecord } from '../xapi/api.js'
import { isRef, strList } from '../xapi/codec.js'
import type { XapiSession } from '../xapi/session.js'
import { awaitTask, cancelTask, destroyTask, startTask } from '../xapi/tasks.js'
import { attempt, Provisioning, retryTransient, xcall } from './effects.js'

const gone = (e: LuaVMError) =>
  e instanceof XapiError && (e.xapiCode === 'HANDLE_INVALID' || e.xapiCode === 'UUID_INVALID')
const halted = (e: LuaVMError) => e instanceof XapiError && e.xapiCode === 'VM_BAD_POWER_STATE'

/**
 * Runs `Async.<method>` to completion outside any workflow scope (teardown
 * has nothing to undo): cancel on timeout, always destroy the task.
 * Shutdown and destroy are safe to repeat (a second try meets a halted or
 * missing VM, which callers accept), so transport failures are retried.
 */
export function runTask(
  session: XapiSession,
  method: string,
  args: readonly string[],
  timeoutMs: number,
): Effect.Effect<unknown, LuaVMError, Provisioning> {
  return Effect.gen(function* () {
    const p = yield* Provisioning
    const task = yield* attempt(`XAPI Async.${method}`, (signal) =>
      startTask(session, method, args, { signal, timeoutMs: p.callTimeoutMs }),
    ).pipe(retryTransient('idempotent'))
    const result = yield* Effect.exit(
      attempt(`XAPI task ${method}`, (signal) =>
        awaitTask(session, task, { method, signal, deadline: Date.now() + timeoutMs }),
      ),
    )
    if (result._tag === 'Failure')
      yield* attempt('task.cancel', () => cancelTask(session, task, 10_000)).pipe(Effect.ignore)
    yield* attempt('task.destroy', () => destroyTask(session, task)).pipe(retryTransient('idempotent'), Effect.ignore)
    return yield* result
  })
}

/** Hard shutdown; a VM that is already halted is fine. */
export function hardShutdown(session: XapiSession, vm: string): Effect.Effect<void, LuaVMError, Provisioning> {
  return runTask(session, 'VM.hard_shutdown', [vm], 120_000).pipe(
    Effect.asVoid,
    Effect.catch((e: LuaVMError) => (halted(e) || gone(e) ? Effect.void : Effect.fail(e))),
  )
}

/**
 * Clean shutdown within `timeoutMs`, then hard shutdown. Guests without PV
 * drivers answer VM_LACKS_FEATURE; a hung guest runs past the deadline;
 * both end in the hard shutdown.
 */
export function shutdownVm(
  session: XapiSession,
  vm: string,
  timeoutMs: number,
): Effect.Effect<void, LuaVMError, Provisioning> {
  return Effect.gen(function* () {
    const p = yield* Provisioning
    const clean = yield* Effect.exit(runTask(session, 'VM.clean_shutdown', [vm], timeoutMs))
    if (clean._tag === 'Success') return
    const error = clean.cause
    p.logger.info('clean shutdown did not finish; forcing a hard shutdown', { vm, cause: String(error).slice(0, 200) })
    yield* hardShutdown(session, vm)
  })
}

/**
 * The disks that belong to a VM: VDIs behind its `Disk` VBDs. CD and floppy
 * drives are skipped (their ISOs live on shared ISO SRs), and so are disks
 * also plugged into another VM.
 */
export function ownDisks(session: XapiSession, vm: VmRecord): Effect.Effect<string[], LuaVMError, Provisioning> {
  return Effect.gen(function* () {
    const disks: string[] = []
    for (const vbdRef of vm.vbds) {
      const vbd = yield* attempt('VBD.get_record', (signal) => getVbd(session, vbdRef, { signal })).pipe(
        retryTransient('idempotent'),
      )
      if (vbd.type !== 'Disk' || vbd.empty || !isRef(vbd.vdi)) continue
      const users = strList(yield* xcall(session, 'VDI.get_VBDs', [vbd.vdi]), 'VDI VBDs')
      let shared = false
      for (const other of users) {
        if (other === vbdRef) continue
        const owner = yield* xcall(session, 'VBD.get_VM', [other]).pipe(Effect.orElseSucceed(() => vm.ref))
        if (owner !== vm.ref) shared = true
      }
      if (!shared) disks.push(vbd.vdi)
    }
    return disks
  })
}

/** Destroys a disk, retrying while XAPI still reports it in use. */
export function destroyVdi(session: XapiSession, vdi: string): Effect.Effect<void, LuaVMError, Provisioning> {
  return xcall(session, 'VDI.destroy', [vdi], 'vdi-destroy').pipe(
    Effect.asVoid,
    Effect.catch((e: LuaVMError) => (gone(e) ? Effect.void : Effect.fail(e))),
  )
}

/**
 * Removes a VM for good: hard shutdown if needed, collect its own disks
 * (before the VM goes, since its VBDs go with it), destroy the VM (XAPI
 * removes its VBDs and VIFs), then the disks, then any snapshots the same
 * way. A VM that no longer exists is fine.
 */
export function destroyVmAndDisks(session: XapiSession, ref: string): Effect.Effect<void, LuaVMError, Provisioning> {
  return Effect.gen(function* () {
    const read = yield* Effect.exit(
      attempt('VM.get_record', (signal) => getVm(session, ref, { signal })).pipe(retryTransient('idempotent')),
    )
    if (read._tag === 'Failure') {
      const e = read.cause
      const error = e.reasons.find((r) => r._tag === 'Fail')
      if (error && error._tag === 'Fail' && gone(error.error)) return
      return yield* Effect.failCause(e)
    }
    const vm = read.value
    if (vm.isControlDomain || vm.isDefaultTemplate) {
      return yield* Effect.fail(
        new XapiError(
          'OPERATION_NOT_ALLOWED',
          [ref],
          'refusing to destroy a control domain or default template',
        ) as LuaVMError,
      )
    }
    if (vm.powerState !== 'Halted' && vm.powerState !== 'Suspended') yield* hardShutdown(session, ref)
    const disks = yield* ownDisks(session, vm)
    yield* runTask(session, 'VM.destroy', [ref], 120_000).pipe(
      Effect.catch((e: LuaVMError) => (gone(e) ? Effect.void : Effect.fail(e))),
    )
    for (const vdi of disks) yield* destroyVdi(session, vdi)
    for (const snapshot of vm.snapshots) yield* destroyVmAndDisks(session, snapshot)
  })
}
