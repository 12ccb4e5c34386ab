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
