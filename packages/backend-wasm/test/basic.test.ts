import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { brief, COMBOS, vmFactory } from './helpers.js'

const makeVM = vmFactory()

describe.each(COMBOS)('$type / $isolation', (combo) => {
  it('runs code, returns values and prints', async () => {
    const vm = await makeVM(combo)
    const r = await vm.execute('print("hello") return 1 + 1, "two", {3, {x = 4}}')
    expect(r, brief(r)).toMatchObject({ status: 'ok', success: true, values: [2, 'two', [3, { x: 4 }]] })
    expect(r.stdout).toMatch(/^hello\n2\ttwo\ttable: /)
    expect(r.luaVersion).toBe(combo.type === 'wasm' ? 'Lua 5.4' : 'Lua 5.3')
    expect(r.backend).toBe(combo.type)
  })

  it('keeps state between executions and resets it', async () => {
    const vm = await makeVM(combo)
    await vm.execute('x = 41')
    expect((await vm.execute('return x + 1')).values).toEqual([42])
    await vm.reset()
    expect((await vm.execute('return x')).values).toEqual([null])
  })

  it('mounts pure-Lua modules for require', async () => {
    const vm = await makeVM(combo, { modules: { greet: 'return { hi = function(n) return "hi " .. n end }' } })
    expect((await vm.execute('return require("greet").hi("ann")')).values).toEqual(['hi ann'])
    await vm.mount('mathx', 'local M = {} function M.sq(x) return x * x end return M')
    expect((await vm.execute('return require("mathx").sq(7)')).values).toEqual([49])
    await expect(vm.mount('broken', 'return {')).rejects.toMatchObject({ _tag: 'InvalidArgumentError' })
    await vm.reset()
    expect((await vm.execute('return require("mathx").sq(3)')).values, 'mounts survive reset').toEqual([9])
    const missing = await vm.execute('return require("nope")')
    expect(missing.status).toBe('error')
    expect(missing.error?.message).toMatch(/module 'nope' not found/)
  })

  it('reports syntax and runtime errors', async () => {
    const vm = await makeVM(combo)
    const syntax = await vm.execute('x = = 1', { chunkName: 'mine.lua' })
    expect(syntax.error).toMatchObject({ kind: 'syntax', line: 1 })
    expect(syntax.error?.message).toMatch(/^mine\.lua:1:/)
    const runtime = await vm.execute('\nerror("boom")')
    expect(runtime.error).toMatchObject({ kind: 'runtime', line: 2 })
    expect(runtime.error?.message).toBe('chunk:2: boom')
  })

  it('runs files on Node, named after their path', async () => {
    const vm = await makeVM(combo)
    const dir = mkdtempSync(join(tmpdir(), 'luavm-'))
    try {
      const file = join(dir, 'script.lua')
      writeFileSync(file, 'print("from a file")\nerror("bad")')
      const r = await vm.executeFile(file)
      expect(r.stdout).toBe('from a file\n')
      expect(r.error?.message).toBe(`${file}:2: bad`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('reports engine facts in getStatus', async () => {
    const vm = await makeVM(combo)
    await vm.execute('return 1')
    const status = await vm.getStatus()
    expect(status.details).toMatchObject({ isolation: combo.isolation, stackTop: 0 })
    expect(status.details?.engine).toBe(combo.type === 'wasm' ? 'wasmoon' : 'fengari')
    if (combo.isolation === 'worker') expect(status.details?.workerId).toEqual(expect.any(Number))
    expect(vm.capabilities.hardTimeout).toBe(combo.isolation === 'worker')
  })
})
