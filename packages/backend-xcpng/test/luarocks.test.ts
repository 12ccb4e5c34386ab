import { InvalidArgumentError, PackageError } from '@bioxen-luavm/core'
import { describe, expect, it } from 'vitest'
import { installRock, remoteCommand, rockPathEnv, SshCommandRunner } from '../src/packages/remote-luarocks.js'
import type { RunResult, SshConnection } from '../src/ssh/connection.js'

/** An SSH connection that records commands and answers with canned results. */
function fakeSsh(answer: (command: string) => Partial<RunResult> = () => ({})) {
  const commands: string[] = []
  const ssh = {
    run: async (command: string) => {
      commands.push(command)
      return { code: 0, signal: null, stdout: '', stderr: '', truncated: false, ...answer(command) }
    },
  } as unknown as SshConnection
  return { ssh, commands }
}

describe('remote commands', () => {
  it('quote every argument and bound the run with timeout -s KILL', () => {
    expect(remoteCommand(['luarocks', '--tree', 'a b', "it's"], { timeoutMs: 90_000 })).toBe(
      "timeout -s KILL 90 'luarocks' '--tree' 'a b' 'it'\\''s'",
    )
    expect(remoteCommand(['x'], { env: { LUA_PATH: '$(id)' } })).toBe("env LUA_PATH='$(id)' timeout -s KILL 600 'x'")
    expect(() => remoteCommand(['x'], { env: { 'A B': '1' } })).toThrow(PackageError)
  })

  it('explain a guest-side kill and a missing program', async () => {
    const killed = new SshCommandRunner(fakeSsh(() => ({ code: 137 })).ssh)
    expect((await killed.run(['luarocks'], { timeoutMs: 2000 })).stderr).toMatch(/killed on the guest after 2 s/)
    const missing = new SshCommandRunner(fakeSsh(() => ({ code: 127 })).ssh)
    expect((await missing.run(['luarocks'])).stderr).toMatch(/not installed on the guest/)
  })
})

describe('installRock (core LuarocksInstaller over SSH)', () => {
  it('runs luarocks for the guest Lua, tree and servers, then reads version and modules', async () => {
    const { ssh, commands } = fakeSsh((c) =>
      c.includes("'list'")
        ? { stdout: 'lpeg\t1.1.0-1\tinstalled\t/home/u/.luavm/rocks\n' }
        : c.includes("'show'")
          ? { stdout: 'lpeg\nre\n' }
          : {},
    )
    const r = await installRock(ssh, {
      name: 'lpeg',
      version: '1.1.0-1',
      luaVersion: '5.4',
      tree: '~/.luavm/rocks',
      servers: ['/srv/rocks', 'https://mirror.example/rocks'],
    })
    expect(r).toMatchObject({
      name: 'lpeg',
      version: '1.1.0-1',
      success: true,
      modules: ['lpeg', 're'],
      location: '.luavm/rocks',
    })
    expect(commands[0]).toMatch(
      /^timeout -s KILL \d+ 'luarocks' '--lua-version' '5\.4' '--tree' '\.luavm\/rocks' '--only-server=\/srv\/rocks' '--server=https:\/\/mirror\.example\/rocks' 'install' 'lpeg' '1\.1\.0-1'$/,
    )
  })

  it('refuses bad input before anything runs on the guest', async () => {
    const { ssh, commands } = fakeSsh()
    await expect(installRock(ssh, { name: 'x;y', luaVersion: '5.4', tree: 't' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(installRock(ssh, { name: 'x', version: '1 2', luaVersion: '5.4', tree: 't' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(installRock(ssh, { name: 'x', luaVersion: 'unknown', tree: 't' })).rejects.toBeInstanceOf(PackageError)
    await expect(installRock(ssh, { name: 'x', luaVersion: '5.4', tree: '../etc' })).rejects.toBeInstanceOf(
      PackageError,
    )
    expect(commands).toEqual([])
  })

  it('reports luarocks’ own error', async () => {
    const { ssh } = fakeSsh(() => ({ code: 1, stderr: 'Error: No results matching query were found for Lua 5.4.' }))
    await expect(installRock(ssh, { name: 'nope', luaVersion: '5.4', tree: 't' })).rejects.toThrow(
      /No results matching/,
    )
  })

  it('points every Lua version at its own directory of the tree', () => {
    const env = rockPathEnv('~/.luavm/rocks/')
    expect(env.LUA_PATH_5_4).toBe('.luavm/rocks/share/lua/5.4/?.lua;.luavm/rocks/share/lua/5.4/?/init.lua;;')
    expect(env.LUA_CPATH_5_3).toBe('.luavm/rocks/lib/lua/5.3/?.so;;')
    expect(env.LUA_PATH).toContain('/5.1/')
  })
})
