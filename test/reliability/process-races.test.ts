import type { BaseLuaVM } from '@bioxen-luavm/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { brief, localRegistry } from './support/backends.js'
import { leakScope } from './support/leaks.js'

// Races of the process backend found by the soak and cancellation storms.
//
// A kill ordered after the driver already wrote the chunk's reply (a cancel,
// or the hard deadline) but before the host read it kills the process for
// nothing: the chunk still completes with its reply. The next execution
// must not be handed to that dying process. Before the fix it was, and came
// back with the other chunk's fate: `killed`, "the execution was
// cancelled" (10 in ~28k executions of a pool under cancel storms), or
// `timeout`, "execution timed out after 30000 ms (the process group was
// killed)" for a chunk that ran a millisecond (seen in the 300 s soak).
// The fix: packages/backend-process/src/worker/{driver-worker,worker-slot}.ts
// (`dying`).

const scope = leakScope()
const registry = localRegistry()
let vm: BaseLuaVM

beforeAll(async () => {
  vm = await registry.create('process', 'races', { luaExecutable: 'lua5.4', mode: 'persistent' })
})

afterAll(async () => {
  await vm?.stop()
  scope.dispose()
})

/** Blocks this thread: the driver runs on meanwhile, and its reply waits unread in the pipe. */
function blockFor(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) {
    // busy
  }
}

describe('process backend races', () => {
  it('an execution queued behind one cancelled after its reply was written is not killed for it', async () => {
    const outcomes: string[] = []
    for (let i = 0; i < 25; i++) {
      const controller = new AbortController()
      let aborted = false
      const a = vm.execute('print("started") return "a"', {
        signal: controller.signal,
        onStdout: () => {
          if (aborted) return
          aborted = true
          // The driver finishes the chunk and writes its reply while this thread is blocked;
          // then the cancel arrives: the host kills the process, and reads the reply after.
          blockFor(20)
          controller.abort()
        },
      })
      const b = vm.execute(`return "b${i}"`)
      const [ra, rb] = await Promise.all([a, b])
      outcomes.push(`${ra.status}/${rb.status}`)
      // A's cancel may or may not have won (ok or killed): either is right for A.
      expect(['ok', 'killed']).toContain(ra.status)
      // B was never cancelled: it must run, on a live process.
      expect(rb.status, `round ${i}: ${brief(rb)}`).toBe('ok')
      expect(rb.values).toEqual([`b${i}`])
    }
    console.log('cancelled-after-reply outcomes (a/b):', outcomes.join(' '))
  })

  it('the same with a hard-deadline kill: the next execution does not inherit the deadline', async () => {
    // The soak's "quick chunk timed out after 30000 ms (the process group
    // was killed)": the runtime's soft deadline ended chunk A and the driver
    // replied, but the host's hard-deadline timer fired before it read the
    // reply, and killed the process with reason 'timeout'. Chunk B, queued
    // next, was sent to that process and reported B's own deadline as blown.
    const outcomes: string[] = []
    for (let i = 0; i < 4; i++) {
      let blocked = false
      const a = vm.execute('print("started") while true do end', {
        timeoutMs: 40,
        onStdout: () => {
          if (blocked) return
          blocked = true
          // Past A's soft deadline (40 ms CPU) and hard one (40 + killGraceMs 100).
          blockFor(400)
        },
      })
      const b = vm.execute(`return "b${i}"`, { timeoutMs: 30_000 })
      const [ra, rb] = await Promise.all([a, b])
      outcomes.push(`${ra.status}/${rb.status}`)
      expect(ra.status).toBe('timeout')
      expect(rb.status, `round ${i}: ${brief(rb)}`).toBe('ok')
      expect(rb.values).toEqual([`b${i}`])
    }
    console.log('hard-deadline-after-reply outcomes (a/b):', outcomes.join(' '))
  })

  it('leaves no process behind', async () => {
    await vm.stop()
    expect(await scope.check()).toEqual([])
  })
})
