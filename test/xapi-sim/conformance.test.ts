/**
 * The shared conformance kit against the xcpng backend: XAPI simulator for
 * provisioning, a real sshd as the guest.
 */
import { xcpngBackend } from '@bioxen-luavm/backend-xcpng'
import { runConformance } from '@bioxen-luavm/core/testing'
import { afterAll, beforeAll, expect } from 'vitest'
import { type Env, startEnv } from './fixture.js'

let env: Env
// Filled in beforeAll; the kit reads it when each check creates its VMs.
const config: Record<string, unknown> = {}

beforeAll(async () => {
  env = await startEnv()
  Object.assign(config, env.config())
})

afterAll(async () => {
  try {
    // Every check stopped its VMs: nothing may be left on the "pool".
    expect(env.sim.leaks()).toEqual([])
  } finally {
    await env?.stop()
  }
})

runConformance(xcpngBackend, { config, timeoutMs: 60_000 })
