import { rmSync } from 'node:fs'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { brief, PID_LUA, settledChildren, vmTracker } from './helpers.js'

const vms = vmTracker()
afterEach(() => vms.stopAll())
afterAll(async () => {
  expect(await settledChildren()).toEqual({ pids: [], groups: [] })
})

const pidOf = async (vm: Awaited<ReturnType<typeof vms.create>>, extra = '') =>
  (await vm.execute(`${PID_LUA} ${extra} return pid`, { echoReturnValues: false })).values[0] as number

describe('persistent mode', () => {
  it('keeps one process and its state; reports the interpreter and version', async () => {
    const vm = await vms.create()
    const pid = await pidOf(vm, 'counter = (counter or 0) + 1')
    expect(await pidOf(vm, 'counter = counter + 1')).toBe(pid)
    expect((await vm.execute('return counter')).values).toEqual([2])
    const status = await vm.getStatus()
    expect(status.luaVersion).toBe('Lua 5.4')
    expect(status.details).toMatchObject({
      mode: 'persistent',
      interpreter: { command: 'lua5.4', version: 'Lua 5.4.4' },
    })
  })

  it('replaces a worker that was killed from outside', async () => {
    const vm = await vms.create()
    const pid = await pidOf(vm, 'doomed = true')
    process.kill(pid, 'SIGKILL')
    for (let i = 0; i < 100 && (await vm.getStatus()).restarts === 0; i++) await new Promise((r) => setTimeout(r, 10))
    expect((await vm.getStatus()).restarts).toBe(1)
    const after = await pidOf(vm)
    expect(after).not.toBe(pid)
    expect((await vm.execute('return doomed')).values).toEqual([null])
  })

  it('a Lua error exit of the interpreter is reported and the VM recovers', async () => {
    const vm = await vms.create()
    const r = await vm.execute('os.exit(7)')
    expect(r.status, brief(r)).toBe('error')
    expect(r.error?.message).toMatch(/exited with status 7/)
    expect((await vm.execute('return 1')).values).toEqual([1])
  })
})

describe.each([true, false])('oneshot mode (prespawn %s)', (prespawn) => {
  it('runs every execution in a fresh process', async () => {
    const vm = await vms.create({ mode: 'oneshot', prespawn })
    const a = await pidOf(vm, 'leak = 1')
    const b = await pidOf(vm)
    expect(a).not.toBe(b)
    expect((await vm.execute('return leak')).values).toEqual([null])
    expect(vm.capabilities.persistentState).toBe(false)
    // os.exit(0) is a normal end of a one-shot program.
    expect((await vm.execute('os.exit(0)')).status).toBe('ok')
  })
})

describe('pool mode', () => {
  it('runs executions on several workers at once', async () => {
    const vm = await vms.create({ mode: 'pool', poolSize: 2 })
    // Two chunks that each wait for the other to have started: only possible in parallel.
    const dir = `/tmp/luavm-pool-${process.pid}-${Date.now()}`
    const chunk = (me: string, other: string) => `${PID_LUA}
      local mine = io.open("${dir}-${me}", "w") mine:close()
      local deadline = os.time() + 5
      while os.time() < deadline do
        local f = io.open("${dir}-${other}") if f then f:close() return pid end
        os.execute("sleep 0.01")
      end
      error("the other chunk never ran alongside")`
    const [a, b] = await Promise.all([
      vm.execute(chunk('a', 'b'), { echoReturnValues: false }),
      vm.execute(chunk('b', 'a'), { echoReturnValues: false }),
    ])
    rmSync(`${dir}-a`, { force: true })
    rmSync(`${dir}-b`, { force: true })
    expect(a?.status, a && brief(a)).toBe('ok')
    expect(b?.status, b && brief(b)).toBe('ok')
    expect(a?.values[0]).not.toBe(b?.values[0])
    const details = (await vm.getStatus()).details as { workers: unknown[]; poolSize: number }
    expect(details.poolSize).toBe(2)
    expect(details.workers).toHaveLength(2)
  })

  it('queues more executions than workers in arrival order and replaces killed workers', async () => {
    const vm = await vms.create({ mode: 'pool', poolSize: 2 })
    const order: number[] = []
    const jobs = Array.from({ length: 8 }, (_, i) =>
      vm.execute(`local t = os.clock() while os.clock() - t < 0.01 do end return ${i}`).then((r) => {
        order.push(r.values[0] as number)
        return r
      }),
    )
    const killed = vm.execute('while true do end', { timeoutMs: 100 })
    const results = await Promise.all(jobs)
    expect(results.every((r) => r.status === 'ok')).toBe(true)
    expect((await killed).status).toBe('timeout')
    const hard = await vm.execute('os.execute("sleep 5")', { timeoutMs: 100 })
    expect(hard.status).toBe('timeout')
    // Every queued execution ran, and the pool still has two live workers.
    expect(order.sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    const pids = await Promise.all([1, 2, 3, 4].map(() => pidOf(vm)))
    expect(new Set(pids).size).toBeGreaterThanOrEqual(1)
    expect((await vm.getStatus()).restarts).toBe(1)
  })
})
