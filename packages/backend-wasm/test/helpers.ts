import type { ExecResult } from '@bioxen-luavm/core'
import { afterAll, afterEach } from 'vitest'
import { type CreateVMOptions, createFengariVM, createWasmVM, shutdownWorkers, type WasmLuaVM } from '../src/index.js'

/** Every backend × isolation combination the suites run against. */
export const COMBOS = [
  { type: 'wasm', isolation: 'worker' },
  { type: 'wasm', isolation: 'inline' },
  { type: 'fengari', isolation: 'worker' },
  { type: 'fengari', isolation: 'inline' },
] as const

export type Combo = (typeof COMBOS)[number]

/** Tracks VMs made by a test file and stops them (and all workers) afterwards. */
export function vmFactory(): (
  combo: Pick<Combo, 'type' | 'isolation'>,
  options?: CreateVMOptions,
) => Promise<WasmLuaVM> {
  const vms: WasmLuaVM[] = []
  afterEach(async () => {
    await Promise.allSettled(vms.splice(0).map((vm) => vm.stop({ force: true })))
  })
  afterAll(async () => {
    await shutdownWorkers()
  })
  return async (combo, options = {}) => {
    const create = combo.type === 'wasm' ? createWasmVM : createFengariVM
    const vm = await create({ isolation: combo.isolation, ...options })
    vms.push(vm)
    return vm
  }
}

/** A one-line summary of a result for assertion messages. */
export function brief(r: ExecResult): string {
  return JSON.stringify({ status: r.status, stdout: r.stdout.slice(0, 200), values: r.values, error: r.error })
}
