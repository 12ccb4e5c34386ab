/**
 * The XAPI client against the simulator: TLS verification (default,
 * pinned fingerprint, CA, insecure), sessions (paired logout, re-login,
 * HOST_IS_SLAVE), per-call deadlines and AbortSignal, HTTP errors.
 */
import { createLogger, type LogRecord, VMTimeoutError, XapiError } from '@bioxen-luavm/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { XapiTransport } from '../../packages/backend-xcpng/src/xapi/client.js'
import { XapiSession } from '../../packages/backend-xcpng/src/xapi/session.js'
import { generate as generateCertificate } from './cert.js'
import { SIM_PASSWORD, startSim } from './fixture.js'
import type { XapiSim } from './server.js'

let sim: XapiSim
beforeAll(async () => {
  sim = await startSim()
})
afterAll(async () => {
  await sim.close()
})

const open = (tls: ConstructorParameters<typeof XapiTransport>[0]['tls'], extra: Record<string, unknown> = {}) =>
  XapiSession.open({ url: sim.url, username: 'root', password: SIM_PASSWORD, tls, ...extra })

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  )
}

describe('TLS', () => {
  it('refuses the self-signed certificate by default and prints its fingerprint to pin, before sending the password', async () => {
    const before = sim.calls.length
    const error = await rejection(open({}))
    expect(error).toBeInstanceOf(XapiError)
    expect((error as XapiError).xapiCode).toBe('TLS_ERROR')
    expect((error as Error).message).toContain(sim.fingerprint)
    expect((error as Error).message).toMatch(/fingerprint=/)
    // Nothing reached the server: the login never left the client.
    expect(sim.calls.length).toBe(before)
  })

  it('accepts a pinned fingerprint (any spelling) and refuses another one', async () => {
    const hex = sim.fingerprint.replace(/:/g, '').toLowerCase()
    const ok = await open({ fingerprints: [hex] })
    await ok.logout()
    const other = await generateCertificate(['IP:127.0.0.1'])
    const error = await rejection(open({ fingerprints: [other.fingerprint] }))
    expect((error as XapiError).params[0]).toBe('FINGERPRINT_MISMATCH')
  })

  it('accepts the certificate given as CA, and checks the host name against it', async () => {
    const ok = await open({ ca: sim.certPem })
    await ok.logout()
    const rogue = await generateCertificate(['DNS:xcp-other.example'])
    const other = await startSim({ cert: rogue })
    try {
      const error = await rejection(
        XapiSession.open({ url: other.url, username: 'root', password: SIM_PASSWORD, tls: { ca: rogue.cert } }),
      )
      expect((error as XapiError).params[0]).toBe('HOSTNAME_MISMATCH')
      expect(other.calls).toEqual([])
    } finally {
      await other.close()
    }
  })

  it('insecure: true works and warns loudly', async () => {
    const logs: LogRecord[] = []
    const logger = createLogger('t', { level: 'warn', sink: (r) => logs.push(r) })
    const s = await open({ insecure: true }, { logger })
    await s.logout()
    expect(logs.some((l) => l.level === 'warn' && /TLS VERIFICATION IS OFF/.test(l.message))).toBe(true)
  })

  it('refuses plain HTTP unless insecure', () => {
    expect(() => new XapiTransport({ url: 'http://127.0.0.1:1/' })).toThrow(/clear text/)
  })
})

describe('sessions', () => {
  it('logs out what it logged in, and keeps the password out of logs', async () => {
    const logs: LogRecord[] = []
    const logger = createLogger('t', { level: 'debug', sink: (r) => logs.push(r) })
    const s = await open({ fingerprints: [sim.fingerprint] }, { logger })
    expect(sim.sessions()).toHaveLength(1)
    await s.call('pool.get_all')
    await s.logout()
    await s.logout()
    expect(sim.sessions()).toEqual([])
    expect(JSON.stringify(logs)).not.toContain(SIM_PASSWORD)
    expect(JSON.stringify(s)).not.toContain(SIM_PASSWORD)
    const error = await rejection(s.call('pool.get_all'))
    expect((error as XapiError).xapiCode).toBe('SESSION_CLOSED')
  })

  it('logs in again once on SESSION_INVALID', async () => {
    const s = await open({ fingerprints: [sim.fingerprint] })
    sim.expireSession(sim.sessions()[0] as string)
    expect(await s.call('pool.get_all')).toEqual([sim.seeded.pool])
    expect(sim.sessions()).toHaveLength(1)
    await s.logout()
    expect(sim.sessions()).toEqual([])
  })

  it('follows HOST_IS_SLAVE to the pool master at login and on calls', async () => {
    // The master on 127.0.0.2 and a member on 127.0.0.1, same port.
    const master = await startSim({ host: '127.0.0.2' })
    const member = await startSim({ host: '127.0.0.1', port: master.port, slaveOf: '127.0.0.2' })
    try {
      const s = await XapiSession.open({
        url: member.url,
        username: 'root',
        password: SIM_PASSWORD,
        tls: { fingerprints: [master.fingerprint] },
      })
      expect(new URL(s.url).hostname).toBe('127.0.0.2')
      expect(await s.call('pool.get_all')).toEqual([master.seeded.pool])
      await s.logout()
      expect(member.calls).toEqual(['session.login_with_password'])
      expect(master.sessions()).toEqual([])
    } finally {
      await member.close()
      await master.close()
    }
  })

  it('a redirect to a master that does not answer is a TRANSPORT_ERROR', async () => {
    const member = await startSim({ slaveOf: '127.0.0.3' })
    try {
      const error = await rejection(
        XapiSession.open({
          url: member.url,
          username: 'root',
          password: SIM_PASSWORD,
          tls: { fingerprints: [member.fingerprint] },
        }),
      )
      expect((error as XapiError).xapiCode).toBe('TRANSPORT_ERROR')
    } finally {
      await member.close()
    }
  })
})

describe('calls', () => {
  it('a hung call ends at its deadline with VMTimeoutError', async () => {
    const s = await open({ fingerprints: [sim.fingerprint] })
    try {
      sim.inject('pool.get_all', { kind: 'hang' })
      const error = await rejection(s.call('pool.get_all', [], { timeoutMs: 200 }))
      expect(error).toBeInstanceOf(VMTimeoutError)
    } finally {
      await s.logout()
    }
  })

  it('an AbortSignal ends a call with its reason', async () => {
    const s = await open({ fingerprints: [sim.fingerprint] })
    try {
      sim.inject('pool.get_all', { kind: 'hang' })
      const controller = new AbortController()
      const pending = rejection(s.call('pool.get_all', [], { signal: controller.signal }))
      setTimeout(() => controller.abort(new Error('stop now')), 50)
      expect(((await pending) as Error).message).toBe('stop now')
    } finally {
      await s.logout()
    }
  })

  it('HTTP 500 pages become HTTP_ERROR with the visible text', async () => {
    const s = await open({ fingerprints: [sim.fingerprint] })
    try {
      sim.inject('pool.get_all', { kind: 'http500' })
      const error = await rejection(s.call('pool.get_all'))
      expect((error as XapiError).xapiCode).toBe('HTTP_ERROR')
      expect((error as XapiError).params[0]).toBe('500')
      expect((error as Error).message).toMatch(/internal server error/)
    } finally {
      await s.logout()
    }
  })

  it('XAPI failures become XapiError with code and params', async () => {
    const s = await open({ fingerprints: [sim.fingerprint] })
    try {
      const error = await rejection(s.call('VM.get_record', ['OpaqueRef:nope']))
      expect(error).toBeInstanceOf(XapiError)
      expect((error as XapiError).xapiCode).toBe('HANDLE_INVALID')
      expect((error as XapiError).params).toEqual(['VM', 'OpaqueRef:nope'])
      expect((error as XapiError)._tag).toBe('XapiError')
    } finally {
      await s.logout()
    }
  })

  it('dates are read as UTC', async () => {
    const s = await open({ fingerprints: [sim.fingerprint] })
    try {
      const gm = (await s.call('VM.get_guest_metrics', [sim.seeded.existingVm])) as string
      const updated = (await s.call('VM_guest_metrics.get_last_updated', [gm])) as Date
      expect(updated).toBeInstanceOf(Date)
      expect(Math.abs(updated.getTime() - Date.now())).toBeLessThan(24 * 3600_000)
    } finally {
      await s.logout()
    }
  })
})
