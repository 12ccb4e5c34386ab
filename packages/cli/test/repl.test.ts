import { describe, expect, it } from 'vitest'
import { cli } from './helpers.js'

describe('bioxen-luavm repl (piped)', () => {
  it('runs stdin line by line, keeping state', async () => {
    const r = await cli(['repl'], { stdin: 'x = 42\nprint(x)\n' })
    expect(r).toMatchObject({ code: 0, stdout: '42\n' })
  })

  it('prints expression values and waits for unfinished chunks', async () => {
    const r = await cli(['repl'], { stdin: '1 + 1\n= "a" .. "b"\nfunction f(n)\n  return n * 2\nend\nprint(f(21))\n' })
    expect(r.stdout).toBe('2\nab\n42\n')
    expect(r.code).toBe(0)
  })

  it('keeps going after an error and exits 1', async () => {
    const r = await cli(['repl'], { stdin: 'error("boom")\nprint("still here")\n' })
    expect(r.stdout).toBe('still here\n')
    expect(r.stderr).toContain('boom')
    expect(r.code).toBe(1)
  })

  it('reports input that ends inside a chunk', async () => {
    const r = await cli(['repl'], { stdin: 'for i = 1, 2 do\n' })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('unfinished chunk')
  })

  it('exits 3 when an input hits a limit', async () => {
    const r = await cli(['repl', '--timeout', '200'], { stdin: 'while true do end\nprint("after")\n' })
    expect(r.code).toBe(3)
    expect(r.stdout).toBe('after\n')
  })
})
