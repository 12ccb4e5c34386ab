import { type Logger, VMStateError } from '@bioxen-luavm/core'
import type { SshConnection } from './connection.js'
import { shellJoin } from './shell.js'

/** Where a Xen guest's kernel shows its VM's uuid (read from xenstore's `vm` key). */
export const XEN_GUEST_UUID_PATH = '/sys/hypervisor/uuid'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * Checks that the guest behind this SSH connection is the VM XAPI named:
 * clones that keep one `/etc/machine-id` can get the same DHCP lease, and
 * clones share the template's host key, so the key check alone cannot
 * tell them apart. The guest's own view of its uuid (`path`, by default
 * {@link XEN_GUEST_UUID_PATH}) must equal XAPI's; anything else is refused
 * with a `VMStateError` (`details.reason: 'wrong-guest'`). A guest whose
 * kernel does not expose the file (no Xen support, or not a Xen guest)
 * cannot be checked: that is logged (info), not refused — a template that
 * works at all runs the same kernel on every clone, so the check either
 * always runs or never does.
 */
export async function verifyGuestIdentity(
  ssh: SshConnection,
  expectedUuid: string,
  options: { path: string; host: string; logger: Logger; signal?: AbortSignal | undefined },
): Promise<void> {
  const result = await ssh.run(shellJoin(['cat', '--', options.path]), {
    timeoutMs: 15_000,
    maxOutputBytes: 256,
    ...(options.signal ? { signal: options.signal } : {}),
  })
  if (result.code !== 0) {
    options.logger.info(
      `cannot read ${options.path} on the guest, so its identity is not checked; a guest kernel with Xen support shows it (see docs/xcpng.md)`,
      { host: options.host },
    )
    return
  }
  const seen = result.stdout.trim().toLowerCase()
  const expected = expectedUuid.toLowerCase()
  if (seen === expected) return
  const shown = UUID.test(seen) ? seen : JSON.stringify(seen.slice(0, 64))
  throw new VMStateError(
    `the guest at ${options.host} is VM ${shown}, not ${expected}: another VM answers on this address (clones that share /etc/machine-id get the same DHCP lease; see "Preparing the template" in docs/xcpng.md); refusing to run code there`,
    { details: { reason: 'wrong-guest', expected, seen: shown, host: options.host } },
  )
}
