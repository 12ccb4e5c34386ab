import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { luaString } from '../src/lib/script-args.js'
import { cli } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'luavm-cli-args-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function script(name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

// What `lua s.lua a b` gives the script: arg[0] the script, arg[1..n] and `...` the arguments.
describe.each(['wasm', 'fengari', 'process'])('run FILE ARGS on %s', (backend) => {
  it('passes the arguments to arg and ..., flags after FILE included', async () => {
    const file = script(
      'args.lua',
      'print(select("#", ...), ...)\nprint(arg[0], #arg, arg[1], arg[2], arg[3])\nprint(arg[-1], arg[-2], arg[-3], arg[-4])\n',
    )
    const r = await cli(['run', '--backend', backend, file, 'a', 'b c', '--json'])
    expect(r).toMatchObject({ code: 0, stderr: '' })
    expect(r.stdout).toBe(`3\ta\tb c\t--json\n${file}\t3\ta\tb c\t--json\n${backend}\t--backend\trun\tbioxen-luavm\n`)
  })

  it("keeps the program's line numbers, traceback and returned values", async () => {
    const file = script('err.lua', 'local n = select("#", ...)\n\nerror("boom " .. n)\n')
    const r = await cli(['run', '--backend', backend, file, 'x'])
    expect(r.code).toBe(1)
    const c = backend === 'fengari' ? 'JS' : 'C'
    expect(r.stderr).toBe(
      `${file}:3: boom 1\nstack traceback:\n\t[${c}]: in function 'error'\n\t${file}:3: in main chunk\n`,
    )
    const ret = await cli(['run', '--backend', backend, '--json', script('ret.lua', 'return ...'), 'p', 'q'])
    expect(JSON.parse(ret.stdout)).toMatchObject({ status: 'ok', values: ['p', 'q'] })
  })

  it('reports a syntax error exactly as without arguments', async () => {
    const file = script('syntax.lua', 'local x =\n')
    const withArgs = await cli(['run', '--backend', backend, file, 'a'])
    const without = await cli(['run', '--backend', backend, '-e', 'local x =\n'])
    expect(withArgs.code).toBe(1)
    expect(withArgs.stderr).toBe(without.stderr.replace('(command line)', file))
  })

  it('passes argument bytes exactly', async () => {
    const r = await cli(['run', '--backend', backend, '-e', 'print(#..., (...):byte(1, -1))', 'é\\"\n0'])
    expect(r.stdout).toBe('6\t195\t169\t92\t34\t10\t48\n')
  })
})

describe('run: where the program comes from', () => {
  it('reads a piped program from stdin without -, and with - gives arg[0] = "-"', async () => {
    expect(await cli(['run'], { stdin: 'print(arg[0], arg[-1], select("#", ...))' })).toMatchObject({
      code: 0,
      stdout: 'nil\trun\t0\n',
    })
    expect((await cli(['run', '-', 'a'], { stdin: 'print(arg[0], ...)' })).stdout).toBe('-\ta\n')
  })

  it('with -e, every operand is an argument', async () => {
    const r = await cli(['run', '-e', 'print(arg[0], arg[-2], ...)', 'a', 'b'])
    expect(r).toMatchObject({ code: 0, stdout: 'nil\t-e\ta\tb\n' })
  })

  it('skips a #! first line, keeping line numbers', async () => {
    const file = script('shebang.lua', '#!/usr/bin/env -S bioxen-luavm run\nprint("hi")\nerror("at 3")\n')
    const r = await cli(['run', file])
    expect(r).toMatchObject({ code: 1, stdout: 'hi\n' })
    expect(r.stderr).toContain(`${file}:3: at 3`)
    expect(await cli(['run'], { stdin: '# comment\nprint(1)' })).toMatchObject({ code: 0, stdout: '1\n' })
  })
})

describe('luaString', () => {
  it('writes every byte as plain ASCII', () => {
    expect(luaString('a"\\\n1é')).toBe('"a\\034\\092\\0101\\195\\169"')
    expect(luaString(new Uint8Array([0, 255]))).toBe('"\\000\\255"')
  })
})
