/**
 * The runner luarocks goes through on the process backend: whatever a
 * build step does (print without end, leave the process group and hold the
 * pipes), the host keeps at most the output cap and gets its answer by the
 * deadline.
 */
import { LocalCommandRunner } from '@bioxen-luavm/backend-process'
import { describe, expect, it } from 'vitest'

describe('LocalCommandRunner', () => {
  it('keeps at most maxOutputBytes of a flood of output', async () => {
    const runner = new LocalCommandRunner({ maxOutputBytes: 64 * 1024 })
    const r = await runner.run(['sh', '-c', 'head -c 50000000 /dev/zero; head -c 50000000 /dev/zero >&2'], {
      timeoutMs: 60_000,
    })
    expect(r.exitCode).toBe(0)
    expect(r.stdout.length).toBe(64 * 1024)
    expect(r.stderr.length).toBe(64 * 1024)
  }, 90_000)

  it('answers by the deadline even when a process escaped its group and holds the pipes', async () => {
    const runner = new LocalCommandRunner()
    const started = performance.now()
    // `setsid` leaves the group; the sleep inherits stdout and stderr.
    const r = await runner.run(['sh', '-c', 'setsid sleep 30 & echo $!; wait'], { timeoutMs: 1_000 })
    const elapsed = performance.now() - started
    const stray = Number.parseInt(r.stdout, 10)
    try {
      expect(elapsed).toBeLessThan(10_000)
      expect(r.stderr).toMatch(/killed after 1 s \(deadline\)/)
    } finally {
      // The descendant kill normally got it already; never leave it behind.
      if (stray > 1) {
        try {
          process.kill(stray, 'SIGKILL')
        } catch {
          // already gone
        }
      }
    }
  }, 30_000)
})
