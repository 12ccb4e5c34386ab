import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { root } from './packages.js'
import { Terminal } from './tmux.js'

// The interactive menu in a real terminal: choose wasm, run a chunk, define
// a function across lines, cancel a runaway loop with Ctrl-C, quit.
describe('interactive menu under tmux', () => {
  let home: string
  let term: Terminal
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'luavm-menu-'))
    term = new Terminal(['node', join(root, 'packages/cli/dist/bin.js')], {
      env: { XDG_CONFIG_HOME: home, NO_COLOR: '1' },
    })
  })
  afterAll(() => {
    term?.kill()
    if (home) rmSync(home, { recursive: true, force: true })
  })

  it('walks through a REPL session and quits cleanly', async () => {
    await term.waitFor('What do you want to do?')
    term.send('Enter') // Open a Lua REPL
    await term.waitFor('Which backend?')
    term.send('Enter') // wasm is first
    await term.waitFor(/Ctrl-C cancels/)
    term.line('print(6 * 7)')
    await term.waitFor(/^42$/m)

    term.line('function sq(x)')
    await term.waitFor(/^>>\s*$/m) // tmux trims trailing spaces
    term.line('return x * x')
    term.line('end')
    term.line('sq(9)')
    await term.waitFor(/^81$/m)

    term.line('while true do end')
    await new Promise((r) => setTimeout(r, 500))
    term.send('C-c')
    await term.waitFor(/cancel/i)
    term.line('print("still " .. "alive")')
    await term.waitFor(/still alive$/m) // the typed-ahead line may run right after a prompt

    term.line('.exit')
    await term.waitFor(/What do you want to do\?[\s\S]*What do you want to do\?/)
    term.send('Up', 'Enter') // the list wraps: Up from the first item is Quit
    const last = await term.waitFor('stopped 1 VM(s)')
    expect(last).not.toMatch(/error:/)
    for (let i = 0; i < 50 && !term.exited(); i++) await new Promise((r) => setTimeout(r, 100))
    expect(term.exited()).toBe(true)
  })
})
