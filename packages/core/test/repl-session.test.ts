import { afterEach, describe, expect, it } from 'vitest'
import type { BaseLuaVM } from '../src/contract/base-vm.js'
import { InteractiveSessionError, InvalidArgumentError, VMTimeoutError } from '../src/errors/index.js'
import { ReplSession } from '../src/manager/repl-session.js'
import { type DriverTestVM, driverTestBackend, liveDriverPids, stateReached } from './fixtures/driver-backend.js'

const vms: BaseLuaVM[] = []
let counter = 0

async function startVM(): Promise<DriverTestVM> {
  const impl = await driverTestBackend.load()
  const vm = impl.createVM({ id: `repl-${++counter}`, type: 'test-driver', config: {} }) as DriverTestVM
  vms.push(vm)
  await vm.start()
  return vm
}

afterEach(async () => {
  await Promise.allSettled(vms.splice(0).map((vm) => vm.stop({ force: true })))
  expect(liveDriverPids()).toEqual([])
})

describe('ReplSession: framing', () => {
  it('echoes expressions, prints, and keeps globals', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm)
    expect(session.vmId).toBe(vm.id)
    expect(session.id).toMatch(/^session-/)
    expect(await session.sendInput('1 + 1')).toMatchObject({
      status: 'complete',
      output: '2\n',
      stdout: '2\n',
      values: [2],
    })
    expect((await session.sendInput('print("hi")')).output).toBe('hi\n')
    await session.sendInput('x = 41')
    expect((await session.sendInput('x + 1')).output).toBe('42\n')
    expect((await session.sendInput('= x')).output).toBe('41\n')
    await session.close()
  })

  it('keeps an unfinished chunk and runs it when complete', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm)
    expect(await session.sendInput('function add(a, b)\n')).toMatchObject({ status: 'incomplete', output: '' })
    expect(session.hasPendingInput).toBe(true)
    expect(await session.sendInput('  local s = a + b')).toMatchObject({ status: 'incomplete' })
    expect(await session.sendInput('return s end')).toMatchObject({ status: 'complete', output: '' })
    expect(session.hasPendingInput).toBe(false)
    expect((await session.sendInput('add(40, 2)')).output).toBe('42\n')
    await session.close()
  })

  it('clearPendingInput drops an unfinished chunk', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm)
    await session.sendInput('for i = 1, 3 do')
    session.clearPendingInput()
    expect((await session.sendInput('print("fresh")')).output).toBe('fresh\n')
    await session.close()
  })

  it('runs several lines sent at once', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm)
    const reply = await session.sendInput('local a = 20\nlocal b = 22\nprint(a + b)')
    expect(reply).toMatchObject({ status: 'complete', output: '42\n' })
    await session.close()
  })

  it('formats Lua errors like lua.c and stays alive', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm)
    const boom = await session.sendInput('error("boom")')
    expect(boom.status).toBe('error')
    expect(boom.output).toBe('chunk:1: boom\n')
    expect(boom.error).toMatchObject({ kind: 'runtime', line: 1 })
    const syntax = await session.sendInput('x = = 1')
    expect(syntax.status).toBe('error')
    expect(syntax.output).toMatch(/^chunk:1: .*near '='\n$/)
    expect(session.state).toBe('open')
    expect((await session.sendInput('1 + 2')).output).toBe('3\n')
    await session.close()
  })

  it('uses its chunkName in error messages', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm, { chunkName: 'stdin' })
    expect((await session.sendInput('error("boom")')).output).toBe('stdin:1: boom\n')
    await session.close()
  })

  it('puts stdout before stderr in the reply output', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm)
    const reply = await session.sendInput('io.stderr:write("E") io.write("O")')
    expect(reply).toMatchObject({ output: 'OE', stdout: 'O', stderr: 'E', status: 'complete' })
    await session.close()
  })

  it('runs inputs one at a time in arrival order', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm)
    const replies = await Promise.all([
      session.sendInput('function f()'),
      session.sendInput('return "from f" end'),
      session.sendInput('f()'),
      ...Array.from({ length: 5 }, (_, i) => session.sendInput(`print("n${i}")`)),
    ])
    expect(replies.map((r) => r.status)).toEqual(['incomplete', ...Array(7).fill('complete')])
    expect(replies.map((r) => r.output)).toEqual(['', '', 'from f\n', 'n0\n', 'n1\n', 'n2\n', 'n3\n', 'n4\n'])
    await session.close()
  })

  it('treats blank input as a no-op', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm)
    expect(await session.sendInput('  \n')).toMatchObject({ status: 'complete', output: '' })
    await expect(session.sendInput(5 as unknown as string)).rejects.toBeInstanceOf(InvalidArgumentError)
    await session.close()
  })

  it('reports timeouts, output limits and cancels, and survives them', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm, { timeoutMs: 200, maxOutputBytes: 5 })
    const timeout = await session.sendInput('while true do end')
    expect(timeout.status).toBe('timeout')
    expect(timeout.output).toMatch(/timed out/)
    const capped = await session.sendInput('print("0123456789")')
    expect(capped.status).toBe('output-limit')
    expect(capped.stdout).toBe('01234')
    expect(capped.output).toContain('[output truncated')
    const controller = new AbortController()
    const pending = session.sendInput('while true do end', { signal: controller.signal, timeoutMs: 20_000 })
    setTimeout(() => controller.abort(), 100)
    const killed = await pending
    expect(killed.status).toBe('killed')
    expect(session.state).toBe('open')
    expect((await session.sendInput('1')).output).toBe('1\n')
    await session.close()
  })
})

describe('ReplSession: output delivery', () => {
  it('feeds listeners and the read buffer exactly once', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm)
    const heard: string[] = []
    const off = session.onOutput((c) => heard.push(c))
    session.onOutput(() => {
      throw new Error('a broken listener')
    })
    await session.sendInput('print("one")')
    await session.sendInput('error("two")')
    off()
    await session.sendInput('print("three")')
    expect(heard.join('')).toBe('one\nchunk:1: two\n')
    expect(await session.readOutput()).toBe('one\nchunk:1: two\nthree\n')
    expect(await session.readOutput()).toBe('')
    await session.close()
  })

  it('readOutput({ until }) returns up to the match and keeps the rest', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm)
    await session.sendInput('print("a") print("READY") print("b")')
    expect(await session.readOutput({ until: 'READY' })).toBe('a\nREADY')
    expect(await session.readOutput()).toBe('\nb\n')
    await session.sendInput('print("x1") print("x2")')
    const pattern = /x\d\n/g
    expect(await session.readOutput({ until: pattern })).toBe('x1\n')
    expect(await session.readOutput({ until: pattern })).toBe('x2\n')
    await session.close()
  })

  it('readOutput({ until }) waits for output that comes later', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm)
    const waiting = session.readOutput({ until: 'late', timeoutMs: 10_000 })
    await session.sendInput('print("early")')
    await session.sendInput('print("late")')
    expect(await waiting).toBe('early\nlate')
    await session.close()
  })

  it('readOutput({ until }) rejects with VMTimeoutError when the text never comes', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm)
    await session.sendInput('print("something else")')
    const error = await session.readOutput({ until: 'never', timeoutMs: 50 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(VMTimeoutError)
    expect((error as Error).message).toContain(session.id)
    expect(await session.readOutput()).toBe('something else\n')
    await session.close()
  })

  it('readOutput({ until }) rejects when the session closes or the signal aborts', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm)
    const controller = new AbortController()
    const aborted = session.readOutput({ until: 'x', signal: controller.signal })
    controller.abort()
    await expect(aborted).rejects.toBeInstanceOf(InteractiveSessionError)
    const waiting = session.readOutput({ until: 'never' })
    await session.close()
    await expect(waiting).rejects.toThrow(/closed/)
    await expect(session.readOutput({ until: '' })).rejects.toBeInstanceOf(InvalidArgumentError)
  })
})

describe('ReplSession: end of life', () => {
  it('close is idempotent and makes input reject with the session named', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm, { id: 'my-session' })
    await session.close()
    await session.close()
    expect(session.state).toBe('closed')
    const error = await session.sendInput('1').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InteractiveSessionError)
    expect((error as Error).message).toContain("'my-session'")
    expect((error as Error).message).toContain('closed')
    expect((await vm.execute('return 1')).values).toEqual([1])
  })

  it('close cancels the running input and rejects the queued ones', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm, { timeoutMs: 20_000 })
    const running = session.sendInput('while true do end')
    const queued = session.sendInput('print("never")')
    setTimeout(() => void session.close(), 100)
    expect((await running).status).toBe('killed')
    await expect(queued).rejects.toBeInstanceOf(InteractiveSessionError)
  })

  it('becomes dead when its lua process dies, and then rejects input', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm)
    expect((await session.sendInput('1')).output).toBe('1\n')
    const failed = stateReached(vm, 'failed')
    process.kill(vm.pid as number, 'SIGKILL')
    await failed
    expect(session.state).toBe('dead')
    const error = await session.sendInput('print("swallowed?")').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InteractiveSessionError)
    expect((error as Error).message).toMatch(new RegExp(`${session.id}.*dead`))
  })

  it('an input running when the process dies rejects, and the session is dead', async () => {
    const vm = await startVM()
    const session = new ReplSession(vm, { timeoutMs: 20_000 })
    const running = session.sendInput('while true do end')
    setTimeout(() => process.kill(vm.pid as number, 'SIGKILL'), 100)
    const error = await running.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InteractiveSessionError)
    expect(session.state).toBe('dead')
    await expect(session.sendInput('1')).rejects.toBeInstanceOf(InteractiveSessionError)
  })

  it('stopping the VM ends the session', async () => {
    const vm = await startVM()
    const session = await vm.openSession()
    await vm.stop()
    expect(session.state).not.toBe('open')
    await expect(session.sendInput('1')).rejects.toBeInstanceOf(InteractiveSessionError)
  })

  it('a session on a VM that is not running is dead from the start', async () => {
    const impl = await driverTestBackend.load()
    const vm = impl.createVM({ id: 'never-started', type: 'test-driver', config: {} })
    const session = new ReplSession(vm)
    expect(session.state).toBe('dead')
    await expect(session.sendInput('1')).rejects.toThrow(/dead/)
  })

  it('await using closes the session', async () => {
    const vm = await startVM()
    let outer: ReplSession | undefined
    {
      await using session = new ReplSession(vm)
      outer = session
      expect((await session.sendInput('2 * 21')).output).toBe('42\n')
    }
    expect(outer.state).toBe('closed')
  })
})
