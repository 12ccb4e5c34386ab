import { describe, expect, it } from 'vitest'
import { cli } from './helpers.js'

// With --json, every error is one JSON object on stdout, nothing on stderr.
describe('--json errors', () => {
  const shape = (tag: string, message: RegExp | string) => ({
    error: {
      tag,
      message: typeof message === 'string' ? message : expect.stringMatching(message),
      hint: expect.any(String),
    },
  })

  it.each([
    ['a parse error', ['run', '--json', '--frobnicate'], 'UsageError', "unknown option '--frobnicate'"],
    [
      'a missing file',
      ['run', '--json', '/nonexistent/x.lua'],
      'UsageError',
      "file '/nonexistent/x.lua' does not exist",
    ],
    [
      'an unknown backend',
      ['run', '--backend', 'nope', '--json', '-e', '1'],
      'BackendNotFoundError',
      /^unknown backend type 'nope'/,
    ],
    ['a missing argument', ['pkg', 'install', '--json'], 'UsageError', "missing required argument 'name'"],
    ['an unknown environment', ['env', 'delete', 'nope', '--json'], 'InvalidArgumentError', /no environment 'nope'/],
  ])('%s', async (_what, argv, tag, message) => {
    const r = await cli(argv)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(2)
    expect(r.stdout.endsWith('\n')).toBe(true)
    expect(r.stdout.trim().split('\n')).toHaveLength(1)
    expect(JSON.parse(r.stdout)).toEqual(shape(tag, message))
  })

  it('a script argument --json is the script’s, not a request for JSON', async () => {
    const r = await cli(['run', '/nonexistent/x.lua', '--json'])
    expect(r).toMatchObject({ code: 2, stdout: '' })
    expect(r.stderr).toMatch(/^error: file '\/nonexistent\/x.lua' does not exist\n/)
  })
})

describe('did you mean', () => {
  it('for an unknown command and subcommand', async () => {
    expect((await cli(['rnu'])).stderr).toMatch(/^error: unknown command 'rnu' \(did you mean 'run'\?\)\n/)
    expect((await cli(['pkg', 'instal', 'x'])).stderr).toMatch(
      /^error: unknown command 'instal' \(did you mean 'install'\?\)\n/,
    )
    expect((await cli(['frobnicate'])).stderr).toMatch(/^error: unknown command 'frobnicate'\n/)
  })

  it('for an unknown backend, and config validate catches an unknown defaultBackend', async () => {
    expect((await cli(['run', '--backend', 'fengri', '-e', '1'])).stderr).toMatch(
      /^error: unknown backend type 'fengri' \(did you mean 'fengari'\?\); registered: /,
    )
    const r = await cli(['config', 'validate', '--json'], { env: { LUAVM_BACKEND: 'wsam' } })
    expect(r.code).toBe(2)
    expect(JSON.parse(r.stdout)).toEqual({
      valid: false,
      problems: [expect.stringMatching(/^defaultBackend: no backend 'wsam' is registered \(did you mean 'wasm'\?\)/)],
    })
  })
})
