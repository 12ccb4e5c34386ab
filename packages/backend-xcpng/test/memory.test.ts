import { ConfigError } from '@bioxen-luavm/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkCoresPerSocket, memoryPlan, vcpuPlan } from '../src/provision/memory.js'
import type { VmRecord } from '../src/xapi/api.js'

const GiB = 1024 ** 3

describe('memoryPlan', () => {
  it('pins dynamic min/max and static max to the target (legal with or without DMC)', () => {
    const plan = memoryPlan({ staticMin: GiB / 2, staticMax: GiB, dynamicMin: GiB, dynamicMax: GiB }, 2 * GiB)
    expect(plan).toEqual({ staticMin: GiB / 2, staticMax: 2 * GiB, dynamicMin: 2 * GiB, dynamicMax: 2 * GiB })
  })
  it('lowers static_min below a small target', () => {
    expect(
      memoryPlan({ staticMin: GiB, staticMax: 4 * GiB, dynamicMin: 4 * GiB, dynamicMax: 4 * GiB }, GiB / 4).staticMin,
    ).toBe(GiB / 4)
  })
  it('always satisfies static_min ≤ dynamic_min ≤ dynamic_max ≤ static_max', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.integer({ min: 1, max: 2 ** 40 }), (staticMin, target) => {
        const p = memoryPlan({ staticMin, staticMax: staticMin, dynamicMin: staticMin, dynamicMax: staticMin }, target)
        return (
          p.staticMin <= p.dynamicMin &&
          p.dynamicMin <= p.dynamicMax &&
          p.dynamicMax <= p.staticMax &&
          p.dynamicMax === target
        )
      }),
    )
  })
})

describe('vcpuPlan', () => {
  it('grows the maximum first', () => {
    expect(vcpuPlan({ max: 1, atStartup: 1 }, 4)).toEqual([
      ['VM.set_VCPUs_max', 4],
      ['VM.set_VCPUs_at_startup', 4],
    ])
  })
  it('shrinks the startup count first', () => {
    expect(vcpuPlan({ max: 8, atStartup: 8 }, 2)).toEqual([
      ['VM.set_VCPUs_at_startup', 2],
      ['VM.set_VCPUs_max', 2],
    ])
  })
  it('skips setters that change nothing', () => {
    expect(vcpuPlan({ max: 2, atStartup: 2 }, 2)).toEqual([])
  })
  it('never breaks 0 < VCPUs_at_startup ≤ VCPUs_max after any single call (as XAPI checks)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 64 }),
        (max, at0, target) => {
          const atStartup = Math.min(at0, max)
          let state = { max, atStartup }
          for (const [method, n] of vcpuPlan(state, target)) {
            state = method === 'VM.set_VCPUs_max' ? { ...state, max: n } : { ...state, atStartup: n }
            if (!(state.atStartup > 0 && state.atStartup <= state.max)) return false
          }
          return state.max === target && state.atStartup === target
        },
      ),
    )
  })
})

describe('checkCoresPerSocket', () => {
  const template = (platform: Record<string, string>, vcpusMax = 1) => ({ platform, vcpusMax }) as VmRecord
  it('accepts multiples, templates without the key, and 1', () => {
    expect(checkCoresPerSocket(template({ 'cores-per-socket': '2' }), 4)).toBeUndefined()
    expect(checkCoresPerSocket(template({}), 3)).toBeUndefined()
    expect(checkCoresPerSocket(template({ 'cores-per-socket': '1' }), 3)).toBeUndefined()
  })
  it('refuses a vm_vcpus that is not a multiple, naming a count that works', () => {
    const error = checkCoresPerSocket(template({ 'cores-per-socket': '4' }), 6)
    expect(error).toBeInstanceOf(ConfigError)
    expect(error?.message).toMatch(/vm_vcpus 6 .*cores-per-socket 4.*e\.g\. 8/)
  })
  it("without vm_vcpus, checks the template's own VCPUs_max", () => {
    expect(checkCoresPerSocket(template({ 'cores-per-socket': '2' }, 3), undefined)?.message).toMatch(/VCPUs_max \(3\)/)
  })
})
