/**
 * A throwaway self-signed certificate for the simulator, made with the
 * `openssl` CLI (argv only). It is valid for 127.0.0.1, 127.0.0.2 (the
 * pool-master address in HOST_IS_SLAVE tests) and localhost.
 */
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Key, certificate (PEM) and its SHA-256 fingerprint (`AB:CD:…`). */
export interface SimCertificate {
  key: string
  cert: string
  fingerprint: string
}

let cached: Promise<SimCertificate> | undefined

/** Generates (once per process) the simulator's certificate. */
export function simCertificate(): Promise<SimCertificate> {
  cached ??= generate(['IP:127.0.0.1', 'IP:127.0.0.2', 'DNS:localhost'])
  return cached
}

/** Generates a fresh certificate (e.g. a "rogue" host for pinning tests). */
export async function generate(altNames: readonly string[], cn = 'xapi-sim'): Promise<SimCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'xapi-sim-cert-'))
  try {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      `subjectAltName=${altNames.join(',')}`,
    ])
    const key = await readFile(join(dir, 'key.pem'), 'utf8')
    const cert = await readFile(join(dir, 'cert.pem'), 'utf8')
    return { key, cert, fingerprint: new X509Certificate(cert).fingerprint256 }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
