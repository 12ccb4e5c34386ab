/**
 * The simulator's replies checked byte for byte against the XAPI examples
 * in xapi-notes.md (§1.2 value encoding, §1.3 envelopes, §2.8 task
 * results, §2.9 tokens, §1.1 malformed requests), and the client's
 * requests checked for what XAPI's parser needs (§1.2, §3.2).
 */
import https from 'node:https'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { double } from '../../packages/backend-xcpng/src/xapi/codec.js'
import { XapiSession } from '../../packages/backend-xcpng/src/xapi/session.js'
import { SIM_PASSWORD, startSim } from './fixture.js'
import type { XapiSim } from './server.js'
import { encodeFailure, encodeSuccess, encodeValue, f64, I32, i64, parseMethodCall } from './wire.js'

const REF = 'OpaqueRef:0b9d3b0e-4c47-4c2b-9f4e-2f0f6a3d7c11'

describe('value encoding (xapi-notes §1.2)', () => {
  it.each([
    ['string', 'text', '<value>text</value>'],
    ['empty string', '', '<value></value>'],
    ['int64 (untyped text)', i64(4294967296), '<value>4294967296</value>'],
    ['int32', new I32(3), '<value><i4>3</i4></value>'],
    ['bool', true, '<value><boolean>1</boolean></value>'],
    ['float', f64(0.5), '<value><double>0.5</double></value>'],
    ['float %.16g', f64(1 / 3), '<value><double>0.3333333333333333</double></value>'],
    [
      'datetime',
      new Date(Date.UTC(2024, 0, 1, 13, 20, 11)),
      '<value><dateTime.iso8601>20240101T13:20:11Z</dateTime.iso8601></value>',
    ],
    ['empty set', [], '<value><array><data></data></array></value>'],
    ['set', ['a', 'b'], '<value><array><data><value>a</value><value>b</value></data></array></value>'],
    ['map', { k: 'v' }, '<value><struct><member><name>k</name><value>v</value></member></struct></value>'],
    ['null ref', 'OpaqueRef:NULL', '<value>OpaqueRef:NULL</value>'],
    ['escapes & < > " and drops control chars', 'a&b<c>d"e\u0001f\tg', '<value>a&amp;b&lt;c&gt;d&quot;ef\tg</value>'],
  ] as const)('%s', (_name, value, wire) => {
    expect(encodeValue(value as never)).toBe(wire)
  })
})

describe('envelopes (xapi-notes §1.3)', () => {
  it('success is the exact compact document XAPI writes', () => {
    expect(encodeSuccess(REF)).toBe(
      `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value>${REF}</value></member></struct></value></param></params></methodResponse>`,
    )
  })
  it('failure carries ErrorDescription as an array of strings, never a <fault>', () => {
    const xml = encodeFailure(['HANDLE_INVALID', 'VM', REF])
    expect(xml).toBe(
      `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data><value>HANDLE_INVALID</value><value>VM</value><value>${REF}</value></data></array></value></member></struct></value></param></params></methodResponse>`,
    )
    expect(xml).not.toContain('<fault>')
  })
  it('void is an empty value', () => {
    expect(encodeSuccess('')).toContain('<member><name>Value</name><value></value></member>')
  })
})

describe('on the wire', () => {
  let sim: XapiSim
  beforeAll(async () => {
    sim = await startSim()
  })
  afterAll(async () => {
    await sim.close()
  })

  function post(body: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: sim.port,
          path: '/',
          method: 'POST',
          ca: sim.certPem,
          headers: { 'content-type': 'text/xml' },
        },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (c: string) => {
            text += c
          })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
        },
      )
      req.on('error', reject)
      req.end(body)
    })
  }

  const call = (method: string, ...params: string[]) =>
    `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params.map((p) => `<param>${p}</param>`).join('')}</params></methodCall>`

  it('answers a login with the exact success envelope, as text/xml', async () => {
    const res = await post(
      call('session.login_with_password', '<value>root</value>', `<value><string>${SIM_PASSWORD}</string></value>`),
    )
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('text/xml')
    const ref = /<name>Value<\/name><value>(OpaqueRef:[0-9a-f-]+)<\/value>/.exec(res.body)?.[1] as string
    expect(res.body).toBe(encodeSuccess(ref))
    await post(call('session.logout', `<value>${ref}</value>`))
  })

  it('answers a wrong password with SESSION_AUTHENTICATION_FAILED [user, msg], not the password', async () => {
    const res = await post(call('session.login_with_password', '<value>root</value>', '<value>nope</value>'))
    expect(res.body).toBe(encodeFailure(['SESSION_AUTHENTICATION_FAILED', 'root', 'Authentication failure']))
  })

  it('checks the parameter count before the session', async () => {
    const res = await post(call('VM.get_record', '<value>OpaqueRef:bad</value>'))
    expect(res.body).toBe(encodeFailure(['MESSAGE_PARAMETER_COUNT_MISMATCH', 'VM.get_record', '1', '0']))
    const unknown = await post(call('VM.frobnicate', '<value>OpaqueRef:bad</value>'))
    expect(unknown.body).toBe(encodeFailure(['MESSAGE_METHOD_UNKNOWN', 'VM.frobnicate']))
    const invalid = await post(call('VM.get_record', '<value>OpaqueRef:bad</value>', `<value>${REF}</value>`))
    expect(invalid.body).toBe(encodeFailure(['SESSION_INVALID', 'OpaqueRef:bad']))
  })

  it('answers malformed XML with an HTML 500 and connection: close (§1.1)', async () => {
    const res = await post('<methodCall><methodName>x</methodName><params><param><value><i4>not a number')
    expect(res.status).toBe(500)
    expect(res.headers['content-type']).toBe('text/html')
    expect(res.headers.connection).toBe('close')
    expect(res.body).toMatch(/^<html><body><h1>HTTP 500 internal server error<\/h1>/)
  })

  it('serves records with untyped int64, typed bools, task results as value fragments, %020d tokens', async () => {
    const session = await XapiSession.open({
      url: sim.url,
      username: 'root',
      password: SIM_PASSWORD,
      tls: { fingerprints: [sim.fingerprint] },
    })
    try {
      const vm = sim.seeded.template
      const task = (await session.call('Async.VM.clone', [vm, 'wire-clone'])) as string
      await session.call('event.from', [[`task/${task}`], '', double(0)])
      const res = await post(call('VM.get_record', `<value>${sim.sessions()[0]}</value>`, `<value>${vm}</value>`))
      expect(res.body).toContain('<member><name>memory_static_max</name><value>1073741824</value></member>')
      expect(res.body).toContain('<member><name>is_a_template</name><value><boolean>1</boolean></value></member>')
      expect(res.body).toContain('<member><name>guest_metrics</name><value>OpaqueRef:NULL</value></member>')
      // Wait for the task, then look at its raw result field.
      for (let i = 0; i < 100 && (await session.call('task.get_status', [task])) === 'pending'; i++)
        await new Promise((r) => setTimeout(r, 10))
      const result = (await session.call('task.get_result', [task])) as string
      expect(result).toMatch(/^<value>OpaqueRef:[0-9a-f-]+<\/value>$/)
      const ev = (await session.call('event.from', [['vm'], '', double(0)])) as { token: string }
      expect(ev.token).toMatch(/^\d{20},\d{20}$/)
      const raw = await post(
        call(
          'event.from',
          `<value>${sim.sessions()[0]}</value>`,
          '<value><array><data><value>pool</value></data></array></value>',
          '<value></value>',
          '<value><double>0.0</double></value>',
        ),
      )
      expect(raw.body).toContain(
        '<member><name>valid_ref_counts</name><value><struct><member><name>pool</name><value><i4>1</i4></value></member></struct></value></member>',
      )
      await session.call('task.destroy', [task])
      const clone = /<value>(OpaqueRef:[^<]+)<\/value>/.exec(result)?.[1] as string
      const rec = (await session.call('VM.get_record', [clone])) as { VBDs: string[] }
      const disks: string[] = []
      for (const vbd of rec.VBDs) {
        const b = (await session.call('VBD.get_record', [vbd])) as { type: string; VDI: string }
        if (b.type === 'Disk') disks.push(b.VDI)
      }
      await session.call('VM.destroy', [clone])
      for (const d of disks) await session.call('VDI.destroy', [d])
    } finally {
      await session.logout()
    }
    expect(sim.leaks()).toEqual([])
  })

  it('gets int64 as decimal strings, floats as <double> and booleans as <boolean> from the client', async () => {
    const session = await XapiSession.open({
      url: sim.url,
      username: 'root',
      password: SIM_PASSWORD,
      tls: { fingerprints: [sim.fingerprint] },
    })
    try {
      await session
        .call('VM.set_memory_limits', [sim.seeded.existingVm, 536870912, 4294967296, 4294967296, 4294967296])
        .catch(() => {})
      const body = sim.requests.at(-1) as string
      const parsed = parseMethodCall(body)
      expect(parsed.params.slice(2).map((p) => p.type)).toEqual(['string', 'string', 'string', 'string'])
      expect(body).toContain('4294967296')
      expect(body).not.toMatch(/<int>|<i4>|<i8>/)
      sim.knobs.strictFloats = true
      await session.call('event.from', [['pool'], '', double(0)])
      expect(sim.requests.at(-1)).toContain('<double>0.0</double>')
      await session.call('VM.set_is_a_template', [sim.seeded.existingVm, false]).catch(() => {})
      expect(sim.requests.at(-1)).toContain('<boolean>0</boolean>')
    } finally {
      sim.knobs.strictFloats = false
      await session.logout()
    }
  })
})
