import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { oneLine } from '../src/lib/errors.js'
import { cli } from './helpers.js'

// Every error is one `error: …` line and one `hint: …` line on stderr,
// nothing on stdout — also the ones commander reports while parsing.
describe('usage errors', () => {
  it('a parse error names the help of the command typed', async () => {
    expect(await cli(['run', '--frobnicate', '-e', 'print(1)'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "error: unknown option '--frobnicate'\nhint: `bioxen-luavm run --help` shows usage and examples\n",
    })
    expect(await cli(['pkg', 'install'])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "error: missing required argument 'name'\nhint: `bioxen-luavm pkg install --help` shows usage and examples\n",
    })
  })

  it('an unknown command, and no command off a terminal', async () => {
    expect(await cli(['frobnicate'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "error: unknown command 'frobnicate'\nhint: `bioxen-luavm --help` lists the commands\n",
    })
    expect(await cli([])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'error: no command given (the interactive menu needs a terminal)\nhint: `bioxen-luavm --help` lists the commands\n',
    })
  })

  it('a bad flag value gets a hint too', async () => {
    const r = await cli(['run', '--timeout', 'soon', '-e', 'print(1)'])
    expect(r).toMatchObject({ code: 2, stdout: '' })
    expect(r.stderr).toMatch(
      /^error: --timeout must be a number of milliseconds above 0 and at most 2147483647 [^\n]*, got "soon"\nhint: \S[^\n]*\n$/,
    )
  })

  // The same rule as the API's (core checkLimits): nothing runs, exit 2, one line naming the flag.
  it.each([
    ['--timeout', '2147483648'],
    ['--timeout', 'Infinity'],
    ['--timeout', 'NaN'],
    ['--timeout', '-5'],
    ['--timeout', '0'],
    ['--timeout', '1e400'],
    ['--memory', '0'],
    ['--memory', '-1'],
    ['--memory', '1.5'],
    ['--memory', '99999999TB'],
    ['--max-output', '-1'],
    ['--max-output', '2.5'],
    ['--max-output', 'NaN'],
  ])('%s %s is refused before anything runs', async (flag, value) => {
    const r = await cli(['run', `${flag}=${value}`, '-e', 'print("ran")'])
    expect(r).toMatchObject({ code: 2, stdout: '' })
    expect(r.stderr).toMatch(new RegExp(`^error: ${flag} (must be|expects) [^\\n]*\\nhint: [^\\n]+\\n$`))
  })

  it('the largest values work; a fractional --timeout is rounded up', async () => {
    for (const args of [
      ['--timeout', '2147483647'],
      ['--timeout', '1500.5'],
      ['--memory', '9007199254740991'],
      ['--max-output', '9007199254740991'],
    ]) {
      expect(await cli(['run', ...args, '-e', 'print("ran")']), args.join(' ')).toEqual({
        code: 0,
        stdout: 'ran\n',
        stderr: '',
      })
    }
  })

  it('a config error listing several problems is still one line', async () => {
    const r = await cli(['xcpng', 'check'])
    expect(r).toMatchObject({ code: 2, stdout: '' })
    expect(r.stderr).toMatch(
      /^error: invalid config: backends\.xcpng\.xapi_url: required[^\n]*; backends\.xcpng\.username: required[^\n]*\nhint: [^\n]+\n$/,
    )
  })

  it('a command group without its command names the commands it takes', async () => {
    expect(await cli(['pkg'])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "error: 'bioxen-luavm pkg' needs a command: search, profiles, install, remove, list\n" +
        'hint: `bioxen-luavm pkg --help` shows usage and examples\n',
    })
    for (const group of ['env', 'xcpng', 'config']) {
      const r = await cli([group])
      expect(r).toMatchObject({ code: 2, stdout: '' })
      expect(r.stderr).toMatch(new RegExp(`^error: 'bioxen-luavm ${group}' needs a command: \\w+(, \\w+)+\\nhint: `))
    }
    expect((await cli(['pkg', 'nosuch'])).stderr).toMatch(/^error: unknown command 'nosuch'\n/)
    expect(await cli(['pkg', 'help', 'search'])).toEqual(await cli(['pkg', 'search', '--help']))
  })

  it('oneLine joins a message and its listed problems', () => {
    expect(oneLine('invalid config:\n  a: bad\n  b: worse\n')).toBe('invalid config: a: bad; b: worse')
    expect(oneLine('just one line')).toBe('just one line')
  })
})

describe('help', () => {
  it('help COMMAND is COMMAND --help; the root help has examples', async () => {
    const viaFlag = await cli(['run', '--help'])
    expect(await cli(['help', 'run'])).toEqual(viaFlag)
    const root = await cli(['--help'])
    expect(root.code).toBe(0)
    expect(root.stdout).toMatch(/\nExamples:\n {2}\$ bioxen-luavm /)
    expect(root.stdout).not.toContain('(default: [])')
  })
})

describe('run with a plugin that does not stream', () => {
  const plugin = join(import.meta.dirname, 'fixtures', 'quiet-plugin.ts')

  it('still shows the output the result carries, once', async () => {
    expect(await cli(['--plugin', plugin, 'run', '--backend', 'quiet', '-e', 'print(1)'])).toEqual({
      code: 0,
      stdout: 'quiet ran 8 bytes\n',
      stderr: 'quiet warning\n',
    })
    expect(await cli(['--plugin', plugin, 'run', '--backend', 'quiet', '-e', 'error()'])).toEqual({
      code: 1,
      stdout: 'partial',
      stderr: '\nquiet: boom\n',
    })
  })
})

describe('config show --json', () => {
  it('prints the same document on one line', async () => {
    const r = await cli(['config', 'show', '--json'])
    expect(r).toEqual({
      code: 0,
      stdout: '{"defaultBackend":"wasm","plugins":[],"limits":{},"backends":{}}\n',
      stderr: '',
    })
  })
})
