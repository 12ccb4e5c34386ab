/**
 * `@bioxen-luavm/core/testing` — the conformance kit every backend runs to
 * prove it honours the contract. Requires `vitest` (an optional peer
 * dependency of core).
 *
 * ```ts
 * import { runConformance } from '@bioxen-luavm/core/testing'
 * import { myBackend } from '../src/index.js'
 * runConformance(myBackend)
 * ```
 *
 * A check that needs a capability the backend does not declare is replaced
 * by that capability's absence check (once per capability): the backend
 * must behave as declared — no shared globals without `persistentState`,
 * `openSession` and memory caps refused with typed errors without
 * `sessions` and `memoryLimit`.
 *
 * @packageDocumentation
 */
import { describe, it } from 'vitest'
import type { BackendDescriptor } from '../registry/backend-descriptor.js'
import { absenceCheck, type ConformanceCheck, conformanceChecks, skipReason } from './checks.js'
import { type ConformanceOptions, createConformanceContext } from './context.js'

export {
  absenceCheck,
  absenceChecks,
  type ConformanceCheck,
  type ConformanceRequirement,
  conformanceChecks,
  getConformanceCheck,
  skipReason,
} from './checks.js'
export {
  type ConformanceContext,
  type ConformanceOptions,
  type ConformanceVMOptions,
  createConformanceContext,
  DEFAULT_LUA_VERSION,
} from './context.js'

/**
 * Registers `describe('conformance: <type>')` with one test per check. Each
 * test gets a fresh context (fresh VMs), stopped when the test ends.
 */
export function runConformance(
  descriptor: BackendDescriptor<never> | BackendDescriptor,
  options: ConformanceOptions = {},
): void {
  const timeout = options.timeoutMs ?? 30_000
  const skip = new Set(options.skip ?? [])
  const effective = { ...descriptor, capabilities: { ...descriptor.capabilities, ...options.capabilities } }
  const register = (check: ConformanceCheck) =>
    it(
      check.name,
      async () => {
        const ctx = createConformanceContext(descriptor, options)
        try {
          await check.run(ctx)
        } finally {
          await ctx.dispose()
        }
      },
      timeout,
    )
  describe(`conformance: ${descriptor.type}`, () => {
    const registered = new Set<ConformanceCheck>()
    for (const check of conformanceChecks) {
      if (skip.has(check.name)) {
        it.skip(`${check.name} (skipped by options)`, () => {})
        continue
      }
      const absence = absenceCheck(check, effective)
      if (absence) {
        if (!registered.has(absence)) register(absence)
        registered.add(absence)
        continue
      }
      const reason = skipReason(check, effective)
      if (reason) {
        it.skip(`${check.name} (skipped: ${reason})`, () => {})
        continue
      }
      register(check)
    }
  })
}
