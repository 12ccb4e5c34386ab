import { createHash, createHmac } from 'node:crypto'
import { type Logger, SshError, silentLogger } from '@bioxen-luavm/core'

/** `SHA256:<base64, no padding>` of a raw host key blob — what `ssh-keygen -lf` prints. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`
}

/** Normalizes `SHA256:abc…` (or the bare base64) to `SHA256:abc…`; undefined when malformed. */
export function normalizeSshFingerprint(text: string): string | undefined {
  const body = text
    .trim()
    .replace(/^SHA256:/i, '')
    .replace(/=+$/, '')
  return /^[A-Za-z0-9+/]{43}$/.test(body) ? `SHA256:${body}` : undefined
}

/** One line of a known_hosts file. */
export interface KnownHostEntry {
  /** Host patterns (`host`, `[host]:port`, globs, `!negations`), or a hashed name. */
  patterns: string[]
  hashed?: { salt: Buffer; hash: Buffer }
  marker?: 'revoked' | 'cert-authority'
  keyType: string
  key: Buffer
}

/** Parses known_hosts text (plain, hashed `|1|salt|hash`, markers). Bad lines are skipped. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = []
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim()
    if (line === '' || line.startsWith('#')) continue
    const fields = line.split(/\s+/)
    let marker: KnownHostEntry['marker']
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') {
      marker = fields[0] === '@revoked' ? 'revoked' : 'cert-authority'
      fields.shift()
    }
    const [hosts, keyType, keyB64] = fields
    if (!hosts || !keyType || !keyB64) continue
    const key = Buffer.from(keyB64, 'base64')
    if (key.length === 0) continue
    const entry: KnownHostEntry = { patterns: [], keyType, key, ...(marker ? { marker } : {}) }
    const hashed = /^\|1\|([^|]+)\|([^|]+)$/.exec(hosts)
    if (hashed)
      entry.hashed = { salt: Buffer.from(hashed[1] ?? '', 'base64'), hash: Buffer.from(hashed[2] ?? '', 'base64') }
    else entry.patterns = hosts.split(',')
    out.push(entry)
  }
  return out
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  )
  return re.test(name)
}

function entryMatchesHost(entry: KnownHostEntry, name: string): boolean {
  if (entry.hashed) {
    const h = createHmac('sha1', entry.hashed.salt).update(name).digest()
    return h.equals(entry.hashed.hash)
  }
  let matched = false
  for (const p of entry.patterns) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false
    } else if (globMatch(p, name)) {
      matched = true
    }
  }
  return matched
}

/** What known_hosts says about a presented key. */
export type KnownHostsVerdict = 'match' | 'mismatch' | 'unknown' | 'revoked'

/** Looks `key` up for `host:port` the way OpenSSH does (exact key blob, per key type). */
export function checkKnownHosts(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  key: Buffer,
): KnownHostsVerdict {
  const name = knownHostsName(host, port)
  const keyType = keyTypeOf(key)
  let sameTypeOther = false
  for (const e of entries) {
    if (e.marker === 'cert-authority') continue
    if (!entryMatchesHost(e, name)) continue
    if (e.key.equals(key)) return e.marker === 'revoked' ? 'revoked' : 'match'
    if (e.marker !== 'revoked' && e.keyType === keyType) sameTypeOther = true
  }
  return sameTypeOther ? 'mismatch' : 'unknown'
}

/** The key type inside an SSH public key blob (`ssh-ed25519`, …). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return ''
  const n = blob.readUInt32BE(0)
  return blob.subarray(4, 4 + n).toString('latin1')
}

/** How host keys are trusted. Default: refuse unknown keys. */
export interface HostKeyPolicy {
  /** Pinned `SHA256:` fingerprints; any match is trusted. */
  fingerprints?: readonly string[]
  /** Parsed known_hosts entries. */
  knownHosts?: readonly KnownHostEntry[]
  /**
   * Trust on first use: accept the first key seen and pin it for this VM's
   * lifetime. Off by default; warned about.
   */
  acceptNew?: boolean
}

/**
 * Verifies the host key of one guest. ssh2 accepts any key without a
 * `hostVerifier`, so every connection goes through this. When it refuses,
 * {@link failure} holds an error that prints the fingerprint to pin.
 */
export class HostKeyVerifier {
  readonly #policy: HostKeyPolicy
  readonly #pins: Set<string>
  readonly #logger: Logger
  #failure: SshError | undefined
  #seen: string | undefined

  /**
   * @param policy - what to trust
   * @param host - address as connected (for known_hosts and messages)
   * @param port - SSH port
   */
  constructor(
    policy: HostKeyPolicy,
    readonly host: string,
    readonly port: number,
    logger: Logger = silentLogger,
  ) {
    this.#policy = policy
    this.#logger = logger
    this.#pins = new Set()
    for (const f of policy.fingerprints ?? []) {
      const n = normalizeSshFingerprint(f)
      if (!n) throw new SshError(`ssh_host_key '${f}' is not a SHA256 fingerprint (expected SHA256:<43 base64 chars>)`)
      this.#pins.add(n)
    }
  }

  /** Why the last key was refused. */
  get failure(): SshError | undefined {
    return this.#failure
  }

  /** Fingerprint of the last key presented. */
  get lastFingerprint(): string | undefined {
    return this.#seen
  }

  /** ssh2 `hostVerifier`: true to trust `key`. */
  verify = (key: Buffer): boolean => {
    const fingerprint = sshFingerprint(key)
    this.#seen = fingerprint
    this.#failure = undefined
    const where = `${this.host}:${this.port}`
    if (this.#pins.has(fingerprint)) return true
    const known = this.#policy.knownHosts
      ? checkKnownHosts(this.#policy.knownHosts, this.host, this.port, key)
      : 'unknown'
    if (known === 'match') return true
    if (known === 'revoked')
      return this.#refuse(`the host key of ${where} (${fingerprint}) is marked @revoked in known_hosts`, fingerprint)
    if (known === 'mismatch') {
      return this.#refuse(
        `HOST KEY MISMATCH for ${where}: it presented ${fingerprint}, which differs from the key in known_hosts — ` +
          'someone may be intercepting the connection, or the guest was re-keyed; check before updating known_hosts',
        fingerprint,
      )
    }
    if (this.#pins.size > 0) {
      return this.#refuse(
        `the host key of ${where} is ${fingerprint}, which does not match ssh_host_key; if the template was re-keyed on purpose, pin the new fingerprint`,
        fingerprint,
      )
    }
    if (this.#policy.acceptNew) {
      this.#pins.add(fingerprint)
      this.#logger.warn(
        'trusting a new SSH host key on first use (ssh_accept_new_host_key); pin it with ssh_host_key',
        {
          host: where,
          fingerprint,
        },
      )
      return true
    }
    return this.#refuse(
      `the host key of ${where} is not trusted: its fingerprint is ${fingerprint}. ` +
        `Check it on the guest (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and pin it with ssh_host_key="${fingerprint}", ` +
        'or list it in known_hosts_path',
      fingerprint,
    )
  }

  #refuse(message: string, fingerprint: string): false {
    this.#failure = new SshError(message, {
      details: { host: this.host, port: this.port, fingerprint, reason: 'host-key' },
    })
    return false
  }
}
