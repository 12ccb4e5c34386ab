import { describe, expect, it } from 'vitest'
import type { CliIO } from '../src/index.js'
import { progressLine } from '../src/lib/progress.js'

function io(isTTY: boolean, env: Record<string, string> = {}) {
  let err = ''
  const stream: CliIO = {
    stdout: () => {},
    stderr: (t) => {
      err += t
    },
    readStdin: async () => new Uint8Array(0),
    stdinLines: async function* () {},
    isTTY,
    env,
  }
  return { stream, err: () => err }
}

describe('progress line', () => {
  it('draws a bar in place on a terminal and clears it when done', () => {
    const t = io(true)
    const p = progressLine(t.stream)
    p.update('clone', 0.5)
    expect(t.err()).toContain('[############------------]  50%  clone')
    p.done()
    expect(t.err().endsWith('\r\x1b[2K')).toBe(true)
  })

  it('prints nothing without a terminal, or in CI', () => {
    for (const t of [io(false), io(true, { CI: 'true' })]) {
      const p = progressLine(t.stream)
      p.update('clone', 0.5)
      p.done()
      expect(t.err()).toBe('')
    }
  })
})
