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
 * the lowest device; IPv4 before IPv6. IPv6 guests list several addresses,
 * often the link-local one first: any routable one is taken, link-local
 * (fe80::/10, useless without a scope) never.
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
    const v6 = indexed(networks, `${d}/ipv6/`).find((a) => a.includes(':') && !/^fe[89ab][0-9a-f]:/i.test(a))
    if (v6) return v6
  }
  return undefined
}

/** The values of `<prefix>0`, `<prefix>1`, … in index order. */
function indexed(networks: Readonly<Record<string, string>>, prefix: string): string[] {
  return Object.keys(networks)
    .filter((k) => k.startsWith(prefix) && /^\d+$/.test(k.slice(prefix.length)))
    .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)))
    .map((k) => networks[k] as string)
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
            // An empty MAC makes XAPI derive one from the VM's mac_seed; the
            // MTU comes from the network (XAPI ignores the VIF's own).
            MAC: '',
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
        ? Effect.fail(new VMTimeoutError(noIpMessage(lastNetworks), { details: { reason: 'no-ip' } }) as LuaVMError)
        : Effect.succeed(ip),
    ),
  )
}

/**
 * Why no address came, from what the guest agent reported: nothing at all
 * means no agent runs in the guest; an empty map an agent too old for the
 * guest's interface names; addresses without a usable one a network issue.
 */
export function noIpMessage(networks: Readonly<Record<string, string>> | undefined): string {
  if (networks === undefined) {
    return 'the guest never reported an IP: no guest metrics appeared, so no guest agent runs in the template — install xen-guest-agent or the XCP-ng guest tools (guest-tools ISO; Debian 12 has no xe-guest-utilities package), see docs/xcpng.md; or raise boot_timeout_ms'
  }
  if (Object.keys(networks).length === 0) {
    return 'the guest agent runs but reports no network addresses: agents older than xe-guest-utilities 7.30 do not know enX0-style interface names — install xen-guest-agent or the guest tools from the XCP-ng 8.3 guest-tools ISO, see docs/xcpng.md'
  }
  return `the guest reported no usable IP before the deadline (networks: ${JSON.stringify(networks)}): only link-local or malformed addresses; check the guest's DHCP/network or raise boot_timeout_ms`
}
