import { ConfigError, type LuaVMError } from '@bioxen-luavm/core'
import { Effect } from 'effect'
import type { VmRecord } from '../xapi/api.js'
import type { XapiSession } from '../xapi/session.js'
import { type Provisioning, xcall } from './effects.js'

/** The four memory limits of a VM, in bytes. */
export interface MemoryLimits {
  staticMin: number
  staticMax: number
  dynamicMin: number
  dynamicMax: number
}

/**
 * Limits that give the guest exactly `bytes`. XAPI requires
 * static_min ≤ dynamic_min ≤ dynamic_max ≤ static_max, and pools without
 * dynamic memory control also require dynamic_min = dynamic_max =
 * static_max: pinning all three to the target satisfies both, and
 * static_min is lowered when the target is below it.
 */
export function memoryPlan(current: MemoryLimits, bytes: number): MemoryLimits {
  return { staticMin: Math.min(current.staticMin, bytes), staticMax: bytes, dynamicMin: bytes, dynamicMax: bytes }
}

/**
 * The order of vCPU setters. XAPI checks 0 < VCPUs_at_startup ≤ VCPUs_max
 * after each single call, so growing sets the maximum first and shrinking
 * sets the startup count first. Setters that change nothing are skipped.
 */
export function vcpuPlan(
  current: { max: number; atStartup: number },
  target: number,
): Array<['VM.set_VCPUs_max' | 'VM.set_VCPUs_at_startup', number]> {
  const steps: Array<['VM.set_VCPUs_max' | 'VM.set_VCPUs_at_startup', number]> = []
  if (target >= current.max) {
    if (target !== current.max) steps.push(['VM.set_VCPUs_max', target])
    if (target !== current.atStartup) steps.push(['VM.set_VCPUs_at_startup', target])
  } else {
    if (target !== current.atStartup) steps.push(['VM.set_VCPUs_at_startup', target])
    steps.push(['VM.set_VCPUs_max', target])
  }
  return steps
}

/** Applies `vm_memory` with one atomic `VM.set_memory_limits`. */
export function applyMemory(
  session: XapiSession,
  vm: VmRecord,
  bytes: number,
): Effect.Effect<void, LuaVMError, Provisioning> {
  const plan = memoryPlan(vm.memory, bytes)
  return xcall(session, 'VM.set_memory_limits', [
    vm.ref,
    plan.staticMin,
    plan.staticMax,
    plan.dynamicMin,
    plan.dynamicMax,
  ]).pipe(Effect.asVoid)
}

/** Applies `vm_vcpus` in the legal order. */
export function applyVcpus(
  session: XapiSession,
  vm: VmRecord,
  count: number,
): Effect.Effect<void, LuaVMError, Provisioning> {
  return Effect.forEach(
    vcpuPlan({ max: vm.vcpusMax, atStartup: vm.vcpusAtStartup }, count),
    ([method, n]) => xcall(session, method, [vm.ref, n]),
    {
      discard: true,
    },
  )
}

/**
 * XAPI refuses `VM.start` (`VCPU_MAX_NOT_CORES_PER_SOCKET_MULTIPLE`) when
 * VCPUs_max is not a multiple of the template's `platform:cores-per-socket`.
 * Checked on the template, before anything is created; the error says
 * which counts would work.
 */
export function checkCoresPerSocket(template: VmRecord, vcpus: number | undefined): ConfigError | undefined {
  const raw = template.platform['cores-per-socket']
  const perSocket = raw === undefined ? Number.NaN : Number(raw)
  if (!Number.isInteger(perSocket) || perSocket <= 1) return undefined
  const count = vcpus ?? template.vcpusMax
  if (count % perSocket === 0) return undefined
  const key = vcpus === undefined ? `the template's VCPUs_max (${count})` : `vm_vcpus ${count}`
  return new ConfigError(
    `${key} is not a multiple of the template's platform:cores-per-socket ${perSocket}, so VM.start would fail with VCPU_MAX_NOT_CORES_PER_SOCKET_MULTIPLE; set vm_vcpus to a multiple of ${perSocket} (e.g. ${perSocket * Math.max(1, Math.round(count / perSocket))}) or change the template's cores-per-socket`,
    { details: { vcpus: count, coresPerSocket: perSocket } },
  )
}
