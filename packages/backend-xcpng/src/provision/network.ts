import { type LuaVMError, VMTimeoutError, XapiError } from '@bioxen-luavm/core'
import { Effect, type Scope } from 'effect'
import { guestNetworks } from '../xapi/api.js'
import { str, strList } from '../xapi/codec.js'
import { waitUntil } from '../xapi/events.js'
import type { XapiSession } from '../xapi/session.js'
import { attempt, type Provisioning, xcall } from './effects.js'
import { undoable } from './undo.js'

/**
 * The address to SSH to, from a guest agent's network map. Keys are
 * `<vif device>/ipv4/<i>` (new agents), `<device>/ip` (legacy agents, also
 * written by new ones) and `<device>/ipv6/<i>`. The given device wins, then
 * the lowest device; IPv4 before IPv6; link-local IPv6 is useless without
 * a scope and is skipped.
 */
export function pickGuestIp(networks: Readonly<Record<string, string>>, device?: string): string | undefined {
  const devices = [...new Set(Object.keys(networks).map((k) => k.split('/')[0] ?? ''))]
    .filter((d) => /^\d+$/.test(d))
    .sort((a, b) => Number(a) - Number(b))
  if (device !== undefined) devices.sort((a, b) => (a === device ? -1 : b === device ? 1 : 0))
  for (const d of devices) {
    const v4 = networks[`${d}/ipv4/0`] ?? networks[`${d}/ip`]
    if (v4 && /^\d+\.\d+\.\d+\.\d+$/.test(v4)) return v4
  }
  for (const d of devices) {
    const v6 = networks[`${d}/ipv6/0`]
    if (v6 && !/^fe80:/i.test(v6)) return v6
  }
  return undefined
}

/**
 * Adds a VIF on `network` at the first free device; its undo destroys it
 * (the VM is halted by then: undo runs in reverse order, after start's).
 */
export function attachNetwork(
  session: XapiSession,
  vm: string,
  network: string,
): Effect.Effect<{ vif: string; device: string }, LuaVMError, Scope.Scope | Provisioning> {
  return Effect.gen(function* () {
    const free = strList(yield* xcall(session, 'VM.get_allowed_VIF_devices', [vm]), 'allowed VIF devices')
    const device = free[0]
    if (device === undefined)
      return yield* Effect.fail(
        new XapiError('NO_FREE_VIF_DEVICE', [vm], 'the VM has no free VIF device left for network_uuid') as LuaVMError,
      )
    const vif = yield* undoable(
      'vif',
      xcall(
        session,
        'VIF.create',
        [
          {
            device,
            network,
            VM: vm,
            MAC: '',
            MTU: 1500,
            other_config: {},
            qos_algorithm_type: '',
            qos_algorithm_params: {},
            locking_mode: 'network_default',
          },
        ],
        'create',
      ).pipe(Effect.map((v) => str(v, 'VIF ref'))),
      (ref) => xcall(session, 'VIF.destroy', [ref]).pipe(Effect.asVoid),
    )
    return { vif, device }
  })
}

/**
 * Waits for the guest agent to report an address, woken by `event.from`
 * on the VM and its metrics. Fails with `VMTimeoutError` at the deadline,
 * saying why (no metrics at all means no guest agent in the template).
 */
export function waitForIp(
  session: XapiSession,
  vm: string,
  device: string | undefined,
  deadline: number,
): Effect.Effect<string, LuaVMError, Provisioning> {
  let metrics: string | undefined
  let lastNetworks: Record<string, string> | undefined
  return attempt('waiting for the guest IP', (signal) =>
    waitUntil(
      session,
      async () => {
        const found = await guestNetworks(session, vm, { signal })
        metrics = found?.metrics
        lastNetworks = found?.networks
        return found ? pickGuestIp(found.networks, device) : undefined
      },
      { subscriptions: () => [`vm/${vm}`, ...(metrics ? [`vm_guest_metrics/${metrics}`] : [])], deadline, signal },
    ),
  ).pipe(
    Effect.flatMap((ip) =>
      ip === undefined
        ? Effect.fail(
            new VMTimeoutError(
              lastNetworks === undefined
                ? 'the guest never reported an IP: no guest metrics appeared — install xe-guest-utilities or xen-guest-agent in the template, or raise boot_timeout_ms'
                : `the guest reported no usable IP before the deadline (networks: ${JSON.stringify(lastNetworks)}); check its network or raise boot_timeout_ms`,
              { details: { reason: 'no-ip' } },
            ) as LuaVMError,
          )
        : Effect.succeed(ip),
    ),
  )
}
