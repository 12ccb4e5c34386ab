import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectXapi, destroyGuest, OWNER_KEY } from '@bioxen-luavm/backend-xcpng'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Env, SIM_PASSWORD, startEnv } from '../xapi-sim/fixture.js'
import { root } from './packages.js'
import { Terminal } from './tmux.js'

// Quitting the menu keeps only the XCP-ng VMs the user picks: two VMs from a
// saved profile (the simulator and a real sshd), keep one, and the other is
// destroyed; the kept one runs on without its owner tag, so `reap` leaves it.
describe('interactive menu: keeping an XCP-ng VM at quit', () => {
  let env: Env
  let home: string
  let term: Terminal | undefined
  beforeAll(async () => {
    env = await startEnv()
    home = mkdtempSync(join(tmpdir(), 'luavm-menu-xcpng-'))
    mkdirSync(join(home, 'bioxen-luavm'))
    const profiles = { sim: { backend: 'xcpng', config: env.config() } }
    writeFileSync(join(home, 'bioxen-luavm', 'profiles.json'), JSON.stringify(profiles), { mode: 0o600 })
  })
  afterAll(async () => {
    term?.kill()
    await env?.stop()
    if (home) rmSync(home, { recursive: true, force: true })
  })

  it('keeps the chosen VM running and untagged, destroys the other', async () => {
    term = new Terminal(['node', join(root, 'packages/cli/dist/bin.js')], {
      env: { XDG_CONFIG_HOME: home, NO_COLOR: '1', LUAVM_HISTORY_FILE: '' },
    })
    for (const n of [1, 2]) {
      await term.waitFor(new RegExp(`(What do you want to do\\?[\\s\\S]*){${n}}`))
      term.send('Up', 'Up', 'Enter') // Create a VM from a saved profile (second from the end)
      await term.waitFor(/Which profile\?/)
      term.send('Enter')
      await term.waitFor(`VM 'xcpng-${n}' is running Lua 5.4`)
    }
    await term.waitFor(/(What do you want to do\?[\s\S]*){3}/)
    term.send('Enter') // Open a Lua REPL
    await term.waitFor('REPL on which VM?')
    term.send('Enter')
    await term.waitFor(/VM 'xcpng-1'\) — Ctrl-C cancels/)
    term.line('print(6 * 7)')
    await term.waitFor(/^42$/m)
    term.line('.exit')
    await term.waitFor(/(What do you want to do\?[\s\S]*){4}/)

    term.send('Up', 'Enter') // Quit
    await term.waitFor('Keep which XCP-ng VMs running after quitting?')
    term.send('Space', 'Enter') // keep the first: xcpng-1
    const screen = await term.waitFor('stopped 1 VM(s)')
    const kept = /kept XCP-ng VM (\S+) \(([0-9a-f-]{36})\) running at 127\.0\.0\.1\n {2}reconnect: attach_vm=\2\n/.exec(
      screen,
    )
    expect(kept, screen).not.toBeNull()
    expect(screen).not.toMatch(/error:/)
    for (let i = 0; i < 50 && !term.exited(); i++) await new Promise((r) => setTimeout(r, 100))
    expect(term.exited()).toBe(true)

    const [, name, uuid] = kept as RegExpExecArray
    // Of the VMs the menu created, only the kept one is left.
    expect(env.sim.leaks().filter((l) => l.startsWith('VM '))).toEqual([expect.stringContaining(`(${name})`)])
    const record = env.sim.db.get('VM', env.sim.db.byUuid('VM', uuid as string))
    expect(record.power_state).toBe('Running')
    expect(record.other_config).not.toHaveProperty(OWNER_KEY)
    expect(env.sim.sessions()).toEqual([])
    expect(await env.sshd.userProcesses()).toEqual([])

    const xapi = await connectXapi(env.config())
    try {
      await destroyGuest(xapi, uuid as string, { allowForeign: true })
    } finally {
      await xapi.logout()
    }
    expect(env.sim.leaks()).toEqual([])
  })

  it('asks for missing XCP-ng settings, validates them, and pins the certificate only when told to', async () => {
    const keyFile = join(home, 'id_test')
    writeFileSync(keyFile, env.sshd.privateKey, { mode: 0o600 })
    term?.kill()
    term = new Terminal(['node', join(root, 'packages/cli/dist/bin.js')], {
      env: {
        XDG_CONFIG_HOME: join(home, 'empty'), // no profiles, no config file
        NO_COLOR: '1',
        LUAVM_HISTORY_FILE: '',
        SSH_AUTH_SOCK: '',
        XCPNG_PASSWORD: SIM_PASSWORD, // the recommended place for the secret
        LUAVM_XCPNG_SSH_PORT: String(env.sshd.port),
      },
    })
    await term.waitFor('What do you want to do?')
    term.send('Down', 'Down', 'Enter') // Create a VM
    await term.waitFor('Which backend?')
    term.send('Up', 'Enter') // xcpng, last
    await term.waitFor('XCP-ng settings')
    term.send('Down', 'Enter') // Enter them now
    await term.waitFor('xapi_url')
    term.line('ftp://nowhere')
    await term.waitFor(/xcpng\.xapi_url: does not look right/)
    term.send('C-u')
    term.line(env.sim.url)
    await term.waitFor('username')
    term.line('root')
    await term.waitFor('Which guest?')
    term.send('Enter') // clone a template
    await term.waitFor('template_name')
    term.line('debian-lua')
    await term.waitFor('ssh_user')
    term.line(env.sshd.user)
    await term.waitFor('SSH private key file')
    term.line(keyFile)
    await term.waitFor('SSH host keys be verified?')
    term.send('Enter') // a pinned fingerprint
    await term.waitFor('Host key fingerprint')
    term.line('SHA256:too-short')
    await term.waitFor(/is not a SHA256 fingerprint/)
    term.send('C-u')
    term.line(env.sshd.hostKeyFingerprint)
    const shown = await term.waitFor('Trust this certificate (pin its fingerprint)?')
    expect(shown).toContain(`SHA-256 fingerprint: ${env.sim.fingerprint}`)
    term.send('y', 'Enter')
    await term.waitFor('XAPI: connected (TLS verified, logged in and out)')
    await term.waitFor("VM 'xcpng-1' is running Lua 5.4")

    await term.waitFor(/(What do you want to do\?[\s\S]*){2}/)
    term.send('Up', 'Enter') // Quit
    await term.waitFor('Keep which XCP-ng VMs running after quitting?')
    term.send('Enter') // keep none
    const screen = await term.waitFor('stopped 1 VM(s)')
    expect(screen).not.toContain(SIM_PASSWORD)
    expect(screen).not.toMatch(/error:/)
    for (let i = 0; i < 50 && !term.exited(); i++) await new Promise((r) => setTimeout(r, 100))
    expect(term.exited()).toBe(true)
    expect(env.sim.leaks()).toEqual([])
    expect(env.sim.sessions()).toEqual([])
    expect(await env.sshd.userProcesses()).toEqual([])
  })
})
