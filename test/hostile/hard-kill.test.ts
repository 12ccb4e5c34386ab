import { readdirSync, readFileSync } from 'node:fs'
import { PROCESS_CONFIG_DEFAULTS } from '@bioxen-luavm/backend-process'
import type { BaseLuaVM } from '@bioxen-luavm/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { guardHost, HOSTILE_KINDS, startVM } from './support/host-guard.js'

// Hard limits are tight: a chunk the soft layer (the runtime's hook) cannot
// stop is killed at deadline + grace, never later (the process backend used
// to wait up to twice the deadline). Inline isolation has no hard layer
// (documented in docs/security.md), so only the kinds that kill are here.
const KILLING_KINDS = HOSTILE_KINDS.filter((k) => !('isolation' in k.config) || k.config.isolation === 'worker')

// Long enough that 2x the deadline is far outside the bound below.
const DEADLINE_MS = 3_000
// The process backend's default grace (100 ms); wasm/fengari workers use 25 ms.
const GRACE_MS = PROCESS_CONFIG_DEFAULTS.killGraceMs
// Room for a busy machine: both cores saturated by other work.
const SLACK_MS = 1_500

// A C call that backtracks for minutes: no Lua instruction runs, so no hook.
const LONG_C_CALL = 'local s = ("a"):rep(30000) return s:find(".-.-.-.-b$")'

describe.each(KILLING_KINDS)('hard kill on $name', (kind) => {
  let vm: BaseLuaVM
  beforeAll(async () => {
    vm = await startVM(kind)
  })
  afterAll(() => vm?.stop())

  async function timed(code: string): Promise<number> {
    const started = performance.now()
    const r = await vm.execute(code, { timeoutMs: DEADLINE_MS })
    const elapsed = performance.now() - started
    expect(r.status, JSON.stringify(r.error)).toBe('timeout')
    return elapsed
  }

  it('a long C call ends at deadline + grace, not at twice the deadline', async () => {
    const guard = guardHost()
    const elapsed = await timed(LONG_C_CALL)
    expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 50)
    expect(elapsed).toBeLessThan(DEADLINE_MS + GRACE_MS + SLACK_MS)
    expect(guard.stop().maxLoopDelayMs).toBeLessThan(1_000)
    // The engine was replaced and the VM goes on.
    expect((await vm.execute('return 1 + 1')).values).toEqual([2])
  })

  it.runIf(kind.type === 'process' && !('sandbox' in kind.config))(
    'a blocked os.execute ends at deadline + grace and its child is gone',
    async () => {
      const sleep = `sleep 10.${process.pid}${Date.now() % 100_000}`
      const elapsed = await timed(`os.execute("${sleep}")`)
      expect(elapsed).toBeLessThan(DEADLINE_MS + GRACE_MS + SLACK_MS)
      expect(commandLines().filter((c) => c === sleep)).toEqual([])
      expect((await vm.execute('return 1 + 1')).values).toEqual([2])
    },
  )
})

function commandLines(): string[] {
  const out: string[] = []
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' '))
    } catch {
      // The process ended while we looked.
    }
  }
  return out
}
