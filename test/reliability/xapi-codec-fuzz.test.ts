import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { VMTimeoutError, XapiError } from '@bioxen-luavm/core'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { XapiTransport } from '../../packages/backend-xcpng/src/xapi/client.js'
import {
  decodeTaskResult,
  deserializeResponse,
  int,
  parseXapiDate,
  str,
  strList,
  strMap,
  unwrapEnvelope,
} from '../../packages/backend-xcpng/src/xapi/codec.js'
import { within } from './support/watchdog.js'

// Fuzzing backend-xcpng's XAPI codec (xapi/codec.ts) and the transport that
// uses it: malformed XML-RPC documents, values and envelopes — what a
// broken proxy, a truncated response or a hostile host could send. Every
// outcome must be a value or a typed error (XapiError, or VMTimeoutError
// for a reply that never ends), settled in bounded time; nothing may crash
// the process (an uncaught exception or unhandled rejection fails vitest).

/** XML-RPC values, well-formed, nested. */
const xmlValue: fc.Arbitrary<string> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    fc.string({ maxLength: 12 }).map((s) => `<value><string>${escapeXml(s)}</string></value>`),
    fc.string({ maxLength: 12 }).map((s) => `<value>${escapeXml(s)}</value>`),
    fc.integer().map((n) => `<value><int>${n}</int></value>`),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n) => `<value><i8>${n}</i8></value>`),
    fc.boolean().map((b) => `<value><boolean>${b ? 1 : 0}</boolean></value>`),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => `<value><double>${d}</double></value>`),
    fc
      .constantFrom('20260821T10:00:00Z', '20260821T10:00:00', '2026-08-21T10:00:00.250Z')
      .map((d) => `<value><dateTime.iso8601>${d}</dateTime.iso8601></value>`),
    fc.uint8Array({ maxLength: 8 }).map((b) => `<value><base64>${Buffer.from(b).toString('base64')}</base64></value>`),
    fc.constant('<value><nil/></value>'),
    fc
      .array(tie('value') as fc.Arbitrary<string>, { maxLength: 3 })
      .map((vs) => `<value><array><data>${vs.join('')}</data></array></value>`),
    fc
      .array(fc.tuple(fc.string({ maxLength: 6 }), tie('value') as fc.Arbitrary<string>), { maxLength: 3 })
      .map(
        (ms) =>
          `<value><struct>${ms.map(([k, v]) => `<member><name>${escapeXml(k)}</name>${v}</member>`).join('')}</struct></value>`,
      ),
  ),
})).value

function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
}

/** A well-formed XAPI response: the `{Status, Value | ErrorDescription}` envelope. */
const envelope = fc.oneof(
  xmlValue.map(
    (v) =>
      `<struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>${v}</member></struct>`,
  ),
  fc
    .array(fc.string({ maxLength: 10 }), { maxLength: 3 })
    .map(
      (desc) =>
        `<struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data>${desc.map((d) => `<value>${escapeXml(d)}</value>`).join('')}</data></array></value></member></struct>`,
    ),
  xmlValue.map((v) => v.replace(/^<value>|<\/value>$/g, '')),
)

const response = envelope.map(
  (body) =>
    `<?xml version="1.0"?><methodResponse><params><param><value>${body}</value></param></params></methodResponse>`,
)

/** A response damaged the ways a wire or a host damages it. */
const damaged = fc
  .tuple(response, fc.nat(), fc.nat(), fc.nat({ max: 8 }), fc.string({ maxLength: 12 }))
  .map(([xml, a, b, how, junk]) => {
    const i = a % (xml.length + 1)
    const j = b % (xml.length + 1)
    switch (how) {
      case 0:
        return xml.slice(0, i) // truncated
      case 1:
        return xml.slice(0, Math.min(i, j)) + xml.slice(Math.max(i, j)) // a range lost
      case 2:
        return xml.slice(0, i) + junk + xml.slice(i) // junk inserted
      case 3:
        return xml.replace(/<(\/?)(int|i8|double|boolean|dateTime\.iso8601|struct|array|string)>/, '<$1bogus>')
      case 4:
        return xml.replace(/<boolean>[01]<\/boolean>|<int>-?\d+<\/int>|<double>[^<]*<\/double>/, '<int>12x</int>')
      case 5:
        return xml.replace('methodResponse', 'methodCall')
      case 6:
        return `<?xml version="1.0"?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member><member><name>faultString</name><value>${escapeXml(junk)}</value></member></struct></value></fault></methodResponse>`
      case 7:
        return xml.replace('<params>', '<params><param><value>extra</value></param>') // two params
      default:
        return xml.replace(/<dateTime\.iso8601>[^<]*</, `<dateTime.iso8601>${escapeXml(junk)}<`)
    }
  })

const anyResponse = fc.oneof(
  { arbitrary: response, weight: 1 },
  { arbitrary: damaged, weight: 4 },
  { arbitrary: fc.string({ maxLength: 200 }), weight: 1 },
  { arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')), weight: 1 },
)

/**
 * Values the XML-RPC deserializer can produce: strings, numbers, booleans,
 * null, Dates, Buffers, arrays and plain objects with any member names.
 * (`strMap` is checked with ordinary member names; names such as "toString"
 * hit the known bug below.)
 */
const decoded: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    fc.string({ maxLength: 10 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.date({ noInvalidDate: true }),
    fc.uint8Array({ maxLength: 4 }).map((b) => Buffer.from(b)),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie('v'), { maxKeys: 3, noNullPrototype: true }),
  ),
})).v

// The SDK's pseudo-codes by name; XAPI failure codes (random here) as one bucket.
const label = (e: XapiError) =>
  ['PROTOCOL_ERROR', 'HTTP_ERROR', 'TRANSPORT_ERROR', 'TLS_ERROR'].includes(e.xapiCode) ? e.xapiCode : 'API failure'

/** Deserializes and unwraps like the transport does; returns the value or the error. */
async function decode(xml: string, chunks = 1): Promise<unknown> {
  const size = Math.max(1, Math.ceil(xml.length / chunks))
  const parts = Array.from({ length: Math.ceil(xml.length / size) }, (_, k) => xml.slice(k * size, (k + 1) * size))
  const raw = await within(deserializeResponse(Readable.from(parts)), 2, 'deserializeResponse')
  return unwrapEnvelope('fuzz.call', raw)
}

describe('XAPI codec fed malformed XML-RPC', () => {
  it('deserialize + unwrap: a value, an Error from the XML layer or an XapiError — always settled, never thrown synchronously', async () => {
    const seen: Record<string, number> = {}
    await fc.assert(
      fc.asyncProperty(anyResponse, fc.integer({ min: 1, max: 5 }), async (xml, chunks) => {
        let outcome: string
        try {
          await decode(xml, chunks)
          outcome = 'value'
        } catch (error) {
          // deserializeResponse rejects with xmlrpc's plain Errors (the transport maps them, see below);
          // unwrapEnvelope and the date reader throw XapiError.
          expect(error).toBeInstanceOf(Error)
          expect((error as Error).message).not.toMatch(/watchdog/)
          outcome = error instanceof XapiError ? `XapiError ${label(error)}` : 'Error'
        }
        seen[outcome] = (seen[outcome] ?? 0) + 1
      }),
      { seed: 41, numRuns: 600 },
    )
    console.log('codec outcomes', seen)
    expect(seen.value ?? 0).toBeGreaterThan(10)
    expect(Object.keys(seen).some((k) => k.startsWith('XapiError'))).toBe(true)
  })

  it('envelopes: unwrapEnvelope returns Value on Success and throws XapiError for anything else', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBoxedValues: true }), (value) => {
        try {
          unwrapEnvelope('fuzz.call', value)
          expect((value as { Status?: unknown }).Status).toBe('Success')
        } catch (error) {
          expect(error).toBeInstanceOf(XapiError)
        }
      }),
      { seed: 42, numRuns: 500 },
    )
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (status, extra) => {
        try {
          unwrapEnvelope('fuzz.call', { Status: status, Value: extra, ErrorDescription: extra })
          expect(status).toBe('Success')
        } catch (error) {
          expect(error).toBeInstanceOf(XapiError)
        }
      }),
      { seed: 43, numRuns: 500 },
    )
  })

  it('field readers (int, str, strMap, strList, dates): the value or an XapiError', () => {
    fc.assert(
      fc.property(decoded, (v) => {
        for (const read of [int, str, strList]) {
          try {
            read(v)
          } catch (error) {
            expect(error).toBeInstanceOf(XapiError)
          }
        }
      }),
      { seed: 44, numRuns: 500 },
    )
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (s) => {
        try {
          expect(Number.isNaN(parseXapiDate(s).getTime())).toBe(false)
        } catch (error) {
          expect(error).toBeInstanceOf(XapiError)
        }
      }),
      { seed: 45, numRuns: 500 },
    )
  })

  it('strMap on what the deserializer produces from well-behaved hosts: a map or an XapiError', () => {
    fc.assert(
      fc.property(decoded, (v) => {
        try {
          strMap(v)
        } catch (error) {
          expect(error).toBeInstanceOf(XapiError)
        }
      }),
      { seed: 48, numRuns: 500 },
    )
  })

  // A member struct named "toString" (or "valueOf") — which any host can
  // send — must be a PROTOCOL_ERROR, not a TypeError from String().
  it('strMap/strList reject a member struct named toString with an XapiError', () => {
    expect(() => strMap({ k: { toString: false } })).toThrow(XapiError)
    expect(() => strList([{ toString: false }])).toThrow(XapiError)
    expect(strMap({ a: 'x', b: 2, c: true })).toEqual({ a: 'x', b: '2', c: 'true' })
  })

  it('task results: a value or an XapiError, never a hang', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(xmlValue, damaged, fc.string({ maxLength: 60 })), async (fragment) => {
        try {
          await within(decodeTaskResult(fragment), 2, 'decodeTaskResult')
        } catch (error) {
          expect(error).toBeInstanceOf(XapiError)
        }
      }),
      { seed: 46, numRuns: 400 },
    )
  })
})

// ---- through the transport --------------------------------------------------------------

describe('XapiTransport against a host that answers garbage', () => {
  // One local HTTP server, started and stopped here; each request gets the body queued for it.
  let server: Server
  let url: string
  let next: { status: number; body: string; hang?: boolean } = { status: 200, body: '' }

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        const { status, body, hang } = next
        if (hang) {
          // Headers and half a body, then silence: the call's deadline must end it.
          res.writeHead(200, { 'content-type': 'text/xml' })
          res.write(body.slice(0, body.length >> 1))
          return
        }
        res.writeHead(status, { 'content-type': 'text/xml' })
        res.end(body)
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  })

  afterAll(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('every call resolves with a value or rejects with XapiError / VMTimeoutError', async () => {
    const transport = new XapiTransport({ url, tls: { insecure: true }, callTimeoutMs: 150, maxSockets: 4 })
    const seen: Record<string, number> = {}
    try {
      await fc.assert(
        fc.asyncProperty(
          anyResponse,
          fc.constantFrom(200, 200, 200, 500, 302, 404),
          fc.boolean(),
          async (body, status, hang) => {
            next = { status, body, hang: hang && status === 200 && body.length > 10 }
            let outcome: string
            try {
              await within(transport.call('VM.get_record', ['OpaqueRef:x']), 5, 'an XAPI call')
              outcome = 'value'
            } catch (error) {
              if (error instanceof VMTimeoutError) outcome = 'VMTimeoutError'
              else {
                expect(error).toBeInstanceOf(XapiError)
                outcome = `XapiError ${label(error as XapiError)}`
              }
            }
            seen[outcome] = (seen[outcome] ?? 0) + 1
          },
        ),
        { seed: 47, numRuns: 120 },
      )
    } finally {
      transport.close()
    }
    console.log('transport outcomes', seen)
    expect(seen.VMTimeoutError ?? 0).toBeGreaterThan(0)
    expect(seen['XapiError PROTOCOL_ERROR'] ?? 0).toBeGreaterThan(0)
    expect(seen['XapiError HTTP_ERROR'] ?? 0).toBeGreaterThan(0)
  }, 120_000)
})
