import { X509Certificate } from 'node:crypto'
import type http from 'node:http'
import https from 'node:https'
import type { Duplex } from 'node:stream'
import tls from 'node:tls'
import { type Logger, XapiError } from '@bioxen-luavm/core'

/** How the XAPI client decides to trust the host's TLS certificate. */
export interface TlsPolicy {
  /** Extra trusted CA certificates (PEM). Replaces the system roots, like Node's `ca`. */
  ca?: string | undefined
  /**
   * Pinned SHA-256 fingerprints of the host certificate(s), hex with or
   * without colons (`openssl x509 -fingerprint -sha256`). Any match is trusted,
   * so a pool's hosts can be listed together.
   */
  fingerprints?: readonly string[] | undefined
  /** Trust any certificate. Never the default; warned about loudly. */
  insecure?: boolean | undefined
  /** Name to verify the certificate against, when it differs from the URL's host. */
  servername?: string | undefined
}

/** Normalizes a SHA-256 fingerprint to uppercase hex with colons, or undefined when malformed. */
export function normalizeFingerprint(text: string): string | undefined {
  const hex = text
    .trim()
    .replace(/^sha256[:/=]?/i, '')
    .replace(/[:\s]/g, '')
    .toUpperCase()
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined
  return hex.match(/../g)?.join(':')
}

/** SHA-256 fingerprint (uppercase hex with colons) of a PEM or DER certificate. */
export function certificateFingerprint(cert: string | Buffer): string {
  return new X509Certificate(cert).fingerprint256
}

/**
 * Checks the policy once, so a bad pin fails at config time, and warns when
 * verification is off.
 */
export function checkTlsPolicy(policy: TlsPolicy, logger: Logger, url: URL): void {
  for (const f of policy.fingerprints ?? []) {
    if (!normalizeFingerprint(f)) {
      throw new XapiError('TLS_ERROR', ['BAD_FINGERPRINT', 'fingerprint must be 64 hex digits (SHA-256)'])
    }
  }
  if (policy.insecure) {
    logger.warn(
      `TLS VERIFICATION IS OFF for ${url.host}: anyone on the path can read the XAPI password and control your VMs. ` +
        'Pin the host certificate with `fingerprint` or give its CA with `ca` instead of `insecure: true`.',
      { host: url.host },
    )
  }
}

/**
 * An HTTPS agent that verifies the server before the socket is handed to
 * the request. Verifying in `createConnection`'s callback (rather than on
 * the request's `secureConnect`) guarantees no request byte — the login
 * carries the password — is written to an unverified peer.
 */
export class VerifyingAgent extends https.Agent {
  readonly #policy: TlsPolicy
  readonly #pins: ReadonlySet<string>

  /**
   * @param policy - what to trust
   * @param options - agent options (keep-alive, socket caps)
   */
  constructor(policy: TlsPolicy, options: https.AgentOptions = {}) {
    // Session resumption could skip the certificate on later handshakes.
    super({ ...options, maxCachedSessions: 0 })
    this.#policy = policy
    this.#pins = new Set((policy.fingerprints ?? []).map((f) => normalizeFingerprint(f) ?? ''))
  }

  override createConnection(
    args: http.ClientRequestArgs,
    callback?: (error: Error | null, socket: Duplex) => void,
  ): Duplex | undefined {
    const options = args as tls.ConnectionOptions & { host?: string; servername?: string }
    const host = options.host ?? 'localhost'
    const servername = this.#policy.servername ?? options.servername ?? (isIp(host) ? undefined : host)
    const socket = tls.connect({
      ...options,
      ...(this.#policy.ca ? { ca: this.#policy.ca } : {}),
      ...(servername ? { servername } : {}),
      rejectUnauthorized: false,
    })
    // The agent waits for the callback before it writes the request.
    const fail = (error: Error) => callback?.(error, undefined as unknown as Duplex)
    const onError = (error: Error) => {
      socket.destroy()
      fail(error)
    }
    socket.once('error', onError)
    socket.once('secureConnect', () => {
      socket.removeListener('error', onError)
      const problem = this.#verify(socket, this.#policy.servername ?? host)
      if (problem) {
        socket.destroy()
        fail(problem)
      } else {
        callback?.(null, socket)
      }
    })
    return undefined
  }

  #verify(socket: tls.TLSSocket, name: string): XapiError | undefined {
    if (this.#policy.insecure) return undefined
    const cert = socket.getPeerCertificate(true)
    const fingerprint = cert?.fingerprint256 ?? 'unknown'
    if (this.#pins.size > 0) {
      if (this.#pins.has(fingerprint)) return undefined
      return tlsError(
        'FINGERPRINT_MISMATCH',
        `the certificate of ${name} has SHA-256 fingerprint ${fingerprint}, which is not pinned; ` +
          'if the host certificate was renewed on purpose, update `fingerprint`',
        fingerprint,
      )
    }
    const code = socket.authorized ? undefined : String(socket.authorizationError ?? 'UNVERIFIED')
    // Node runs its own host name check even with rejectUnauthorized off.
    const mismatch =
      code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? new Error(code) : code ? undefined : tls.checkServerIdentity(name, cert)
    if (code && !mismatch) {
      return tlsError(
        code,
        `the certificate of ${name} is not trusted (${code}); XCP-ng hosts use self-signed certificates: ` +
          `pin it with fingerprint="${fingerprint}" after checking it on the host ` +
          '(`openssl x509 -noout -fingerprint -sha256 -in /etc/xensource/xapi-ssl.pem`), or give its CA with `ca`',
        fingerprint,
      )
    }
    if (mismatch) {
      return tlsError(
        'HOSTNAME_MISMATCH',
        `the certificate is not valid for ${name} (its names: ${cert.subjectaltname ?? cert.subject?.CN ?? 'none'}); ` +
          `connect by a name in the certificate or pin its fingerprint ${fingerprint}`,
        fingerprint,
      )
    }
    return undefined
  }
}

function tlsError(code: string, message: string, fingerprint: string): XapiError {
  return new XapiError('TLS_ERROR', [code, fingerprint], `XAPI TLS check failed: ${message}`)
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':')
}
