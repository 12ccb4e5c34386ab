import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ProtocolError } from '../src/errors/index.js'
import { encodeFrame, type Frame, FrameDecoder } from '../src/protocol/frame-codec.js'

const enc = new TextEncoder()

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0)
  const out = new Uint8Array(total)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

// Cuts `bytes` at the given (sorted, deduplicated) offsets.
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let prev = 0
  for (const p of points) {
    out.push(bytes.subarray(prev, p))
    prev = p
  }
  out.push(bytes.subarray(prev))
  return out
}

const frameArb = fc.record({
  type: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
  payload: fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    // Payloads that look like headers or hold newlines must not confuse framing.
    fc.constantFrom(enc.encode('D 5\n'), enc.encode('\n\n'), new Uint8Array([0, 10, 0])),
    fc.uint8Array({ minLength: 200, maxLength: 3000 }),
  ),
})

function decodeAll(chunks: Uint8Array[], decoder = new FrameDecoder()): Frame[] {
  const frames: Frame[] = []
  for (const c of chunks) frames.push(...decoder.push(c))
  decoder.end()
  return frames
}

describe('encodeFrame', () => {
  it('writes the ASCII header and payload into one buffer', () => {
    expect(new TextDecoder().decode(encodeFrame('X', 'héllo'))).toBe('X 6\nhéllo')
    expect(encodeFrame('Q', '')).toEqual(enc.encode('Q 0\n'))
  })

  it('rejects a type that is not one printable ASCII character', () => {
    for (const t of ['', 'XY', ' ', '\n', 'é']) {
      expect(() => encodeFrame(t, '')).toThrow(ProtocolError)
    }
  })
})

describe('FrameDecoder (property-based)', () => {
  it('never loses, merges or alters a frame, however the stream is split', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
        const stream = concat(frames.map((f) => encodeFrame(f.type, f.payload)))
        const decoded = decodeAll(split(stream, cuts))
        expect(decoded.length).toBe(frames.length)
        decoded.forEach((d, i) => {
          expect(d.type).toBe(frames[i]?.type)
          expect(d.payload).toEqual(frames[i]?.payload)
        })
      }),
      { numRuns: 300 },
    )
  })

  it('delivers the same frames when fed one byte at a time', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 4 }), (frames) => {
        const stream = concat(frames.map((f) => encodeFrame(f.type, f.payload)))
        const chunks = Array.from(stream, (b) => new Uint8Array([b]))
        const decoded = decodeAll(chunks)
        expect(decoded.map((d) => [d.type, Array.from(d.payload)])).toEqual(
          frames.map((f) => [f.type, Array.from(f.payload)]),
        )
      }),
      { numRuns: 50 },
    )
  })

  it('payloads stay valid after the caller reuses its chunk buffer', () => {
    const stream = encodeFrame('1', 'abc')
    const chunk = new Uint8Array(stream)
    const decoder = new FrameDecoder()
    const [frame] = decoder.push(chunk)
    chunk.fill(0)
    expect(new TextDecoder().decode(frame?.payload)).toBe('abc')
  })

  it('a stream truncated inside a frame fails at end() with a ProtocolError', () => {
    fc.assert(
      fc.property(frameArb, fc.nat(), (frame, cut) => {
        const bytes = encodeFrame(frame.type, frame.payload)
        const at = 1 + (cut % (bytes.length - 1)) // strictly inside the frame
        const decoder = new FrameDecoder()
        expect(decoder.push(bytes.subarray(0, at))).toEqual([])
        expect(() => decoder.end()).toThrow(ProtocolError)
      }),
      { numRuns: 200 },
    )
  })

  it('malformed headers throw a ProtocolError and the decoder stays failed', () => {
    const bad = ['X5\n', 'X  5\n', 'X -1\n', 'X 05\n', 'X 5x\n', ' 5\n', '\n', 'XY 1\n', 'X \n', 'X 1.5\n']
    for (const header of bad) {
      const decoder = new FrameDecoder()
      expect(() => decoder.push(enc.encode(header)), header).toThrow(ProtocolError)
      expect(() => decoder.push(encodeFrame('D', '{}'))).toThrow(ProtocolError)
      expect(() => decoder.end()).toThrow(ProtocolError)
    }
  })

  it('random garbage either decodes or throws a ProtocolError, and never hangs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (garbage) => {
        const decoder = new FrameDecoder({ maxFrameBytes: 1024 })
        try {
          decoder.push(garbage)
          decoder.end()
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError)
        }
      }),
      { numRuns: 500 },
    )
  })

  it('a header without a newline fails once it cannot be valid any more', () => {
    const decoder = new FrameDecoder()
    expect(() => decoder.push(enc.encode('X 12345678901234567890'))).toThrow(/too long/)
  })

  it('an oversized frame fails before its payload is buffered', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 10 })
    expect(decoder.push(encodeFrame('1', '0123456789'))).toHaveLength(1)
    expect(() => decoder.push(enc.encode('1 11\n'))).toThrow(/exceeds the limit/)
  })

  it('is idle only between frames', () => {
    const decoder = new FrameDecoder()
    expect(decoder.idle).toBe(true)
    decoder.push(enc.encode('1 3\nab'))
    expect(decoder.idle).toBe(false)
    decoder.push(enc.encode('c'))
    expect(decoder.idle).toBe(true)
  })
})
