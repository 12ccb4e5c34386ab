import { describe, expect, it } from 'vitest'
import { resolveConfig } from '../src/config.js'
import { encodeOwner, ownerTag, parseOwner, vmName } from '../src/owner.js'
import { noIpMessage, pickGuestIp } from '../src/provision/network.js'
import { requiredRole } from '../src/provision/rbac.js'
import { normalizeFingerprint } from '../src/xapi/tls.js'

describe('pickGuestIp', () => {
  it.each([
    [{ '0/ip': '10.0.0.5', '0/ipv4/0': '10.0.0.5' }, undefined, '10.0.0.5'],
    [{ '0/ip': '10.0.0.5' }, undefined, '10.0.0.5'],
    [{ '0/ipv4/0': '10.0.0.6' }, undefined, '10.0.0.6'],
    [{ '0/ipv4/0': '10.0.0.6', '1/ipv4/0': '192.168.1.2' }, '1', '192.168.1.2'],
    [{ '1/ipv4/0': '192.168.1.2', '0/ipv4/0': '10.0.0.6' }, undefined, '10.0.0.6'],
    [{ '0/ipv6/0': 'fe80::1' }, undefined, undefined],
    [{ '0/ipv6/0': '2001:db8::5' }, undefined, '2001:db8::5'],
    [{ '0/ipv6/0': 'fe80::1', '0/ipv6/1': '2001:db8::7' }, undefined, '2001:db8::7'],
    [{ '0/ipv6/1': '2001:db8::7', '0/ipv6/0': 'FEBF::1', '0/ipv6/2': 'fd00::2' }, undefined, '2001:db8::7'],
    [{ '0/ipv6/0': 'fe80::1', '0/ipv6/10': 'fd00::9' }, undefined, 'fd00::9'],
    [{ '0/ipv6/0': 'fe80::1', '1/ipv6/0': '2001:db8::8' }, undefined, '2001:db8::8'],
    [{}, undefined, undefined],
  ])('%j (device %s) → %s', (networks, device, ip) => {
    expect(pickGuestIp(networks, device)).toBe(ip)
  })
})

describe('owner tag and names', () => {
  it('round-trips and ignores foreign values', () => {
    const tag = ownerTag('vm-1', 1000)
    expect(parseOwner(encodeOwner(tag))).toEqual(tag)
    expect(parseOwner('{"x":1}')).toBeUndefined()
    expect(parseOwner('not json')).toBeUndefined()
    expect(parseOwner(undefined)).toBeUndefined()
  })
  it('makes unique names from the original <prefix>-<id>', () => {
    const a = vmName('bioxen', 'job 1/2')
    expect(a).toMatch(/^bioxen-job_1_2-[0-9a-f]{6}$/)
    expect(vmName('bioxen', 'job')).not.toBe(vmName('bioxen', 'job'))
  })
})

describe('TLS fingerprints', () => {
  it('accept any common spelling', () => {
    const hex = 'ab'.repeat(32)
    const want = 'AB:'.repeat(31) + 'AB'
    expect(normalizeFingerprint(hex)).toBe(want)
    expect(normalizeFingerprint(`sha256/${want.toLowerCase()}`)).toBe(want)
    expect(normalizeFingerprint('SHA256 Fingerprint=' + want)).toBeUndefined()
    expect(normalizeFingerprint('abcd')).toBeUndefined()
  })
})

describe('the "no IP" message', () => {
  it('says which agent is missing', () => {
    expect(noIpMessage(undefined)).toMatch(/xen-guest-agent.*guest-tools ISO.*no xe-guest-utilities package/)
    expect(noIpMessage({})).toMatch(/enX0/)
    expect(noIpMessage({ '0/ipv6/0': 'fe80::1' })).toMatch(/link-local/)
  })
})

describe('requiredRole', () => {
  const base = { xapi_url: 'https://x/', username: 'u', password: 'p', ssh_user: 'lua', template_name: 't' }
  it('vm-admin to clone, vm-power-admin with vm_memory, read-only to attach', () => {
    expect(requiredRole(resolveConfig(base)).role).toBe('vm-admin')
    expect(requiredRole(resolveConfig({ ...base, vm_memory: 2 ** 31 })).role).toBe('vm-power-admin')
    expect(requiredRole(resolveConfig({ ...base, attach_vm: 'vm', vm_memory: 2 ** 31 })).role).toBe('read-only')
  })
  it('reads the guest uuid from /sys/hypervisor/uuid unless told otherwise', () => {
    expect(resolveConfig(base).guestUuidPath).toBe('/sys/hypervisor/uuid')
  })
})
