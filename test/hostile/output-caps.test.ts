/**
 * Hostile corpus, class "output caps" (guarantees issue, points 4 and 8):
 * `maxOutputBytes` bounds everything that leaves the VM together — stdout,
 * stderr, the error message and traceback, the returned values — counted in
 * bytes; and on the pipe driver a result bigger than a frame can carry ends
 * as a typed status naming its size, not as a broken channel.
 */
import { spawn } from 'node:child_process'
import { shutdownWorkers } from '@bioxen-luavm/backend-wasm'
import { runCliInMemory } from '@bioxen-luavm/cli'
import { type BaseLuaVM, BOOTSTRAP_LUA, DriverConnection, type ExecResult } from '@bioxen-luavm/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { guardHost, HOSTILE_KINDS, startVM } from './support/host-guard.js'

const CAP = 1024
const bytes = (s: string | undefined) => Buffer.byteLength(s ?? '')
/** Every byte of a result that came out of the VM. */
const leftVM = (r: ExecResult) =>
  bytes(r.stdout) +
  bytes(r.stderr) +
  bytes(r.error?.message) +
  bytes(r.error?.traceback) +
  bytes(JSON.stringify(r.values)) -
  2

afterAll(async () => {
  await shutdownWorkers()
})

describe.each(HOSTILE_KINDS)('output caps: $name', (kind) => {
  let vm: BaseLuaVM
  beforeAll(async () => {
    vm = await startVM(kind)
  })
  afterAll(async () => {
    await vm?.stop()
  })

  it('error(string.rep("E", 2^21)) under a 1 KB cap delivers at most 1 KB of message, truncated', async () => {
    const guard = guardHost()
    const r = await vm.execute('error(string.rep("E", 2^21))', { maxOutputBytes: CAP })
    const host = guard.stop()
    expect(r.status).toBe('error')
    expect(r.truncated).toBe(true)
    expect(r.error?.message).toMatch(/^chunk:1: E+$/)
    expect(leftVM(r)).toBeLessThanOrEqual(CAP)
    expect(host.maxLoopDelayMs).toBeLessThan(1_000)
  })

  it('output and the error message share one cap', async () => {
    const r = await vm.execute('io.write(string.rep("o", 1000)) error(string.rep("E", 2^21), 0)', {
      maxOutputBytes: CAP,
    })
    expect(r.status).toBe('error')
    expect(r.stdout).toBe('o'.repeat(1000))
    expect(r.error?.message).toBe('E'.repeat(CAP - 1000))
    expect(r.truncated).toBe(true)
  })

  it('a huge traceback counts too', async () => {
    const name = 'f'.repeat(5000)
    const r = await vm.execute(
      `${name} = function(n) if n == 0 then error("deep") end return (${name}(n - 1)) end ${name}(100)`,
      { maxOutputBytes: CAP },
    )
    expect(r.status).toBe('error')
    expect(r.truncated).toBe(true)
    expect(r.error?.message).toContain('deep')
    expect(leftVM(r)).toBeLessThanOrEqual(CAP)
  })

  it('an error object whose __tostring returns megabytes is cut', async () => {
    const r = await vm.execute('error(setmetatable({}, {__tostring = function() return string.rep("T", 2^21) end}))', {
      maxOutputBytes: CAP,
    })
    expect(r.status).toBe('error')
    expect(bytes(r.error?.message)).toBe(CAP)
    expect(r.truncated).toBe(true)
  })

  it('a syntax error quoting a huge token is cut', async () => {
    const r = await vm.execute(`return 1 ${'a'.repeat(100_000)}`, { maxOutputBytes: CAP })
    expect(r.status).toBe('error')
    expect(r.error?.kind).toBe('syntax')
    expect(leftVM(r)).toBeLessThanOrEqual(CAP)
  })

  it('returned values share the cap with output: over it is output-limit naming sizes', async () => {
    const r = await vm.execute('io.write(string.rep("o", 1000)) return string.rep("v", 100)', {
      maxOutputBytes: CAP,
      echoReturnValues: false,
    })
    expect(r.status).toBe('output-limit')
    expect(r.stdout).toBe('o'.repeat(1000))
    expect(r.values).toEqual([])
    expect(r.error?.message).toMatch(
      /at least \d+ bytes as JSON, over the 24 bytes left of the output limit of 1024 bytes/,
    )
    expect(leftVM(r) - bytes(r.error?.message)).toBeLessThanOrEqual(CAP)
  })

  it('a small error under a small cap is untouched', async () => {
    const r = await vm.execute('error("boom")', { maxOutputBytes: CAP })
    expect(r).toMatchObject({ status: 'error', truncated: false })
    expect(r.error?.message).toBe('chunk:1: boom')
  })
})

describe('the CLI: run --json --max-output 1KB prints a bounded JSON', () => {
  const huge = 'local t = {} for i = 1, 1e5 do t[i] = string.rep("x", 100) end return t'
  it.each(['wasm', 'fengari', 'process'])('on %s, a huge returned table', async (backend) => {
    const r = await runCliInMemory(['run', '--backend', backend, '--json', '--max-output', '1KB', '-e', huge], {
      env: { XDG_CONFIG_HOME: '/nonexistent-luavm-test' },
    })
    expect(r.stdout.length).toBeLessThan(8 * 1024)
    const result = JSON.parse(r.stdout) as ExecResult
    expect(result.status).toBe('output-limit')
    expect(r.code).toBe(3)
  })

  it.each(['wasm', 'process'])('on %s, error(string.rep("E", 2^21)) without --json', async (backend) => {
    const r = await runCliInMemory(
      ['run', '--backend', backend, '--max-output', '1KB', '-e', 'error(string.rep("E", 2^21))'],
      { env: { XDG_CONFIG_HOME: '/nonexistent-luavm-test' } },
    )
    expect(r.code).toBe(1)
    expect(r.stdout.length + r.stderr.length).toBeLessThan(2 * 1024)
  })
})

describe('the pipe driver keeps within the frame limit of its host (lua5.4)', () => {
  const MAX_FRAME = 64 * 1024
  let conn: DriverConnection
  let child: ReturnType<typeof spawn>
  beforeAll(async () => {
    child = spawn('lua5.4', ['-e', BOOTSTRAP_LUA], { stdio: ['pipe', 'pipe', 'pipe'] })
    conn = new DriverConnection({ write: (b) => child.stdin?.write(b) }, { maxFrameBytes: MAX_FRAME })
    child.stdin?.on('error', () => {})
    child.stdout?.on('data', (chunk: Buffer) => conn.receive(chunk))
    child.on('close', () => conn.close('driver exited'))
    await conn.init()
  })
  afterAll(() => {
    child.kill('SIGKILL')
  })

  it('a result bigger than a frame is output-limit naming its size; the channel survives', async () => {
    const r = await conn.exec('return string.rep("x", 200000)', { maxOutputBytes: 1 << 20, echo: false })
    expect(r.status).toBe('output-limit')
    expect(r.error?.message).toMatch(
      /at least \d+ bytes as JSON, over the \d+ bytes a result of this backend can carry/,
    )
    expect(conn.dead).toBe(false)
    expect((await conn.exec('return 1 + 1', { echo: false })).values).toEqual([2])
  })

  it('an error message bigger than a frame is cut to fit', async () => {
    const r = await conn.exec('error(string.rep("\\1", 200000), 0)', { maxOutputBytes: 1 << 20 })
    expect(r.status).toBe('error')
    expect(r.truncated).toBe(true)
    expect(conn.dead).toBe(false)
  })

  it('output bigger than a frame is split into frames and arrives whole', async () => {
    const r = await conn.exec('io.write(string.rep("y", 300000))', { maxOutputBytes: 1 << 20 })
    expect(r.status).toBe('ok')
    expect(r.stdout).toBe('y'.repeat(300000))
    expect(conn.dead).toBe(false)
  })
})
