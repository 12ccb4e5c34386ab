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
 * For each capability the backend does not declare, the checks that need it
 * give way to that capability's absence check: the backend must behave as
 * declared — no shared globals without `persistentState`; `openSession`,
 * memory caps and `installPackage` refused with typed errors without
 * `sessions`, `memoryLimit` and `packages`.
 *
 * @packageDocumentation
 */
import { describe, it } from 'vitest'
import type { BackendDescriptor } from '../registry/backend-descriptor.js'
import { absenceCheck, absenceChecks, type ConformanceCheck, conformanceChecks, skipReason } from './checks.js'
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
    for (const check of conformanceChecks) {
      if (skip.has(check.name)) {
        it.skip(`${check.name} (skipped by options)`, () => {})
        continue
      }
      if (absenceCheck(check, effective)) continue // its capability's absence check runs below
      const reason = skipReason(check, effective)
      if (reason) {
        it.skip(`${check.name} (skipped: ${reason})`, () => {})
        continue
      }
      register(check)
    }
    for (const [capability, check] of Object.entries(absenceChecks)) {
      if (!effective.capabilities[capability as keyof typeof effective.capabilities]) register(check)
    }
  })
}
