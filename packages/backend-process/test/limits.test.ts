import { execFile } from 'node:child_process'
import { mkdtempSync, readlinkSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { ConfigError } from '@bioxen-luavm/core'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { clearInterpreterCache } from '../src/index.js'
import { brief, PID_LUA, processesWithCmdline, settledChildren, vmTracker } from './helpers.js'

const vms = vmTracker()
afterEach(() => vms.stopAll())
afterAll(async () => {
  expect(await settledChildren(), 'no interpreter or child of one survives this file').toEqual({ pids: [], groups: [] })
})

const uniqueSleep = () => `6${Math.floor(Math.random() * 9)}.${Date.now() % 100000}${Math.floor(Math.random() * 1000)}`

describe('deadlines', () => {
  it('the soft deadline (runtime hook) keeps the state', async () => {
    const vm = await vms.create()
    await vm.execute('x = 41')
    const r = await vm.execute('while true do end', { timeoutMs: 200 })
    expect(r.status, brief(r)).toBe('timeout')
    expect((await vm.execute('return x + 1')).values).toEqual([42])
    expect((await vm.getStatus()).restarts).toBe(0)
  })

  it('a deadline inside os.execute kills the whole group: no sleep survives, the worker restarts', async () => {
    for (const mode of ['persistent', 'oneshot', 'pool']) {
      const vm = await vms.create({ mode })
      await vm.execute('x = 1')
      const sleep = uniqueSleep()
      const r = await vm.execute(`print("before") os.execute("sleep ${sleep}") print("after")`, { timeoutMs: 300 })
      expect(r.status, `${mode}: ${brief(r)}`).toBe('timeout')
      expect(r.exitCode).toBe(3)
      expect(processesWithCmdline(`sleep ${sleep}`), `${mode}: sleep children left`).toEqual([])
      const after = await vm.execute('return x')
      expect(after.status, `${mode} still executes`).toBe('ok')
      if (mode === 'persistent') {
        // The hard kill cost the state, and the VM says so.
        expect(after.values).toEqual([null])
        expect((await vm.getStatus()).restarts).toBe(1)
      }
    }
  })

  it('a long C call (pattern matching) is stopped by the hard layer', async () => {
    const vm = await vms.create()
    const r = await vm.execute('local s = ("a"):rep(30000) return s:find(".-.-.-.-b$")', { timeoutMs: 300 })
    expect(r.status, brief(r)).toBe('timeout')
    expect((await vm.execute('return 2')).values).toEqual([2])
  })

  it('cancelling kills the group and reports killed', async () => {
    const vm = await vms.create()
    const sleep = uniqueSleep()
    const controller = new AbortController()
    const pending = vm.execute(`os.execute("sleep ${sleep}")`, { signal: controller.signal, timeoutMs: 30_000 })
    for (let i = 0; i < 100 && processesWithCmdline(`sleep ${sleep}`).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(processesWithCmdline(`sleep ${sleep}`).length, 'the sleep started').toBeGreaterThan(0)
    controller.abort()
    const r = await pending
    expect(r.status, brief(r)).toBe('killed')
    expect(processesWithCmdline(`sleep ${sleep}`)).toEqual([])
    expect((await vm.execute('return 3')).values).toEqual([3])
  })
})

describe('memory', () => {
  it('a per-execution limit gives status memory and the persistent state survives', async () => {
    const vm = await vms.create()
    await vm.execute('kept = "yes"')
    const r = await vm.execute('local s = string.rep("x", 2^28) return #s', { memoryLimitBytes: 32 * 1024 * 1024 })
    expect(r.status, brief(r)).toBe('memory')
    expect(r.exitCode).toBe(3)
    // Without a limit the next execution may allocate again.
    expect((await vm.execute('return #string.rep("x", 2^26), kept')).values).toEqual([2 ** 26, 'yes'])
    expect((await vm.getStatus()).restarts).toBe(0)
  })

  it('a VM-level limit is a ceiling executions cannot lift', async () => {
    const vm = await vms.create({ memoryLimitBytes: '32MB' })
    const r = await vm.execute('local s = string.rep("x", 2^27) return #s', { memoryLimitBytes: 1024 ** 3 })
    expect(r.status, brief(r)).toBe('memory')
    expect((await vm.execute('return #string.rep("x", 2^20)')).values).toEqual([2 ** 20])
  })

  it('oneshot processes start under the limit', async () => {
    const vm = await vms.create({ mode: 'oneshot' })
    const r = await vm.execute('local t = {} for i = 1, 1e8 do t[i] = ("x"):rep(64) .. i end', {
      memoryLimitBytes: 16 * 1024 * 1024,
    })
    expect(r.status, brief(r)).toBe('memory')
  })

  it('without prlimit, memory limits are refused with a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'luavm-noprlimit-'))
    symlinkSync('/usr/bin/lua5.4', join(dir, 'lua5.4'))
    const saved = process.env.PATH
    process.env.PATH = dir
    clearInterpreterCache()
    try {
      const error = await vms.create({ memoryLimitBytes: '64MB' }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as Error).message).toMatch(/prlimit/)
      const vm = await vms.create()
      expect((await vm.getStatus()).details).toMatchObject({ prlimit: expect.stringMatching(/not found/) })
      await expect(vm.execute('return 1', { memoryLimitBytes: 1 << 26 })).rejects.toThrow(/prlimit/)
    } finally {
      process.env.PATH = saved
      clearInterpreterCache()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('output', () => {
  it('is exact: never trimmed, NUL bytes kept', async () => {
    const vm = await vms.create()
    const r = await vm.execute('io.write("  lead\\n\\n  trail  \\n\\n") io.stderr:write(" e\\0x ")')
    expect(r.stdout).toBe('  lead\n\n  trail  \n\n')
    expect(r.stderr).toBe(' e\0x ')
  })

  it('raw stderr of child processes is captured and counts against the cap', async () => {
    const vm = await vms.create()
    const raw = await vm.execute('os.execute("printf raw-err >&2") os.execute("echo to-stdout") return 1')
    expect(raw.status, brief(raw)).toBe('ok')
    // The interpreter's stdout is the frame channel: a child's stdout goes to stderr instead of corrupting it.
    expect(raw.stderr).toBe('raw-errto-stdout\n')
    const cut = await vm.execute('os.execute("printf 0123456789 >&2")', { maxOutputBytes: 5 })
    expect(cut).toMatchObject({ status: 'output-limit', truncated: true, stderr: '01234' })
    const flood = await vm.execute('os.execute("yes >&2")', { maxOutputBytes: 100_000, timeoutMs: 10_000 })
    expect(flood.status, brief(flood)).toBe('output-limit')
    expect(Buffer.byteLength(flood.stdout) + Buffer.byteLength(flood.stderr)).toBeLessThanOrEqual(100_000)
    expect(processesWithCmdline('yes')).not.toContain(expect.anything())
    expect((await vm.execute('return 4')).values).toEqual([4])
  })
})

describe('isolation', () => {
  it('the environment is scrubbed to an allowlist plus config', async () => {
    process.env.LUAVM_TEST_SECRET = 'hunter2'
    process.env.LUA_PATH_5_4 = '/evil/?.lua'
    try {
      const vm = await vms.create({ env: ['EXTRA_VAR=from config'], luaPath: '/opt/rocks/?.lua;;' })
      const r = await vm.execute(
        'return os.getenv("LUAVM_TEST_SECRET"), os.getenv("LUA_PATH_5_4"), os.getenv("EXTRA_VAR"), os.getenv("LUA_PATH"), os.getenv("PATH") ~= nil',
        { echoReturnValues: false },
      )
      // The VM's package tree comes first (see installPackage), then the configured path.
      expect(r.values).toEqual([
        null,
        null,
        'from config',
        expect.stringMatching(/\/share\/lua\/5\.4\/\?\/init\.lua;\/opt\/rocks\/\?\.lua;;$/),
        true,
      ])
    } finally {
      delete process.env.LUAVM_TEST_SECRET
      delete process.env.LUA_PATH_5_4
    }
  })

  it('the host stdin is never readable', async () => {
    for (const mode of ['persistent', 'oneshot']) {
      const vm = await vms.create({ mode })
      const r = await vm.execute(`${PID_LUA} return io.read("*l"), io.read("*a"), io.stdin:read("*l"), pid`, {
        echoReturnValues: false,
      })
      expect(r.values.slice(0, 3), mode).toEqual([null, '', null])
      if (mode === 'persistent') {
        // fd 0 of the interpreter is our frame channel (libuv uses a socketpair), not the host's stdin.
        const childStdin = readlinkSync(`/proc/${r.values[3]}/fd/0`)
        expect(childStdin).toMatch(/^(pipe|socket):/)
        let hostStdin = ''
        try {
          hostStdin = readlinkSync('/proc/self/fd/0')
        } catch {}
        expect(childStdin).not.toBe(hostStdin)
      }
    }
  })

  it('code travels in frames: any size, NUL bytes, invisible in ps', async () => {
    for (const mode of ['oneshot', 'persistent']) {
      const vm = await vms.create({ mode })
      const marker = `MARKER_${Math.random().toString(36).slice(2)}`
      const big = `-- ${marker}\nlocal s = "${'x'.repeat(1_000_000)}"\nlocal z = "a\0b"\n${PID_LUA}\nos.execute("sleep 0.3")\nreturn #s, #z, pid`
      const pending = vm.execute(big, { echoReturnValues: false })
      await new Promise((r) => setTimeout(r, 150))
      expect(processesWithCmdline(marker), `${mode}: code visible in a command line`).toEqual([])
      const r = await pending
      expect(r.status, brief(r)).toBe('ok')
      expect(r.values.slice(0, 2)).toEqual([1_000_000, 3])
    }
  })

  it('sandbox: true runs the sandbox prelude in the native interpreter', async () => {
    const vm = await vms.create({ sandbox: true })
    const r = await vm.execute(
      'return type(os.execute), type(io.open), type(debug), type(string.dump), type(os.getenv), type(require), type(os.clock)',
      { echoReturnValues: false },
    )
    expect(r.values).toEqual(['nil', 'nil', 'nil', 'nil', 'nil', 'function', 'function'])
    expect((await vm.getStatus()).details).toMatchObject({ sandbox: true })
    expect(vm.capabilities.sandboxed).toBe(true)
    const granted = await vms.create({ sandbox: true, grants: ['os'] })
    const g = await granted.execute('os.execute("echo granted") return type(os.execute)', { echoReturnValues: false })
    expect(g.values).toEqual(['function'])
    expect(g.stderr).toBe('granted\n')
  })
})

describe('cleanup', () => {
  it('stop() leaves no process behind, in every mode', async () => {
    for (const mode of ['persistent', 'oneshot', 'pool']) {
      const vm = await vms.create({ mode, poolSize: 3 })
      const session = await vm.openSession()
      await session.sendInput('x = 1')
      await vm.execute(`os.execute("sleep ${uniqueSleep()} &")`)
      await vm.stop()
    }
    expect(await settledChildren()).toEqual({ pids: [], groups: [] })
  })

  it('a host that exits without stopping its VMs leaves nothing running (exit hook)', async () => {
    const marker = uniqueSleep()
    const runner = resolve(__dirname, '../../../scripts/run-ts.mjs')
    const fixture = resolve(__dirname, 'fixtures/exit-without-stop.ts')
    const stdout = await new Promise<string>((done, fail) => {
      execFile(process.execPath, [runner, fixture, marker], { timeout: 30_000 }, (error, out, err) =>
        error ? fail(new Error(`${error.message}\n${err}`)) : done(out),
      )
    })
    const { pids } = JSON.parse(stdout.trim().split('\n').at(-1) as string) as { pids: number[] }
    expect(pids.length).toBe(1)
    await new Promise((r) => setTimeout(r, 100))
    expect(processesWithCmdline(`sleep ${marker}`), 'sleep children of the dead host').toEqual([])
    for (const pid of pids) expect(processesWithCmdline(String(pid)).filter((p) => p === pid)).toEqual([])
  })
})
