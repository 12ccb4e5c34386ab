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

/** Lua that never ends by itself, each in a way a deadline must still cut (pcall, handlers, coroutines, metamethods). */
export const RUNAWAY_LOOPS: ReadonlyArray<[string, string]> = [
  ['a plain loop', 'while true do end'],
  ['a loop inside pcall', 'while true do pcall(function() while true do end end) end'],
  ['a loop inside xpcall', 'while true do xpcall(function() while true do end end, function(e) return e end) end'],
  ['an error handler that loops', 'xpcall(function() error("x") end, function() while true do end end)'],
  ['a loop inside a coroutine', 'coroutine.wrap(function() while true do end end)()'],
  [
    'ping-pong between coroutines',
    'local co = coroutine.create(function() while true do coroutine.yield() end end) while true do coroutine.resume(co) end',
  ],
  ['pcall catching in a coroutine', 'coroutine.wrap(function() while true do pcall(error) end end)()'],
  ['a looping __index', 'local t = setmetatable({}, {__index = function() while true do end end}) return t.x'],
  ['a looping __tostring in print', 'print(setmetatable({}, {__tostring = function() while true do end end}))'],
  ['deep recursion that keeps retrying', 'local function f() pcall(f) pcall(f) end f()'],
]
