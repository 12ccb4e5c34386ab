import { Readable } from 'node:stream'
import { XapiError } from '@bioxen-luavm/core'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  decodeTaskResult,
  deserializeResponse,
  double,
  encodeParams,
  formatXapiDate,
  int,
  parseXapiDate,
  serializeCall,
  strMap,
  unwrapEnvelope,
  XapiDouble,
} from '../src/xapi/codec.js'

describe('encodeParams', () => {
  it('sends integers as decimal strings, even past 2^31 (XAPI reads int64 from strings)', () => {
    expect(encodeParams([1, 4294967296, -5])).toEqual(['1', '4294967296', '-5'])
  })
  it('sends floats as <double>, also integral ones', () => {
    const [a, b] = encodeParams([0.5, double(60)]) as XapiDouble[]
    expect(a).toBeInstanceOf(XapiDouble)
    expect(a?.raw).toBe('0.5')
    expect(b?.raw).toBe('60.0')
    expect(serializeCall('event.from', [['vm'], '', double(30)])).toContain('<double>30.0</double>')
  })
  it('encodes structs and arrays recursively and drops undefined members', () => {
    expect(encodeParams([{ MTU: 1500, a: ['x', 2], skip: undefined as never, ok: true }])).toEqual([
      { MTU: '1500', a: ['x', '2'], ok: true },
    ])
  })
  it.each([null, Number.NaN, Number.POSITIVE_INFINITY, new Date(0)])(
    'refuses %s: an SDK bug, not something to send',
    (v) => {
      expect(() => encodeParams([v as never])).toThrow(TypeError)
    },
  )
  it('never emits <int> (xmlrpc would, past the int32 range)', () => {
    const xml = serializeCall('VM.set_memory_limits', ['OpaqueRef:x', 1, 2 ** 40, 3, 4])
    expect(xml).not.toMatch(/<int>|<i4>/)
    expect(xml).toContain('<string>1099511627776</string>')
  })
})

describe('XAPI dates', () => {
  it.each([
    ['20260821T10:00:00Z', Date.UTC(2026, 7, 21, 10, 0, 0)],
    ['20260821T10:00:00', Date.UTC(2026, 7, 21, 10, 0, 0)],
    ['20260821T12:00:00+02:00', Date.UTC(2026, 7, 21, 10, 0, 0)],
    ['2026-08-21T10:00:00.250Z', Date.UTC(2026, 7, 21, 10, 0, 0, 250)],
  ])('parses %s (no zone means UTC)', (text, ms) => {
    expect(parseXapiDate(text).getTime()).toBe(ms)
  })
  it('formats without hyphens, and round-trips', () => {
    const d = new Date(Date.UTC(2024, 0, 1, 13, 20, 11))
    expect(formatXapiDate(d)).toBe('20240101T13:20:11Z')
    expect(parseXapiDate(formatXapiDate(d)).getTime()).toBe(d.getTime())
  })
  it('reads zone-less dates in responses as UTC, whatever the local zone', async () => {
    const tz = process.env.TZ
    process.env.TZ = 'America/New_York'
    onTestFinished(() => {
      if (tz === undefined) delete process.env.TZ
      else process.env.TZ = tz
    })
    expect(new Date(2024, 0, 1).getTimezoneOffset()).not.toBe(0)
    const xml =
      '<?xml version="1.0"?><methodResponse><params><param><value><dateTime.iso8601>20240101T13:20:11</dateTime.iso8601></value></param></params></methodResponse>'
    const d = (await deserializeResponse(Readable.from([xml]))) as Date
    expect(d.toISOString()).toBe('2024-01-01T13:20:11.000Z')
  })
  it('rejects junk', () => {
    expect(() => parseXapiDate('yesterday')).toThrow(XapiError)
  })
})

describe('envelopes', () => {
  it('returns Value on Success', () => {
    expect(unwrapEnvelope('m', { Status: 'Success', Value: 'OpaqueRef:1' })).toBe('OpaqueRef:1')
    expect(unwrapEnvelope('m', { Status: 'Success', Value: '' })).toBe('')
  })
  it('raises XapiError(code, params) with a hint on Failure', () => {
    try {
      unwrapEnvelope('VM.start', {
        Status: 'Failure',
        ErrorDescription: ['HOST_NOT_ENOUGH_FREE_MEMORY', '4294967296', '1024'],
      })
      expect.unreachable()
    } catch (error) {
      const e = error as XapiError
      expect(e).toBeInstanceOf(XapiError)
      expect(e.xapiCode).toBe('HOST_NOT_ENOUGH_FREE_MEMORY')
      expect(e.params).toEqual(['4294967296', '1024'])
      expect(e.code).toBe('E_XAPI')
      expect(e.message).toMatch(/VM\.start.*lower vm_memory/)
    }
  })
  it('treats a missing Status or a fault as a protocol error, not an API error', () => {
    expect(() => unwrapEnvelope('m', { faultCode: 1 })).toThrow(/PROTOCOL_ERROR|no Status/)
    expect(() => unwrapEnvelope('m', 'x')).toThrow(XapiError)
  })
})

describe('task results', () => {
  it('decodes the value fragment of a finished task', async () => {
    expect(await decodeTaskResult('<value>OpaqueRef:abc</value>')).toBe('OpaqueRef:abc')
    expect(await decodeTaskResult('<value></value>')).toBe('')
    expect(await decodeTaskResult('')).toBe('')
    expect(await decodeTaskResult('<value><array><data><value>a</value></data></array></value>')).toEqual(['a'])
  })
  it('turns a broken fragment into PROTOCOL_ERROR', async () => {
    await expect(decodeTaskResult('<value><int>many</int></value>')).rejects.toBeInstanceOf(XapiError)
  })
})

describe('field readers', () => {
  it('reads int64 strings', () => {
    expect(int('4294967296')).toBe(4294967296)
    expect(() => int('12abc')).toThrow(XapiError)
    expect(() => int('99999999999999999999')).toThrow(XapiError)
  })
  it('reads maps', () => {
    expect(strMap({ a: 'b' })).toEqual({ a: 'b' })
    expect(() => strMap(['x'])).toThrow(XapiError)
  })
})
