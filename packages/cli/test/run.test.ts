import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { version } from '../src/index.js'
import { cli } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'luavm-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('bioxen-luavm run', () => {
  it('streams stdout exactly and exits 0', async () => {
    const r = await cli(['run', '-e', 'io.write("  a  \\n") print(1, nil)'])
    expect(r).toMatchObject({ code: 0, stdout: '  a  \n1\tnil\n', stderr: '' })
  })

  it('echoes returned values like the Lua REPL', async () => {
    expect((await cli(['run', '-e', 'return 2 + 2'])).stdout).toBe('4\n')
  })

  it('runs a file and names it in errors, exit 1', async () => {
    const file = join(dir, 'bad.lua')
    writeFileSync(file, 'local x = 1\nerror("boom")\n')
    const r = await cli(['run', file])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`${file}:2: boom`)
  })

  it('reads the program from stdin with -', async () => {
    const r = await cli(['run', '-'], { stdin: 'print(("ab"):rep(2))' })
    expect(r).toMatchObject({ code: 0, stdout: 'abab\n' })
  })

  it('prints exactly one JSON object with --json', async () => {
    const r = await cli(['run', '--json', '-e', 'print("x") return 1, "two"'])
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines).toHaveLength(1)
    const result = JSON.parse(lines[0] as string)
    expect(result).toMatchObject({ status: 'ok', stdout: 'x\n1\ttwo\n', values: [1, 'two'], backend: 'wasm' })
  })

  it('exits 1 on a syntax error with the error kind in JSON', async () => {
    const r = await cli(['run', '--json', '-e', 'x = = 1'])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout).error).toMatchObject({ kind: 'syntax', line: 1 })
  })

  it('exits 3 on timeout', async () => {
    const r = await cli(['run', '--timeout', '200', '-e', 'while true do end'])
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('deadline')
  })

  it('exits 3 on the output cap and cuts to the byte', async () => {
    const r = await cli(['run', '--json', '--max-output', '5', '-e', 'print("hello world")'])
    expect(r.code).toBe(3)
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'output-limit', stdout: 'hello', truncated: true })
  })

  it('exits 3 on the memory cap', async () => {
    const r = await cli([
      'run',
      '--json',
      '--memory',
      '16MB',
      '-e',
      'local t = {} for i = 1, 1e8 do t[i] = ("x"):rep(100) .. i end',
    ])
    expect(r.code).toBe(3)
    expect(JSON.parse(r.stdout).status).toBe('memory')
  })

  it('--memory on a backend that cannot enforce it: exit 2 before any VM starts', async () => {
    const r = await cli(['run', '--backend', 'fengari', '--memory', '16MB', '-e', 'print(1)'])
    expect(r).toMatchObject({ code: 2, stdout: '' })
    expect(r.stderr).toBe(
      "error: --memory: backend 'fengari' cannot enforce a memory cap\n" +
        'hint: `bioxen-luavm backends` shows which backends enforce memoryLimit (wasm and process do)\n',
    )
  })

  it('runs on the fengari backend when asked', async () => {
    const r = await cli(['run', '--json', '--backend', 'fengari', '-e', 'return _VERSION'])
    expect(JSON.parse(r.stdout)).toMatchObject({ backend: 'fengari', values: ['Lua 5.3'] })
  })

  it('exits 2 with one line and a hint on usage errors', async () => {
    const unknown = await cli(['run', '--backend', 'nope', '-e', 'print(1)'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/unknown backend type 'nope'; registered: wasm, fengari/)
    expect(unknown.stderr).toContain('hint:')
    expect((await cli(['run'])).code).toBe(2)
    expect((await cli(['run', '--timeout', 'soon', '-e', 'x=1'])).code).toBe(2)
    expect((await cli(['run', join(dir, 'missing.lua')])).stderr).toContain('does not exist')
    expect((await cli(['run', '-e', '   '])).code).toBe(2)
  })

  it('prints its version and help', async () => {
    expect((await cli(['--version'])).stdout.trim()).toBe(version)
    const help = await cli(['run', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('Exit status: 0 ok')
  })
})
