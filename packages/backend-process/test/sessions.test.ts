import { InteractiveSessionError, VMManager } from '@bioxen-luavm/core'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { childPids, PID_LUA, settledChildren, vmTracker } from './helpers.js'

const vms = vmTracker()
afterEach(() => vms.stopAll())
afterAll(async () => {
  expect(await settledChildren()).toEqual({ pids: [], groups: [] })
})

describe.each(['persistent', 'pool', 'oneshot'])('REPL sessions in %s mode', (mode) => {
  it('behaves like lua.c without a terminal', async () => {
    const vm = await vms.create({ mode })
    const s = await vm.openSession()
    expect(await s.sendInput('1 + 1')).toMatchObject({ status: 'complete', output: '2\n', values: [2] })
    expect((await s.sendInput('x = 42')).output).toBe('')
    expect((await s.sendInput('= x')).output).toBe('42\n')
    expect((await s.sendInput('print("The answer is:", x)')).output).toBe('The answer is:\t42\n')
    expect((await s.sendInput('function fib(n)')).status).toBe('incomplete')
    expect((await s.sendInput('  if n < 2 then return n end')).status).toBe('incomplete')
    expect((await s.sendInput('  return fib(n - 1) + fib(n - 2)')).status).toBe('incomplete')
    expect((await s.sendInput('end')).status).toBe('complete')
    expect((await s.sendInput('fib(10)')).output).toBe('55\n')
    const boom = await s.sendInput('error("boom")')
    expect(boom.status).toBe('error')
    expect(boom.output).toMatch(/^chunk:1: boom\n/)
    expect(s.state).toBe('open')
    expect((await s.sendInput('x + 1')).output).toBe('43\n')
    // Output is clean: no echo, prompts, CR or escape sequences anywhere.
    const all = await s.readOutput()
    expect(all).not.toMatch(/\r|\x1b|^> |^>> /m)
    await s.close()
    await expect(s.sendInput('1')).rejects.toBeInstanceOf(InteractiveSessionError)
  })

  it('a session whose Lua exited errors on the next input; the VM carries on', async () => {
    const vm = await vms.create({ mode })
    const s = await vm.openSession()
    await s.sendInput('y = 1')
    const exit = await s.sendInput('print("bye") os.exit(0)')
    expect(exit.status).toBe('complete')
    expect(s.state).toBe('dead')
    const error = await s.sendInput('y').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InteractiveSessionError)
    expect((error as Error).message).toMatch(/dead/)
    expect((await vm.execute('return 7')).values).toEqual([7])
    const fresh = await vm.openSession()
    expect((await fresh.sendInput('1 + 2')).output).toBe('3\n')
    await fresh.close()
  })

  it('a soft timeout keeps the session; a hard kill ends it', async () => {
    const vm = await vms.create({ mode })
    const s = await vm.openSession({ timeoutMs: 200 })
    await s.sendInput('z = 5')
    expect((await s.sendInput('while true do end')).status).toBe('timeout')
    expect((await s.sendInput('z')).output).toBe('5\n')
    expect((await s.sendInput('os.execute("sleep 5")')).status).toBe('timeout')
    expect(s.state).toBe('dead')
    await expect(s.sendInput('z')).rejects.toBeInstanceOf(InteractiveSessionError)
  })
})

describe('session state and workers', () => {
  it('in pool mode a session stays on one worker while other executions run', async () => {
    const vm = await vms.create({ mode: 'pool', poolSize: 2 })
    const s = await vm.openSession()
    await s.sendInput(`${PID_LUA} session_pid = pid`)
    const busy = Promise.all(
      [1, 2, 3, 4].map(() => vm.execute('local t = os.clock() while os.clock() - t < 0.05 do end')),
    )
    for (let i = 0; i < 5; i++) {
      expect((await s.sendInput(`${PID_LUA} return pid == session_pid`)).values).toEqual([true])
    }
    await busy
    await s.close()
  })

  it('a oneshot session has a private process that goes away with the session', async () => {
    const vm = await vms.create({ mode: 'oneshot' })
    const before = childPids().length
    const s = await vm.openSession()
    await s.sendInput('a = 1')
    expect((await s.sendInput('a')).output).toBe('1\n')
    expect(childPids().length).toBe(before + 1)
    await s.close()
    expect(childPids().length).toBe(before)
    // Executions outside the session do not see its state.
    expect((await vm.execute('return a')).values).toEqual([null])
  })

  it('streams output to listeners and readOutput', async () => {
    const vm = await vms.create()
    const s = await vm.openSession()
    const seen: string[] = []
    s.onOutput((chunk) => seen.push(chunk))
    await s.sendInput('for i = 1, 3 do print("line " .. i) end')
    expect(seen.join('')).toBe('line 1\nline 2\nline 3\n')
    expect(await s.readOutput({ until: 'line 2\n' })).toBe('line 1\nline 2\n')
    expect(await s.readOutput()).toBe('line 3\n')
    await s.close()
  })
})

describe('VMManager interactive sessions (the original acceptance flow)', () => {
  it('attach, detach and reattach keep the state; the session survives errors', async () => {
    await using manager = new VMManager({ registry: vms.registry, defaultBackend: 'process' })
    const outputs: string[] = []
    await manager.createInteractiveVM('interactive', {
      config: { luaExecutable: 'lua5.4' },
      onOutput: (c) => outputs.push(c),
    })
    await manager.sendInput('interactive', 'x = 42')
    expect((await manager.sendInput('interactive', "print('The answer is:', x)")).output).toBe('The answer is:\t42\n')
    manager.detach('interactive')
    await manager.attach('interactive')
    expect((await manager.sendInput('interactive', 'x * 2')).output).toBe('84\n')
    expect((await manager.sendInput('interactive', 'error("bad")')).status).toBe('error')
    expect((await manager.sendInput('interactive', 'x')).output).toBe('42\n')
    expect(outputs.join('')).toContain('The answer is:\t42\n')
    expect(manager.listSessions()).toEqual([
      expect.objectContaining({ vmId: 'interactive', attached: true, state: 'open' }),
    ])
    await manager.terminateSession('interactive')
    expect(manager.listVMs()).toEqual([])
  })
})
