import { describe, expect, it } from 'vitest'
import {
  type CommandRunner,
  InvalidArgumentError,
  LuarocksInstaller,
  luarocksArgv,
  PackageError,
  parseLuarocksList,
  validatePackageName,
  validatePackageVersion,
} from '../src/index.js'

describe('luarocks argv', () => {
  it('pins the Lua version and tree, and uses only the given servers', () => {
    expect(
      luarocksArgv({ luaVersion: '5.4', tree: '/t', servers: ['/rocks', 'https://r.example'] }, 'install', ['x']),
    ).toEqual([
      'luarocks',
      '--lua-version',
      '5.4',
      '--tree',
      '/t',
      '--only-server=/rocks',
      '--server=https://r.example',
      'install',
      'x',
    ])
    expect(luarocksArgv({ luaVersion: '5.1', tree: '/t' }, 'list')).toEqual([
      'luarocks',
      '--lua-version',
      '5.1',
      '--tree',
      '/t',
      'list',
    ])
    expect(() => luarocksArgv({ luaVersion: '6.0', tree: '/t' }, 'list')).toThrow(PackageError)
  })

  it('refuses names and versions that could be flags or paths', () => {
    for (const bad of ['--server=evil', '../x', 'a b', '', 'x;rm', '-x'])
      expect(() => validatePackageName(bad)).toThrow(InvalidArgumentError)
    for (const good of ['bio_compute', 'lua-cjson', 'lua.x', 'LPeg2']) expect(validatePackageName(good)).toBe(good)
    for (const bad of ['--force', '1 2', '']) expect(() => validatePackageVersion(bad)).toThrow(InvalidArgumentError)
    for (const good of ['0.1.0-1', '3.0rc1-2', '1.0']) expect(validatePackageVersion(good)).toBe(good)
  })
})

describe('parseLuarocksList', () => {
  it('reads porcelain lines and never counts a header', () => {
    const out = 'bio_compute\t0.1.0-1\tinstalled\t/t/lib/luarocks/rocks-5.4\ninspect\t3.1.3-0\tinstalled\t/t\n'
    expect(parseLuarocksList(out)).toEqual([
      { name: 'bio_compute', version: '0.1.0-1', status: 'installed', tree: '/t/lib/luarocks/rocks-5.4' },
      { name: 'inspect', version: '3.1.3-0', status: 'installed', tree: '/t' },
    ])
    expect(parseLuarocksList('')).toEqual([])
    expect(parseLuarocksList('Rocks installed for Lua 5.4 in /t\n---\n')).toEqual([])
  })
})

describe('LuarocksInstaller over a runner', () => {
  function runner(
    replies: Record<string, { exitCode: number; stdout?: string; stderr?: string }>,
  ): CommandRunner & { calls: string[][] } {
    const calls: string[][] = []
    return {
      calls,
      async run(argv) {
        calls.push([...argv])
        const cmd = argv.find((a) => ['install', 'list', 'show', 'remove'].includes(a)) as string
        const r = replies[cmd] ?? { exitCode: 0 }
        return { exitCode: r.exitCode, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
      },
    }
  }

  it('installs, then reports version and modules', async () => {
    const r = runner({
      list: { exitCode: 0, stdout: 'bio_compute\t0.1.0-1\tinstalled\t/t\n' },
      show: { exitCode: 0, stdout: 'bio_compute\n' },
    })
    const result = await new LuarocksInstaller(r, { luaVersion: '5.4', tree: '/t' }).install('bio_compute', {
      version: '0.1.0-1',
    })
    expect(result).toMatchObject({
      name: 'bio_compute',
      version: '0.1.0-1',
      success: true,
      location: '/t',
      modules: ['bio_compute'],
    })
    expect(r.calls[0]?.slice(-3)).toEqual(['install', 'bio_compute', '0.1.0-1'])
  })

  it("quotes luarocks' own message in the PackageError", async () => {
    const r = runner({
      install: { exitCode: 1, stderr: 'Warning: x\nError: No results matching query were found for Lua 5.4.\n' },
    })
    await expect(new LuarocksInstaller(r, { luaVersion: '5.4', tree: '/t' }).install('nope')).rejects.toThrow(
      /installing 'nope' failed: Error: No results matching query/,
    )
  })
})
