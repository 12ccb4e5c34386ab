import type { CliIO } from './io.js'

/**
 * Shows provisioning progress on a terminal as one line redrawn in place
 * (`[#########-----------]  45%  clone`); prints nothing when stderr is not
 * a terminal or `NO_COLOR`/`CI` ask for plain output. Returns `done()`.
 */
export function progressLine(io: CliIO): {
  update(step: string, fraction?: number): void
  done(): void
} {
  const live = io.isTTY && !io.env.CI && io.env.TERM !== 'dumb'
  let drawn = false
  return {
    update(step, fraction) {
      if (!live) return
      const width = 24
      const filled = fraction === undefined ? 0 : Math.round(Math.max(0, Math.min(1, fraction)) * width)
      const bar = fraction === undefined ? ' '.repeat(width) : `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`
      const pct = fraction === undefined ? '    ' : `${String(Math.round(fraction * 100)).padStart(3)}%`
      io.stderr(`\r[${bar}] ${pct}  ${step.padEnd(20)}`)
      drawn = true
    },
    done() {
      if (drawn) io.stderr('\r\x1b[2K')
      drawn = false
    },
  }
}
