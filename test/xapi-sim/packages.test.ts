/**
 * installPackage over SSH: real luarocks on the "guest" (the sshd user),
 * installing from a local rocks server built here (there is no network).
 */
import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { type BaseLuaVM, InvalidArgumentError, PackageError } from '@bioxen-luavm/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Env, startEnv } from './fixture.js'

const run = promisify(execFile)
let env: Env
let dir: string
let server: string
let vm: BaseLuaVM

/** A rocks server directory with one pure-Lua rock, readable by the test user. */
async function buildRockServer(): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'luavm-rocks-'))
  const src = join(dir, 'src', 'luavmtestrock-1.0')
  const srv = join(dir, 'server')
  await mkdir(src, { recursive: true })
  await mkdir(srv, { recursive: true })
  await writeFile(join(src, 'luavmtestrock.lua'), 'return { answer = 42 }\n')
  await writeFile(
    join(dir, 'luavmtestrock-1.0-1.rockspec'),
    [
      'package = "luavmtestrock"',
      'version = "1.0-1"',
      `source = { url = "file://${dir}/luavmtestrock-1.0.tar.gz", dir = "luavmtestrock-1.0" }`,
      'description = { summary = "a rock for the xcpng backend tests" }',
      'build = { type = "builtin", modules = { luavmtestrock = "luavmtestrock.lua" } }',
      '',
    ].join('\n'),
  )
  await run('tar', ['-czf', join(dir, 'luavmtestrock-1.0.tar.gz'), '-C', join(dir, 'src'), 'luavmtestrock-1.0'])
  // A .src.rock carries the sources, so installing never writes next to them.
  await run('luarocks', ['pack', join(dir, 'luavmtestrock-1.0-1.rockspec')], { cwd: srv })
  await run('luarocks-admin', ['make-manifest', srv])
  await run('chmod', ['-R', 'a+rX', dir])
  await chmod(dir, 0o755)
  return srv
}

beforeAll(async () => {
  env = await startEnv()
  server = await buildRockServer()
  vm = await env.registry.create('xcpng', 'rocks-1', env.config({ grants: ['require'] }), { logger: env.logger })
})

afterAll(async () => {
  try {
    await vm?.stop()
    expect(env.sim.leaks()).toEqual([])
  } finally {
    await env?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  }
})

describe('installPackage over SSH', () => {
  it('installs a rock with luarocks into the guest tree, and require finds it', async () => {
    const result = await vm.installPackage('luavmtestrock', { servers: [server] })
    expect(result).toMatchObject({ name: 'luavmtestrock', version: '1.0-1', success: true, modules: ['luavmtestrock'] })
    expect(result.location).toBe('.luavm/rocks')
    expect((await vm.execute('return require("luavmtestrock").answer')).values).toEqual([42])
  })

  it('pins a version (and still takes a single `server`)', async () => {
    const result = await vm.installPackage('luavmtestrock', { server, version: '1.0-1' })
    expect(result.version).toBe('1.0-1')
  })

  it('a rock that does not exist is a PackageError with luarocks’ words', async () => {
    const error = await vm.installPackage('no-such-rock', { server }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(PackageError)
    expect((error as Error).message).toMatch(/no-such-rock/)
  })

  // The guest's processes, without the driver watchdog's `sleep 1`, which
  // comes and goes every second.
  const guestCommands = async () => {
    const out: number[] = []
    for (const pid of await env.sshd.userProcesses()) {
      const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => 'gone')
      if (comm.trim() !== 'sleep' && comm !== 'gone') out.push(pid)
    }
    return out
  }

  it.each([
    ['a shell metacharacter', 'x; touch /tmp/pwned'],
    ['a leading dash', '--server=evil'],
    ['a quote', "x'y"],
    ['a space', 'two words'],
  ])('refuses a name with %s before anything runs on the guest', async (_what, name) => {
    const before = await guestCommands()
    await expect(vm.installPackage(name)).rejects.toBeInstanceOf(InvalidArgumentError)
    expect(await guestCommands()).toEqual(before)
  })

  it('refuses a bad version', async () => {
    await expect(vm.installPackage('luavmtestrock', { version: '1.0 && id' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
  })
})
