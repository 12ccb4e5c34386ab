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
 * Checks that need a capability the backend does not declare are reported
 * as skipped with the capability named: an honest "cannot", not a missing
 * feature.
 *
 * @packageDocumentation
 */
import { describe, it } from 'vitest'
import type { BackendDescriptor } from '../registry/backend-descriptor.js'
import { conformanceChecks, skipReason } from './checks.js'
import { type ConformanceOptions, createConformanceContext } from './context.js'

export {
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
  describe(`conformance: ${descriptor.type}`, () => {
    for (const check of conformanceChecks) {
      if (skip.has(check.name)) {
        it.skip(`${check.name} (skipped by options)`, () => {})
        continue
      }
      const reason = skipReason(check, effective)
      if (reason) {
        it.skip(`${check.name} (skipped: ${reason})`, () => {})
        continue
      }
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
    }
  })
}
