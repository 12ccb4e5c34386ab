// Output that leaves the interpreter while a chunk runs: the runtime pushes
// its buffer on a timer, on io.stdout:flush() and before os.execute/os.exit,
// and the worker keeps what arrived when the process does not survive the
// chunk. No timing assertions: "while it runs" is shown by a chunk that
// cannot finish until the host has seen its output (a gate file).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { brief, processesWithCmdline, settledChildren, vmTracker } from './helpers.js'

const vms = vmTracker()
const dir = mkdtempSync(join(tmpdir(), 'luavm-streaming-'))
afterEach(() => vms.stopAll())
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true })
  expect(await settledChildren(), 'no interpreter or child of one survives this file').toEqual({ pids: [], groups: [] })
})

const MODES = [
  { mode: 'persistent' },
  { mode: 'oneshot' },
  { mode: 'oneshot', prespawn: false },
  { mode: 'pool', poolSize: 2 },
] as const

let gates = 0
const uniqueSleep = () => `7${Math.floor(Math.random() * 9)}.${Date.now() % 100000}${Math.floor(Math.random() * 1000)}`

/**
 * A gate: Lua code that spins until the file exists (or ~4 s passed, so a
 * broken stream fails the assertion instead of hanging) and leaves the
 * local `gated` true when it was let through, and `open()`, called by the
 * host once it saw the output it waits for.
 */
function gate() {
  const path = join(dir, `gate-${++gates}`)
  return {
    lua: `local gated local t = os.time() + 4 repeat gated = io.open(${JSON.stringify(path)}) ~= nil until gated or os.time() >= t`,
    open: () => writeFileSync(path, ''),
  }
}

describe.each(MODES)('streamed output (%o)', (config) => {
  it('a hard timeout keeps what was printed before a blocking call', async () => {
    const vm = await vms.create(config)
    const sleep = uniqueSleep()
    const r = await vm.execute(`print("partial") io.write("more") os.execute("sleep ${sleep}")`, { timeoutMs: 300 })
    expect(r.status, brief(r)).toBe('timeout')
    expect(r.stdout).toBe('partial\nmore')
    expect(processesWithCmdline(`sleep ${sleep}`)).toEqual([])
  })

  it('os.exit(0) delivers what was printed before it', async () => {
    const vm = await vms.create(config)
    const chunks: string[] = []
    const r = await vm.execute('print("bye") io.write("z") io.stderr:write("e") os.exit(0)', {
      onStdout: (c) => chunks.push(c),
    })
    expect(r.status, brief(r)).toBe('ok')
    expect(r.stdout).toBe('bye\nz')
    expect(r.stderr).toBe('e')
    expect(chunks.join('')).toBe('bye\nz')
    expect((await vm.execute('return 1')).values).toEqual([1])
  })

  it('onStdout receives output flushed by io.stdout:flush() before the chunk ends', async () => {
    const vm = await vms.create(config)
    const g = gate()
    let seen = ''
    const r = await vm.execute(`io.write("a") io.write("b") io.stdout:flush() ${g.lua} io.write("c") return gated`, {
      echoReturnValues: false,
      onStdout: (c) => {
        seen += c
        if (seen === 'ab') g.open()
      },
    })
    expect(r.status, brief(r)).toBe('ok')
    expect(r.values, 'the host saw "ab" while the chunk waited for it').toEqual([true])
    expect(r.stdout).toBe('abc')
  })

  it('onStdout receives output of a chunk that prints and then computes (time-based flush)', async () => {
    const vm = await vms.create(config)
    const g = gate()
    let seen = ''
    const r = await vm.execute(`io.write("a") io.write("b") ${g.lua} return gated`, {
      echoReturnValues: false,
      onStdout: (c) => {
        seen += c
        if (seen === 'ab') g.open()
      },
    })
    expect(r.values, 'the count hook pushed "b" while the chunk was running').toEqual([true])
    expect(r.stdout).toBe('ab')
  })

  it('a child process writes to stderr, never into the frame channel', async () => {
    const vm = await vms.create(config)
    const r = await vm.execute(
      'os.execute("echo x") local p = io.popen("cat", "w") p:write("y\\n") p:close() ' +
        'return io.popen("echo r"):read("*a")',
      { echoReturnValues: false },
    )
    expect(r.status, brief(r)).toBe('ok')
    expect(r.stderr).toBe('x\ny\n')
    expect(r.stdout).toBe('')
    // A read-mode popen keeps its pipe.
    expect(r.values).toEqual(['r\n'])
  })
})

describe('sandboxes granted os or io', () => {
  it('route child output to stderr and flush before exiting', async () => {
    const os = await vms.create({ sandbox: true, grants: ['os'] })
    expect((await os.execute('os.execute("echo granted")')).stderr).toBe('granted\n')
    const io = await vms.create({ sandbox: true, grants: ['io'] })
    const p = await io.execute('local p = io.popen("cat", "w") p:write("piped\\n") p:close()')
    expect(p).toMatchObject({ status: 'ok', stdout: '', stderr: 'piped\n' })
    const bye = await os.execute('print("bye") io.write("z") os.exit(0)')
    expect(bye).toMatchObject({ status: 'ok', stdout: 'bye\nz' })
  })
})

describe('without the soft deadline', () => {
  it('a process kill keeps what the chunk printed before looping', async () => {
    const vm = await vms.create({ softDeadline: false })
    const r = await vm.execute('print("started") while true do end', { timeoutMs: 300 })
    expect(r.status, brief(r)).toBe('timeout')
    expect(r.stdout).toBe('started\n')
  })
})
