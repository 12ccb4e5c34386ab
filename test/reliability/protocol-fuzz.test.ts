import { spawn } from 'node:child_process'
import {
  BOOTSTRAP_LUA,
  DriverConnection,
  type DriverExecOutcome,
  encodeBootstrapPayload,
  encodeExec,
  encodeFrame,
  encodeInit,
  type Frame,
  FrameDecoder,
  isLuaVMError,
  ProtocolError,
} from '@bioxen-luavm/core'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { leakScope, luaChildren } from './support/leaks.js'
import { mapLimit } from './support/stats.js'
import { within } from './support/watchdog.js'

// Protocol fuzzing: the byte-level contracts between the host and the Lua
// driver, fed what a broken pipe, a confused peer or a hostile process
// could send. Nothing may hang, crash the host, or fail with anything but a
// typed error.
//
// - FrameDecoder: round trips through arbitrary chunking; truncation is
//   noticed exactly at non-boundaries; random bytes and malformed headers
//   end in a ProtocolError, after which the decoder stays failed.
// - the driver (`lua5.4 -e BOOTSTRAP_LUA`): random, truncated and malformed
//   frames before and after the init — it answers with an `E` frame and
//   exit status 2, or exits 0 at a clean end of input; each case has a
//   deadline after which it is killed (and the case fails).
// - DriverConnection: garbage from a fake transport; every pending request
//   settles, rejections are ProtocolErrors, and the connection stays dead.

const scope = leakScope()
afterAll(() => scope.dispose())

const enc = new TextEncoder()
const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Splits bytes at the given (sorted, deduplicated) cut points. */
function chunked(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let last = 0
  for (const p of points) {
    out.push(bytes.subarray(last, p))
    last = p
  }
  out.push(bytes.subarray(last))
  return out
}

const frameType = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c))
const frameArb = fc.record({ type: frameType, payload: fc.uint8Array({ maxLength: 300 }) })

describe('FrameDecoder', () => {
  it('decodes any sequence of frames however the stream is split', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
        const bytes = concat(frames.map((f) => encodeFrame(f.type, f.payload)))
        const decoder = new FrameDecoder()
        const got: Frame[] = []
        for (const chunk of chunked(bytes, cuts)) got.push(...decoder.push(chunk))
        expect(got.map((f) => [f.type, [...f.payload]])).toEqual(frames.map((f) => [f.type, [...f.payload]]))
        expect(decoder.idle).toBe(true)
        decoder.end()
      }),
      { seed: 11, numRuns: 300 },
    )
  })

  it('notices truncation exactly when the stream ends inside a frame', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.nat(), (frames, cutAt) => {
        const encoded = frames.map((f) => encodeFrame(f.type, f.payload))
        const bytes = concat(encoded)
        const cut = cutAt % (bytes.length + 1)
        const boundaries = new Set([0])
        let at = 0
        for (const e of encoded) {
          at += e.length
          boundaries.add(at)
        }
        const decoder = new FrameDecoder()
        const got = decoder.push(bytes.subarray(0, cut))
        expect(got.length).toBeLessThanOrEqual(frames.length)
        if (boundaries.has(cut)) decoder.end()
        else expect(() => decoder.end()).toThrow(ProtocolError)
      }),
      { seed: 12, numRuns: 300 },
    )
  })

  it('random bytes: frames or a ProtocolError, never anything else; failed decoders stay failed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const decoder = new FrameDecoder({ maxFrameBytes: 1024 })
        let failure: unknown
        for (const chunk of chunked(bytes, cuts)) {
          try {
            for (const f of decoder.push(chunk)) expect(f.payload.length).toBeLessThanOrEqual(1024)
          } catch (error) {
            failure = error
            break
          }
        }
        if (failure !== undefined) {
          expect(failure).toBeInstanceOf(ProtocolError)
          expect(() => decoder.push(new Uint8Array([0x58, 0x20, 0x30, 0x0a]))).toThrow(failure as Error)
          expect(decoder.idle).toBe(false)
        }
      }),
      { seed: 13, numRuns: 500 },
    )
  })

  it('malformed and oversized headers fail before any payload is buffered', () => {
    const headers = fc.oneof(
      fc.constantFrom(
        'X 01',
        'X -1',
        'X +1',
        'X  1',
        'X 1 ',
        'XX 1',
        ' X 1',
        'X1',
        'X ',
        '',
        'X 0x10',
        'X 1e3',
        'X 99999999999999999', // 17 digits: longer than any valid header
        'X 9007199254740993',
        'X 2049',
        '\u007f 1',
        '\u0000 1',
        'é 1',
      ),
      fc.string({ unit: fc.constantFrom('X', ' ', '0', '1', '9', '-', '\t', '\r'), maxLength: 20 }),
    )
    fc.assert(
      fc.property(headers, (header) => {
        const decoder = new FrameDecoder({ maxFrameBytes: 2048 })
        const bytes = enc.encode(`${header}\n`)
        const valid = /^[!-~] (0|[1-9]\d*)$/.test(header) && Number(header.slice(2)) <= 2048
        if (valid) {
          decoder.push(bytes)
        } else {
          expect(() => decoder.push(bytes)).toThrow(ProtocolError)
        }
      }),
      { seed: 14, numRuns: 400 },
    )
  })
})

// ---- the driver process ------------------------------------------------------------

interface DriverRun {
  code: number | null
  signal: NodeJS.Signals | null
  frames: Frame[]
  /** The driver's stdout did not decode as frames (a driver bug). */
  badOutput?: string
  stderr: string
  /** Killed at the deadline: the driver hung. */
  hung: boolean
}

/** Runs `lua5.4 -e BOOTSTRAP_LUA`, writes `input`, closes stdin, and collects what it answered. */
function runDriver(input: Uint8Array, deadlineMs = 8_000): Promise<DriverRun> {
  return new Promise((resolve) => {
    const child = spawn('lua5.4', ['-e', BOOTSTRAP_LUA], { stdio: ['pipe', 'pipe', 'pipe'] })
    const decoder = new FrameDecoder({ maxFrameBytes: 64 * 1024 * 1024 })
    const frames: Frame[] = []
    let badOutput: string | undefined
    let stderr = ''
    let hung = false
    child.stdout.on('data', (chunk: Buffer) => {
      if (badOutput) return
      try {
        frames.push(...decoder.push(chunk))
      } catch (error) {
        badOutput = String(error)
      }
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    // The driver may exit before reading everything: a broken pipe is expected.
    child.stdin.on('error', () => {})
    const timer = setTimeout(() => {
      hung = true
      child.kill('SIGKILL')
    }, deadlineMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (!badOutput) {
        try {
          decoder.end()
        } catch (error) {
          badOutput = String(error)
        }
      }
      resolve({ code, signal, frames, stderr, hung, ...(badOutput ? { badOutput } : {}) })
    })
    child.stdin.end(Buffer.from(input))
  })
}

const PROGRAM = encodeBootstrapPayload()
const INIT = encodeInit({ sandbox: true })

/** Valid frames to mutate: execs (with a deadline: nothing runs away), resets, mounts, a quit. */
const validFrame = fc.oneof(
  fc
    .tuple(
      fc.integer({ min: 1, max: 1000 }),
      fc.constantFrom('return 1', 'print("x")', 'error("e")', 'x = (', 'return ("y"):rep(3)', '\u0000\u00ff'),
    )
    .map(([id, code]) => encodeExec({ id, timeoutMs: 2_000, maxOutputBytes: 4096 }, code)),
  fc.constant(encodeFrame('R', '')),
  fc.constantFrom('m\nreturn {}', 'bad name\nreturn 1', 'm2\nthis is not lua').map((p) => encodeFrame('M', p)),
)

/** A valid frame, mutated: header and payload damaged in the ways a stream goes wrong. */
const mutatedFrame = fc
  .tuple(validFrame, fc.nat(), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.nat({ max: 7 }))
  .map(([bytes, a, b, junk, how]) => {
    const i = a % bytes.length
    const j = b % bytes.length
    switch (how) {
      case 0: // truncated
        return bytes.subarray(0, i)
      case 1: // bytes inserted
        return concat([bytes.subarray(0, i), junk, bytes.subarray(i)])
      case 2: // a byte flipped
        return Uint8Array.from(bytes, (x, k) => (k === i ? x ^ junk[0]! : x))
      case 3: // a range deleted
        return concat([bytes.subarray(0, Math.min(i, j)), bytes.subarray(Math.max(i, j))])
      case 4: // a huge length
        return enc.encode(`X ${['99999999999', '1073741825', '4294967296', '1e9'][i % 4]}\n`)
      case 5: // a different header line
        return concat([enc.encode(['Z 3\n', 'X\n', 'X 3 3\n', 'I 0\n', 'H 2\n{}'][i % 5] as string), bytes])
      case 6: // exec headers the driver must refuse (bad ids, missing blank line, junk keys)
        return encodeFrame(
          'X',
          [
            'id=1e300\n\nreturn 1',
            'id=9223372036854775808\n\nreturn 1',
            'id=-0.5\n\nreturn 1',
            'id=nan\n\nreturn 1',
            'noequals\n\nreturn 1',
            'id=1\nreturn 1',
            '\n\n',
            `id=${'9'.repeat(400)}\n\nreturn 1`,
          ][i % 8] as string,
        )
      default:
        return junk
    }
  })

const garbage = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 200 }), weight: 2 },
  { arbitrary: fc.array(mutatedFrame, { minLength: 1, maxLength: 4 }).map(concat), weight: 5 },
  { arbitrary: fc.array(fc.oneof(validFrame, mutatedFrame), { minLength: 1, maxLength: 5 }).map(concat), weight: 3 },
)

/**
 * Is `bytes` a well-formed frame stream the driver accepts in full? (Then a
 * clean exit 0 is right; anything else must be refused.)
 */
function acceptable(bytes: Uint8Array, initSent: boolean): boolean {
  let frames: Frame[]
  try {
    const d = new FrameDecoder({ maxFrameBytes: 1073741824 })
    frames = d.push(bytes)
    d.end()
  } catch {
    return false
  }
  let init = initSent
  for (const f of frames) {
    if (f.type === 'I') {
      if (init) return false
      init = true
    } else if (!init || !'XRMQ'.includes(f.type)) {
      return false
    } else if (f.type === 'Q') {
      return true
    }
  }
  return true
}

describe('the Lua driver fed broken input', () => {
  it('garbage instead of the bootstrap program: exits non-zero with a message, never hangs', async () => {
    const cases = fc.sample(
      fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc
          .tuple(fc.integer({ min: 0, max: 99999 }), fc.uint8Array({ maxLength: 64 }))
          .map(([n, b]) => concat([enc.encode(`${n}\n`), b])),
      ),
      { seed: 21, numRuns: 40 },
    )
    const runs = await mapLimit(cases, 4, (input) => runDriver(input))
    for (const [i, r] of runs.entries()) {
      expect(r.status, `case ${i}`).toBe('fulfilled')
      const run = (r as PromiseFulfilledResult<DriverRun>).value
      expect(run.hung, `case ${i} hung`).toBe(false)
      expect(run.badOutput, `case ${i}`).toBeUndefined()
      // Nothing (not a hello) is ever answered to a broken program header.
      expect(run.frames.filter((f) => f.type === 'H')).toEqual([])
      if (run.code !== 0) expect(run.stderr, `case ${i}`).not.toBe('')
    }
  }, 60_000)

  it('random, truncated and malformed frames before and after the init: an E frame and exit 2, or a clean exit 0', async () => {
    const cases = fc.sample(fc.tuple(fc.boolean(), garbage), { seed: 22, numRuns: 160 })
    const tally: Record<string, number> = {}
    const runs = await mapLimit(cases, 4, ([withInit, junk]) =>
      runDriver(concat([PROGRAM, ...(withInit ? [INIT] : []), junk])).then((run) => ({ withInit, junk, run })),
    )
    const problems: string[] = []
    for (const [i, r] of runs.entries()) {
      if (r.status === 'rejected') {
        problems.push(`case ${i}: ${String(r.reason)}`)
        continue
      }
      const { withInit, junk, run } = r.value
      const last = run.frames.at(-1)
      const key = run.hung ? 'hung' : `exit ${run.code}${last?.type === 'E' ? ' + E' : ''}`
      tally[key] = (tally[key] ?? 0) + 1
      const what = `case ${i} (${withInit ? 'after' : 'before'} init, ${JSON.stringify(Buffer.from(junk).toString('latin1').slice(0, 80))})`
      if (run.hung) problems.push(`${what}: hung`)
      else if (run.badOutput) problems.push(`${what}: the driver wrote a broken frame stream: ${run.badOutput}`)
      else if (run.code === 0 && !acceptable(junk, withInit))
        problems.push(`${what}: exited 0 on input it should refuse`)
      else if (run.code !== 0 && (run.code !== 2 || last?.type !== 'E')) {
        problems.push(
          `${what}: exit ${run.code} signal ${run.signal} without an E frame; stderr ${run.stderr.slice(0, 200)}`,
        )
      }
    }
    console.log('driver fuzz outcomes', tally)
    expect(problems.slice(0, 5)).toEqual([])
    // Both ways out were exercised.
    expect(tally['exit 2 + E'] ?? 0).toBeGreaterThan(20)
  }, 120_000)

  it('regression: an exec id the host could never send (1e300, 2^63, beyond 2^53) is refused with an E frame', async () => {
    // Found by the case above (seed 22): the driver accepted any integral
    // float id, ran the chunk, then crashed formatting the reply with "%d"
    // (exit 1, a Lua traceback on stderr, no E frame, the reply lost).
    for (const id of ['1e300', '9223372036854775808', '9007199254740993', '-1e20']) {
      const run = await runDriver(concat([PROGRAM, INIT, encodeFrame('X', `id=${id}\n\nprint("ran") return 1`)]))
      expect(run.code, `id ${id}: ${run.stderr}`).toBe(2)
      const last = run.frames.at(-1)
      expect(last?.type).toBe('E')
      expect(new TextDecoder().decode(last?.payload)).toContain('valid id')
      // Refused before running: the chunk's output never appears.
      expect(run.frames.some((f) => f.type === '1')).toBe(false)
    }
    // The largest ids the host can send still work.
    const ok = await runDriver(concat([PROGRAM, INIT, encodeExec({ id: Number.MAX_SAFE_INTEGER }, 'return 1')]))
    expect(ok.code).toBe(0)
    expect(new TextDecoder().decode(ok.frames.at(-1)?.payload)).toContain(`"id":${Number.MAX_SAFE_INTEGER}`)
  })

  it('leaves no interpreter running', async () => {
    expect(luaChildren()).toEqual([])
    expect(await scope.check()).toEqual([])
  })
})

// ---- DriverConnection ----------------------------------------------------------------

const HELLO = encodeFrame(
  'H',
  JSON.stringify({ protocol: 1, lua: 'Lua 5.4', jit: null, int_bits: 64, sandbox: true, hooks: true }),
)

/** Frames a confused or hostile driver could send to a connection with execs 1..n pending. */
const replyJunk = fc.array(
  fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc
      .record({ stream: fc.constantFrom('1', '2'), text: fc.string({ maxLength: 20 }) })
      .map((o) => encodeFrame(o.stream, o.text)),
    fc
      .record({
        id: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom('"1"', '1.5', 'null', '1e400')),
        status: fc.constantFrom('"ok"', '"error"', '"weird"', '1', 'null'),
        values: fc.constantFrom('[]', '[1,"a"]', '{}', '"x"'),
        extra: fc.constantFrom('', ',"error":{"message":"m","kind":"runtime"}', ',"error":"bad"', ',"truncated":true'),
      })
      .map((o) => encodeFrame('D', `{"id":${o.id},"status":${o.status},"values":${o.values}${o.extra}}`)),
    fc.constantFrom(
      encodeFrame('D', 'not json'),
      encodeFrame('D', '[1,2]'),
      encodeFrame('E', 'fatal: boom'),
      encodeFrame('H', '{"protocol":1,"lua":"x"}'),
      encodeFrame('Z', ''),
      enc.encode('X 999999999999\n'),
      enc.encode('garbage\n'),
    ),
  ),
  { maxLength: 8 },
)

describe('DriverConnection fed garbage by a fake transport', () => {
  it('every pending request settles; rejections are ProtocolErrors; a dead connection stays dead', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        replyJunk,
        fc.array(fc.nat(), { maxLength: 6 }),
        async (n, junk, cuts) => {
          const written: Uint8Array[] = []
          const deaths: ProtocolError[] = []
          const conn = new DriverConnection({ write: (b) => written.push(b) }, { onDead: (e) => deaths.push(e) })
          const hello = conn.init({ sendProgram: false })
          conn.receive(HELLO)
          await hello
          const execs = Array.from({ length: n }, (_, i) => conn.exec(`return ${i}`))
          const settled: Array<PromiseSettledResult<DriverExecOutcome> | undefined> = new Array(n)
          for (const [i, p] of execs.entries()) {
            p.then(
              (value) => {
                settled[i] = { status: 'fulfilled', value }
              },
              (reason: unknown) => {
                settled[i] = { status: 'rejected', reason }
              },
            )
          }
          // receive() must never throw, whatever arrives.
          for (const chunk of chunked(concat(junk), cuts)) conn.receive(chunk)
          // The process behind a transport ends sooner or later; its owner then closes the connection.
          conn.close('transport closed')
          await within(Promise.allSettled(execs), 1, 'pending execs after the connection died')
          for (const [i, s] of settled.entries()) {
            if (s?.status === 'rejected') {
              expect(s.reason).toBeInstanceOf(ProtocolError)
              expect(isLuaVMError(s.reason)).toBe(true)
            } else {
              // Only a well-formed D frame with this exec's id may answer it.
              expect(s?.value.status).toMatch(/^(ok|error)$/)
              expect(written.length).toBeGreaterThan(i + 1)
            }
          }
          expect(deaths.length).toBeLessThanOrEqual(1)
          expect(conn.dead).toBe(true)
          await expect(conn.exec('return 1')).rejects.toBeInstanceOf(ProtocolError)
          await expect(conn.reset()).rejects.toBeInstanceOf(ProtocolError)
        },
      ),
      { seed: 31, numRuns: 400 },
    )
  })
})
