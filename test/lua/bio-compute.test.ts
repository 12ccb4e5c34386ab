import { execFileSync, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const dir = join(import.meta.dirname, '..', '..', 'rocks', 'bio_compute')
const interpreters = ['lua5.4', 'lua5.3', 'lua5.1', 'luajit'].filter(
  (bin) => spawnSync(bin, ['-v'], { stdio: 'ignore' }).status === 0,
)

// bio_compute's own Lua tests, on every native interpreter the machine has.
describe('bio_compute Lua tests', () => {
  it('has lua5.4 at least', () => {
    expect(interpreters).toContain('lua5.4')
  })

  it.each(interpreters)('pass on %s', (bin) => {
    const out = execFileSync(bin, ['spec/bio_compute_test.lua'], { cwd: dir, encoding: 'utf8' })
    expect(out).toMatch(/^\d+ checks, 0 failed\n$/)
  })
})
