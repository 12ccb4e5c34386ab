import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cli } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'luavm-cli-completion-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function has(shell: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${shell}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

async function script(shell: string): Promise<string> {
  const r = await cli(['completion', shell])
  expect(r).toMatchObject({ code: 0, stderr: '' })
  const file = join(dir, `completion.${shell}`)
  writeFileSync(file, r.stdout)
  return file
}

/** What bash completion offers for the words typed (the last one being completed). */
function bashComplete(file: string, words: string[]): string[] {
  const quoted = words.map((w) => `'${w}'`).join(' ')
  const out = execFileSync(
    'bash',
    [
      '-c',
      `source '${file}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _bioxen_luavm; echo "\${COMPREPLY[@]}"`,
    ],
    { encoding: 'utf8' },
  )
  return out.trim().split(/\s+/).filter(Boolean)
}

describe('completion', () => {
  it('bash: valid syntax, completes commands, subcommands and options', async () => {
    const file = await script('bash')
    execFileSync('bash', ['-n', file])
    expect(bashComplete(file, ['bioxen-luavm', 'r'])).toEqual(['run', 'repl'])
    expect(bashComplete(file, ['bioxen-luavm', ''])).toEqual(
      expect.arrayContaining(['run', 'pkg', 'completion', '--config']),
    )
    expect(bashComplete(file, ['bioxen-luavm', '--config', 'f.json', 'pkg', 'in'])).toEqual(['install'])
    expect(bashComplete(file, ['bioxen-luavm', 'run', '--ba'])).toEqual(['--backend'])
    expect(bashComplete(file, ['bioxen-luavm', 'xcpng', 'de'])).toEqual(['destroy'])
  })

  it.runIf(has('zsh'))('zsh: valid syntax', async () => {
    execFileSync('zsh', ['-n', await script('zsh')])
  })

  it.runIf(has('fish'))('fish: valid syntax', async () => {
    execFileSync('fish', ['-n', await script('fish')])
  })

  it('fish and zsh name every command', async () => {
    for (const shell of ['zsh', 'fish']) {
      const r = await cli(['completion', shell])
      for (const c of ['run', 'repl', 'backends', 'config', 'pkg', 'env', 'xcpng', 'completion'])
        expect(r.stdout).toContain(c)
    }
  })

  it('an unknown shell is a usage error', async () => {
    expect(await cli(['completion', 'tcsh'])).toMatchObject({ code: 2, stdout: '' })
  })
})
