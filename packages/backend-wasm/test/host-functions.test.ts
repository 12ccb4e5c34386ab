import type { LuaValue } from '@bioxen-luavm/core'
import { describe, expect, it } from 'vitest'
import { brief, COMBOS, vmFactory } from './helpers.js'

const makeVM = vmFactory()

const SEQUENCES: Record<string, { id: string; length: number; bases: string; gc: number; tags: string[] }> = {
  NM_000546: { id: 'NM_000546', length: 2512, bases: 'ACGT', gc: 0.53, tags: ['TP53', 'human'] },
}

function fetchSequence(id: LuaValue): unknown {
  const found = typeof id === 'string' ? SEQUENCES[id] : undefined
  if (!found) throw new Error(`no sequence ${String(id)}`)
  return found
}

describe.each(COMBOS)('host functions: $type / $isolation', (combo) => {
  it('nothing is exposed unless the host grants it', async () => {
    const vm = await makeVM(combo)
    expect((await vm.execute('return host')).values).toEqual([null])
  })

  it('a sync host function is callable, with values converted both ways', async () => {
    const seen: LuaValue[][] = []
    const vm = await makeVM(combo, {
      hostFunctions: {
        fetchSequence,
        echo: (...args) => {
          seen.push(args)
          return { args, nested: { list: [1, 2.5, 'três', null, true], empty: {} } }
        },
      },
    })
    const r = await vm.execute(`
      local s = host.fetchSequence("NM_000546")
      return s.id, s.length, s.gc, s.tags[1], #s.tags, math.type(s.length)`)
    expect(r, brief(r)).toMatchObject({ status: 'ok', values: ['NM_000546', 2512, 0.53, 'TP53', 2, 'integer'] })
    const e = await vm.execute(`
      local out = host.echo(1, "two", {3, {x = 4}}, nil, true, 0.5, {})
      return out.nested.list[3], out.nested.list[4], out.nested.list[5], type(out.nested.empty), out.args[3][2].x`)
    expect(e, brief(e)).toMatchObject({ status: 'ok', values: ['três', null, true, 'table', 4] })
    expect(seen[0]).toEqual([1, 'two', [3, { x: 4 }], null, true, 0.5, {}])
  })

  it('host errors become Lua errors at the call site, catchable by pcall', async () => {
    const vm = await makeVM(combo, { hostFunctions: { fetchSequence } })
    const r = await vm.execute('\nreturn host.fetchSequence("nope")')
    expect(r.status).toBe('error')
    expect(r.error).toMatchObject({ line: 2, message: 'chunk:2: host.fetchSequence: no sequence nope' })
    const caught = await vm.execute('local ok, e = pcall(host.fetchSequence, 42) return ok, e')
    expect(caught.values[0]).toBe(false)
    expect(caught.values[1]).toMatch(/no sequence 42/)
  })

  it('values without a JSON form are refused', async () => {
    const vm = await makeVM(combo, { hostFunctions: { echo: (...a) => a } })
    const fn = await vm.execute('return host.echo(print)')
    expect(fn.error?.message).toMatch(/host\.echo: argument 1 is a function/)
    const cycle = await vm.execute('local t = {} t.t = t return host.echo(t)')
    expect(cycle.error?.message).toMatch(/argument 1 contains a cycle/)
    await vm.execute('return host.echo(setmetatable({}, {__index = function() error("no") end}))').then((r) => {
      expect(r.status, 'tables are read raw, metamethods never run').toBe('ok')
    })
  })

  it('large results arrive whole', async () => {
    const big = 'ACGT'.repeat(100_000)
    const vm = await makeVM(combo, { hostFunctions: { big: () => big } })
    const r = await vm.execute('local s = host.big() return #s, s:sub(1, 8), s:sub(-4)')
    expect(r.values).toEqual([big.length, 'ACGTACGT', 'ACGT'])
  })

  if (combo.isolation === 'worker') {
    it('async host functions are awaited across the worker boundary', async () => {
      const vm = await makeVM(combo, {
        hostFunctions: {
          fetchSequence: async (id) => {
            await new Promise((resolve) => setTimeout(resolve, 5))
            return fetchSequence(id)
          },
          failLater: async () => {
            await new Promise((resolve) => setTimeout(resolve, 1))
            throw new Error('remote failed')
          },
        },
      })
      const r = await vm.execute(
        'local a = host.fetchSequence("NM_000546") local b = host.fetchSequence("NM_000546") return a.id, b.length',
      )
      expect(r, brief(r)).toMatchObject({ status: 'ok', values: ['NM_000546', 2512] })
      const f = await vm.execute('return pcall(host.failLater)')
      expect(f.values).toEqual([false, expect.stringMatching(/host\.failLater: remote failed/)])
    })

    it('a host function that never answers is cut by the deadline', async () => {
      const vm = await makeVM(combo, { hostFunctions: { hang: () => new Promise(() => {}) } })
      const r = await vm.execute('return host.hang()', { timeoutMs: 200 })
      expect(r.status, brief(r)).toBe('timeout')
      expect((await vm.execute('return 1')).values).toEqual([1])
    })
  } else {
    it('async host functions are refused inline with an explanation', async () => {
      const vm = await makeVM(combo, { hostFunctions: { later: async () => 1 } })
      const r = await vm.execute('return host.later()')
      expect(r.error?.message).toMatch(/returned a Promise; async host functions need isolation "worker"/)
    })
  }
})
