import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { root } from './packages.js'
import { Terminal } from './tmux.js'

// The interactive menu in a real terminal: choose wasm, run a chunk, define
// a function across lines, cancel a runaway loop with Ctrl-C, detach while a
// chunk runs and attach again (state and output kept), quit.
describe('interactive menu under tmux', () => {
  let home: string
  let term: Terminal
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'luavm-menu-'))
    term = new Terminal(['node', join(root, 'packages/cli/dist/bin.js')], {
      env: { XDG_CONFIG_HOME: home, XDG_STATE_HOME: home, NO_COLOR: '1' },
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

    // Detach (Ctrl-]) while a chunk prints ticks; it runs on meanwhile.
    term.line('for i = 1, 60 do local t = os.clock() while os.clock() - t < 0.2 do end print("tick " .. i) end')
    await term.waitFor(/^tick 1$/m)
    term.send('C-]')
    await term.waitFor(/detached from VM 'wasm-1'[\s\S]*What do you want to do\?/)
    term.send('Down', 'Down', 'Down', 'Enter') // List VMs
    await term.waitFor(/wasm-1\s+wasm\s+running\s+Lua 5\.4\s+\d+\s+detached, running/)
    await new Promise((r) => setTimeout(r, 1500)) // let the chunk print while no one is attached

    term.send('Down', 'Enter') // Attach to a detached session
    await term.waitFor('Attach to which session?')
    term.send('Enter')
    const attached = await term.waitFor(/\[output while detached\]\ntick \d+/)
    expect(attached.match(/Ctrl-C cancels/g)?.length).toBe(2)
    term.send('C-c') // cancels the chunk it attached to
    await term.waitFor(/tick \d+\n(?:.*\n)*.*cancel/i)
    term.line('print("sq(12) = " .. sq(12))')
    await term.waitFor(/^sq\(12\) = 144$/m) // the session kept its state

    term.line('.exit')
    await term.waitFor(/\.exit\n[\s\S]*What do you want to do\?/)
    term.send('Up', 'Enter') // the list wraps: Up from the first item is Quit
    const last = await term.waitFor('stopped 1 VM(s)')
    expect(last).not.toMatch(/error:/)
    for (let i = 0; i < 50 && !term.exited(); i++) await new Promise((r) => setTimeout(r, 100))
    expect(term.exited()).toBe(true)
  })

  it('the repl command on a terminal recalls the lines of earlier runs (Up)', async () => {
    const history = join(home, 'bioxen-luavm', 'repl_history')
    expect(readFileSync(history, 'utf8')).toContain('print("sq(12) = " .. sq(12))\n')
    expect(statSync(history).mode & 0o777).toBe(0o600)
    term.kill()
    term = new Terminal(['node', join(root, 'packages/cli/dist/bin.js'), 'repl', '--backend', 'process'], {
      env: { XDG_CONFIG_HOME: home, XDG_STATE_HOME: home, NO_COLOR: '1' },
    })
    await term.waitFor(/Ctrl-C cancels, Ctrl-D or \.exit leaves/)
    term.line('function sq(x) return x * x end')
    term.send('Up', 'Up', 'Enter') // the menu run's last line, before this one
    await term.waitFor(/^sq\(12\) = 144$/m)
    term.send('C-d')
    for (let i = 0; i < 50 && !term.exited(); i++) await new Promise((r) => setTimeout(r, 100))
    expect(term.exited()).toBe(true)
  })
})
