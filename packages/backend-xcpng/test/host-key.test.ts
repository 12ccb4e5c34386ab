import { createHash, createHmac, randomBytes } from 'node:crypto'
import { SshError } from '@bioxen-luavm/core'
import { describe, expect, it } from 'vitest'
import {
  checkKnownHosts,
  HostKeyVerifier,
  keyTypeOf,
  normalizeSshFingerprint,
  parseKnownHosts,
  sshFingerprint,
} from '../src/ssh/host-key.js'

// An ed25519 public key blob: string "ssh-ed25519" + string(32 bytes).
function blob(seed: number): Buffer {
  const type = Buffer.from('ssh-ed25519')
  const key = Buffer.alloc(32, seed)
  const out = Buffer.alloc(4 + type.length + 4 + key.length)
  out.writeUInt32BE(type.length, 0)
  type.copy(out, 4)
  out.writeUInt32BE(key.length, 4 + type.length)
  key.copy(out, 8 + type.length)
  return out
}

const KEY = blob(1)
const OTHER = blob(2)
const b64 = (b: Buffer) => b.toString('base64')

describe('fingerprints', () => {
  it('are SHA256:<base64 without padding>, like ssh-keygen -lf', () => {
    const expected = `SHA256:${createHash('sha256').update(KEY).digest('base64').replace(/=+$/, '')}`
    expect(sshFingerprint(KEY)).toBe(expected)
    expect(sshFingerprint(KEY)).not.toMatch(/=$/)
  })
  it('normalize with or without the prefix, and reject junk', () => {
    const f = sshFingerprint(KEY)
    expect(normalizeSshFingerprint(f.slice(7))).toBe(f)
    expect(normalizeSshFingerprint(`${f}=`)).toBe(f)
    expect(normalizeSshFingerprint('MD5:aa:bb')).toBeUndefined()
  })
  it('reads the key type from the blob', () => {
    expect(keyTypeOf(KEY)).toBe('ssh-ed25519')
  })
})

describe('known_hosts', () => {
  it('matches plain, [host]:port, comma lists and globs; skips comments', () => {
    const entries = parseKnownHosts(
      [
        '# comment',
        `guest.example,10.0.0.5 ssh-ed25519 ${b64(KEY)}`,
        `[127.0.0.1]:2222 ssh-ed25519 ${b64(KEY)} comment here`,
        `*.lab ssh-ed25519 ${b64(KEY)}`,
        'garbage',
      ].join('\n'),
    )
    expect(entries).toHaveLength(3)
    expect(checkKnownHosts(entries, '10.0.0.5', 22, KEY)).toBe('match')
    expect(checkKnownHosts(entries, '127.0.0.1', 2222, KEY)).toBe('match')
    expect(checkKnownHosts(entries, '127.0.0.1', 22, KEY)).toBe('unknown')
    expect(checkKnownHosts(entries, 'vm1.lab', 22, KEY)).toBe('match')
    expect(checkKnownHosts(entries, '10.0.0.5', 22, OTHER)).toBe('mismatch')
  })
  it('matches hashed names (|1|salt|hash)', () => {
    const salt = randomBytes(20)
    const hash = createHmac('sha1', salt).update('[10.1.1.1]:2200').digest()
    const entries = parseKnownHosts(`|1|${b64(salt)}|${b64(hash)} ssh-ed25519 ${b64(KEY)}`)
    expect(checkKnownHosts(entries, '10.1.1.1', 2200, KEY)).toBe('match')
    expect(checkKnownHosts(entries, '10.1.1.2', 2200, KEY)).toBe('unknown')
  })
  it('honours @revoked and negated patterns', () => {
    const entries = parseKnownHosts(`@revoked * ssh-ed25519 ${b64(KEY)}\n*,!bad.lab ssh-ed25519 ${b64(OTHER)}`)
    expect(checkKnownHosts(entries, 'x', 22, KEY)).toBe('revoked')
    expect(checkKnownHosts(entries, 'ok.lab', 22, OTHER)).toBe('match')
    expect(checkKnownHosts(entries, 'bad.lab', 22, OTHER)).toBe('unknown')
  })
})

describe('HostKeyVerifier', () => {
  it('refuses an unknown key by default, with an error that prints the fingerprint to pin', () => {
    const v = new HostKeyVerifier({}, '10.0.0.9', 22)
    expect(v.verify(KEY)).toBe(false)
    expect(v.failure).toBeInstanceOf(SshError)
    expect(v.failure?.message).toContain(`ssh_host_key="${sshFingerprint(KEY)}"`)
  })
  it('accepts a pinned key and refuses another', () => {
    const v = new HostKeyVerifier({ fingerprints: [sshFingerprint(KEY)] }, 'h', 22)
    expect(v.verify(KEY)).toBe(true)
    expect(v.verify(OTHER)).toBe(false)
    expect(v.failure?.message).toMatch(/does not match ssh_host_key/)
  })
  it('reports a changed key loudly', () => {
    const v = new HostKeyVerifier({ knownHosts: parseKnownHosts(`h ssh-ed25519 ${b64(KEY)}`) }, 'h', 22)
    expect(v.verify(OTHER)).toBe(false)
    expect(v.failure?.message).toMatch(/HOST KEY MISMATCH/)
  })
  it('trust on first use pins the first key for the lifetime of the verifier', () => {
    const v = new HostKeyVerifier({ acceptNew: true }, 'h', 22)
    expect(v.verify(KEY)).toBe(true)
    expect(v.verify(KEY)).toBe(true)
    expect(v.verify(OTHER)).toBe(false)
  })
  it('rejects a malformed pin at construction', () => {
    expect(() => new HostKeyVerifier({ fingerprints: ['nope'] }, 'h', 22)).toThrow(SshError)
  })
})
