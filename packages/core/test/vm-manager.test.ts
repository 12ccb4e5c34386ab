import { readdirSync, readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigManager } from '../src/config/config-manager.js'
import type { BaseLuaVM } from '../src/contract/base-vm.js'
import {
  AttachError,
  BackendNotFoundError,
  BackendUnavailableError,
  ConfigError,
  DetachError,
  InteractiveSessionError,
  InvalidArgumentError,
  SessionAlreadyExistsError,
  SessionNotFoundError,
  VMManagerError,
  VMTimeoutError,
} from '../src/errors/index.js'
import { VMCluster } from '../src/manager/vm-cluster.js'
import { globToRegExp, VMManager } from '../src/manager/vm-manager.js'
import { BackendRegistry } from '../src/registry/backend-registry.js'
import { type DriverTestVM, driverTestBackend, liveDriverPids, stateReached } from './fixtures/driver-backend.js'

const managers: VMManager[] = []

function makeManager(options: ConstructorParameters<typeof VMManager>[0] = {}): VMManager {
  const registry = new BackendRegistry()
  registry.register(driverTestBackend)
  const manager = new VMManager({ registry, defaultBackend: 'test-driver', ...options })
  managers.push(manager)
  return manager
}

/** Lua interpreters that are children of this test process, read from /proc. */
function luaChildren(): number[] {
  const found: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8')
    } catch {
      continue
    }
    // pid (comm) state ppid ...; comm may contain spaces, so split after the last ')'.
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    if (ppid === process.pid && comm.startsWith('lua')) found.push(Number(name))
  }
  return found
}

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.shutdownAll()))
  expect(liveDriverPids()).toEqual([])
})

describe('VMManager: VMs', () => {
  it('creates, finds, describes and removes VMs', async () => {
    const m = makeManager()
    const vm = await m.createVM('a')
    expect(vm.state).toBe('running')
    expect(m.getVM('a')).toBe(vm)
    expect(m.requireVM('a')).toBe(vm)
    expect(m.getVM('zz')).toBeUndefined()
    expect(m.listVMs()).toEqual(['a'])
    expect(m.getVMInfo('a')).toMatchObject({
      id: 'a',
      type: 'test-driver',
      state: 'running',
      luaVersion: 'Lua 5.4',
      interactive: false,
      sessionAttached: false,
      activeJobs: 0,
    })
    expect(m.getVMInfo('zz')).toBeUndefined()
    expect(await m.removeVM('a')).toBe(true)
    expect(vm.state).toBe('stopped')
    expect(await m.removeVM('a')).toBe(false)
    expect(m.listVMs()).toEqual([])
    // The id is free again.
    await m.createVM('a')
    expect(m.listVMs()).toEqual(['a'])
  })

  it('refuses duplicate ids and names unknown ones, saying what to do', async () => {
    const m = makeManager()
    await m.createVM('dup')
    const dup = await m.createVM('dup').catch((e: unknown) => e)
    expect(dup).toBeInstanceOf(VMManagerError)
    expect((dup as Error).message).toMatch(/'dup' already exists.*removeVM/)
    expect(() => m.requireVM('ghost')).toThrow(/VM 'ghost' not found/)
    await expect(m.execute('ghost', 'return 1')).rejects.toBeInstanceOf(VMManagerError)
    expect(() => m.executeAsync('ghost', 'return 1')).toThrow(VMManagerError)
    await expect(m.createVM('')).rejects.toBeInstanceOf(InvalidArgumentError)
  })

  it('concurrent creates of one id: exactly one succeeds', async () => {
    const m = makeManager()
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => m.createVM('race')))
    const ok = outcomes.filter((o) => o.status === 'fulfilled')
    const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected')
    expect(ok).toHaveLength(1)
    expect(failed).toHaveLength(4)
    for (const f of failed) expect(f.reason).toBeInstanceOf(VMManagerError)
    expect(m.listVMs()).toEqual(['race'])
    expect(liveDriverPids()).toHaveLength(1)
  })

  it('unknown backend types fail with BackendNotFoundError and free the id', async () => {
    const m = makeManager()
    await expect(m.createVM('x', { type: 'nope' })).rejects.toBeInstanceOf(BackendNotFoundError)
    await m.createVM('x')
    expect(m.listVMs()).toEqual(['x'])
  })

  it('refuses networked VMs on a backend without networking', async () => {
    const m = makeManager()
    await expect(m.createVM('n', { networked: true })).rejects.toBeInstanceOf(BackendUnavailableError)
    expect(m.listVMs()).toEqual([])
  })

  it('checks declared capabilities before creating anything', async () => {
    const registry = new BackendRegistry()
    registry.register({
      ...driverTestBackend,
      type: 'stateless',
      capabilities: { ...driverTestBackend.capabilities, sessions: false, persistentState: false },
    })
    const m = new VMManager({ registry, defaultBackend: 'stateless' })
    managers.push(m)
    await expect(m.createVM('p', { persistent: true })).rejects.toThrow(/persistentState/)
    await expect(m.createInteractiveVM('i')).rejects.toThrow(/no interactive sessions/)
    expect(m.listVMs()).toEqual([])
    expect(liveDriverPids()).toEqual([])
    await m.createVM('i')
  })

  it('merges config: the ConfigManager section under options.config', async () => {
    const config = new ConfigManager({
      env: {},
      explicit: { backends: { 'test-driver': { interpreter: 'no-such-lua-binary' } } },
    })
    const m = makeManager({ config })
    // The config's bad interpreter is used when the VM sets none...
    await expect(m.createVM('bad')).rejects.toBeInstanceOf(BackendUnavailableError)
    // ...and options.config wins over it.
    const vm = await m.createVM('good', { config: { interpreter: 'lua5.4' } })
    expect(vm.state).toBe('running')
    await expect(m.createVM('typo', { config: { interpreterr: 'lua5.4' } })).rejects.toBeInstanceOf(ConfigError)
    expect(m.listVMs()).toEqual(['good'])
  })

  it('applies default limits from options', async () => {
    const m = makeManager({ limits: { timeoutMs: 150 } })
    await m.createVM('lim')
    const r = await m.execute('lim', 'while true do end')
    expect(r.status).toBe('timeout')
  })
})

describe('VMManager: execution', () => {
  it('execute runs synchronously and returns the result', async () => {
    const m = makeManager()
    await m.createVM('a')
    const r = await m.execute('a', 'print("hi") return 1 + 1')
    expect(r).toMatchObject({ status: 'ok', stdout: 'hi\n2\n', values: [2], backend: 'test-driver' })
    await expect(m.execute('a', '   ')).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(m.execute('a', 'error("x")', { throwOnError: true })).rejects.toMatchObject({
      _tag: 'LuaRuntimeError',
    })
  })

  it('executeAsync returns a job handle that tracks its status', async () => {
    const m = makeManager()
    await m.createVM('a')
    const job = m.executeAsync('a', 'return "done"')
    expect(['pending', 'running']).toContain(job.status)
    expect(job.vmId).toBe('a')
    expect(m.getJob(job.id)).toBe(job)
    const result = await job.promise
    expect(result.values).toEqual(['done'])
    expect(job.status).toBe('done')
    expect(job.result).toBe(result)
    const failing = m.executeAsync('a', 'error("nope")')
    await failing.promise
    expect(failing.status).toBe('failed')
    expect(await m.waitForJob(job.id)).toBe(result)
    expect(m.listJobs({ vmId: 'a' }).map((j) => j.id)).toEqual([job.id, failing.id])
    expect(m.listJobs({ status: 'failed' })).toEqual([failing])
    await expect(m.waitForJob('job-nope')).rejects.toBeInstanceOf(VMManagerError)
  })

  it('50 concurrent jobs on 3 VMs each get their own output', async () => {
    const m = makeManager()
    await Promise.all(['v0', 'v1', 'v2'].map((id) => m.createVM(id)))
    const jobs = Array.from({ length: 50 }, (_, i) =>
      m.executeAsync(`v${i % 3}`, `print("token-${i}") return ${i}`, { echoReturnValues: false }),
    )
    expect(new Set(jobs.map((j) => j.id)).size).toBe(50)
    expect(m.listJobs({ vmId: 'v0' })).toHaveLength(17)
    const results = await Promise.all(jobs.map((j) => j.promise))
    results.forEach((r, i) => {
      expect(r.stdout).toBe(`token-${i}\n`)
      expect(r.values).toEqual([i])
    })
    for (const job of jobs) expect(job.status).toBe('done')
    expect(m.getStats()).toMatchObject({ completedJobs: 50, runningJobs: 0, failedJobs: 0 })
  })

  it('a manager-wide cap still runs every job', async () => {
    const m = makeManager({ maxConcurrentJobs: 2 })
    await Promise.all(['c0', 'c1', 'c2'].map((id) => m.createVM(id)))
    const jobs = Array.from({ length: 9 }, (_, i) => m.executeAsync(`c${i % 3}`, `return ${i}`))
    const results = await Promise.all(jobs.map((j) => j.promise))
    expect(results.map((r) => r.values[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8])
    expect(() => makeManager({ maxConcurrentJobs: 0 })).toThrow(InvalidArgumentError)
  })

  it('cancelJob kills a running job; the next job on the VM still runs', async () => {
    const m = makeManager()
    await m.createVM('a')
    const loop = m.executeAsync('a', 'print("looping") while true do end', { timeoutMs: 20_000 })
    const next = m.executeAsync('a', 'return "after"')
    const queuedCancel = m.executeAsync('a', 'return "never"')
    expect(m.cancelJob(queuedCancel.id)).toBe(true)
    setTimeout(() => m.cancelJob(loop.id), 100)
    expect((await loop.promise).status).toBe('killed')
    expect(loop.status).toBe('cancelled')
    expect((await queuedCancel.promise).status).toBe('killed')
    expect(queuedCancel.status).toBe('cancelled')
    expect((await next.promise).values).toEqual(['after'])
    expect(m.cancelJob(next.id)).toBe(false)
    expect(m.cancelJob('job-unknown')).toBe(false)
    expect(m.getStats()).toMatchObject({ cancelledJobs: 2, completedJobs: 1 })
  })

  it("a caller's AbortSignal cancels the job", async () => {
    const m = makeManager()
    await m.createVM('a')
    const controller = new AbortController()
    const job = m.executeAsync('a', 'while true do end', { signal: controller.signal, timeoutMs: 20_000 })
    setTimeout(() => controller.abort(), 100)
    expect((await job.promise).status).toBe('killed')
    expect(job.status).toBe('cancelled')
    const pre = m.executeAsync('a', 'return 1', { signal: AbortSignal.abort() })
    expect((await pre.promise).status).toBe('killed')
    expect(pre.status).toBe('cancelled')
  })

  it('waitForJob with timeoutMs rejects with VMTimeoutError and leaves the job running', async () => {
    const m = makeManager()
    await m.createVM('a')
    const job = m.executeAsync('a', 'while true do end', { timeoutMs: 20_000 })
    const error = await m.waitForJob(job.id, { timeoutMs: 50 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(VMTimeoutError)
    expect((error as Error).message).toContain('cancelJob')
    expect(job.settled).toBe(false)
    const aborted = await m.waitForJob(job.id, { signal: AbortSignal.abort() }).catch((e: unknown) => e)
    expect(aborted).toBeInstanceOf(VMManagerError)
    expect(job.cancel()).toBe(true)
    expect(job.cancel()).toBe(true)
    expect((await job.promise).status).toBe('killed')
  })

  it('removeVM cancels the VM’s jobs', async () => {
    const m = makeManager()
    await m.createVM('a')
    const job = m.executeAsync('a', 'while true do end', { timeoutMs: 20_000 })
    const queued = m.executeAsync('a', 'return 1')
    await new Promise((r) => setTimeout(r, 50))
    expect(await m.removeVM('a')).toBe(true)
    const settled = await Promise.allSettled([job.promise, queued.promise])
    for (const s of settled) {
      if (s.status === 'fulfilled') expect(s.value.status).toBe('killed')
    }
    expect(job.status).toBe('cancelled')
    expect(queued.status).toBe('cancelled')
  })

  it('a job whose VM died rejects and is failed', async () => {
    const m = makeManager()
    const vm = (await m.createVM('a')) as DriverTestVM
    const job = m.executeAsync('a', 'while true do end', { timeoutMs: 20_000 })
    setTimeout(() => process.kill(vm.pid as number, 'SIGKILL'), 100)
    await expect(job.promise).rejects.toMatchObject({ _tag: 'ProtocolError' })
    expect(job.status).toBe('failed')
    expect(m.getStats().failedJobs).toBe(1)
  })
})

describe('VMManager: interactive sessions', () => {
  it('createInteractiveVM attaches, streams output, and readOutput waits for text', async () => {
    const m = makeManager()
    const heard: string[] = []
    const session = await m.createInteractiveVM('i', { onOutput: (c) => heard.push(c) })
    expect(m.getVMInfo('i')).toMatchObject({ interactive: true, sessionAttached: true, sessionId: session.id })
    expect(await m.sendInput('i', 'x = 6 * 7')).toMatchObject({ status: 'complete', output: '' })
    expect(await m.sendInput('i', 'x')).toMatchObject({ output: '42\n' })
    expect(await m.sendInput('i', 'for i = 1, 2 do')).toMatchObject({ status: 'incomplete' })
    await m.sendInput('i', 'print("line", i) end')
    await m.sendInput('i', 'print("MARK") print("tail")')
    expect(await m.readOutput('i', { until: 'MARK', timeoutMs: 5000 })).toBe('42\nline\t1\nline\t2\nMARK')
    expect(await m.readOutput('i')).toBe('\ntail\n')
    expect(heard.join('')).toBe('42\nline\t1\nline\t2\nMARK\ntail\n')
    const [row] = m.listSessions()
    expect(row).toMatchObject({ vmId: 'i', sessionId: session.id, attached: true, state: 'open' })
    expect(typeof row?.lastActivity).toBe('number')
  })

  it('attach and detach: twice is an error, unknown is SessionNotFoundError, never silent', async () => {
    const m = makeManager()
    await m.createVM('plain')
    const heard: string[] = []
    const session = await m.attach('plain', (c) => heard.push(c))
    await expect(m.attach('plain')).rejects.toBeInstanceOf(AttachError)
    await m.sendInput('plain', 'print("seen")')
    m.detach('plain')
    await m.sendInput('plain', 'print("unseen")')
    expect(heard.join('')).toBe('seen\n')
    expect(() => m.detach('plain')).toThrow(DetachError)
    expect(() => m.detach('ghost')).toThrow(SessionNotFoundError)
    await expect(m.attach('ghost')).rejects.toBeInstanceOf(SessionNotFoundError)
    await expect(m.sendInput('ghost', '1')).rejects.toBeInstanceOf(SessionNotFoundError)
    await expect(m.readOutput('ghost')).rejects.toBeInstanceOf(SessionNotFoundError)
    await expect(m.openSession('plain')).rejects.toBeInstanceOf(SessionAlreadyExistsError)
    // Re-attaching after a detach reuses the same session.
    expect(await m.attach('plain')).toBe(session)
    expect(m.getStats()).toMatchObject({ interactiveSessions: 1, attachedSessions: 1 })
  })

  it('sendInput to a VM without a session says how to get one', async () => {
    const m = makeManager()
    await m.createVM('s')
    const error = await m.sendInput('s', '1').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SessionNotFoundError)
    expect((error as Error).message).toMatch(/attach\('s'\)/)
  })

  it('terminateSession of an interactive VM removes it, so the id can be created again', async () => {
    const m = makeManager()
    const first = await m.createInteractiveVM('again')
    expect(await m.terminateSession('again')).toBe(true)
    expect(first.state).toBe('closed')
    expect(m.listVMs()).toEqual([])
    expect(m.listSessions()).toEqual([])
    const second = await m.createInteractiveVM('again', { autoAttach: false })
    expect(second).not.toBe(first)
    expect((await m.sendInput('again', '1 + 1')).output).toBe('2\n')
    expect(await m.terminateSession('nothing-here')).toBe(false)
  })

  it('terminateSession of a plain VM keeps the VM', async () => {
    const m = makeManager()
    await m.createVM('keep')
    await m.attach('keep')
    expect(await m.terminateSession('keep')).toBe(true)
    expect(m.listVMs()).toEqual(['keep'])
    expect((await m.execute('keep', 'return 1')).values).toEqual([1])
    await m.attach('keep')
    expect((await m.sendInput('keep', '3')).output).toBe('3\n')
  })

  it('a dead session rejects input with a typed error and cannot be attached', async () => {
    const m = makeManager()
    await m.createInteractiveVM('d', { autoAttach: false })
    const vm = m.requireVM('d') as DriverTestVM
    const failed = stateReached(vm, 'failed')
    process.kill(vm.pid as number, 'SIGKILL')
    await failed
    const error = await m.sendInput('d', 'print("lost?")').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InteractiveSessionError)
    expect((error as Error).message).toMatch(/dead/)
    expect(m.listSessions()[0]?.state).toBe('dead')
    await expect(m.attach('d')).rejects.toBeInstanceOf(AttachError)
    expect(m.getStats().interactiveSessions).toBe(0)
    // Terminating frees the id even though the VM failed.
    expect(await m.terminateSession('d')).toBe(true)
    await m.createInteractiveVM('d')
  })
})

describe('VMManager: clusters', () => {
  it('creates, broadcasts, waits, reports status and cleans up, with failing members', async () => {
    const m = makeManager()
    const cluster = await m.createCluster('c', 3)
    expect(cluster).toBeInstanceOf(VMCluster)
    expect(cluster.vmIds).toEqual(['c_000', 'c_001', 'c_002'])
    expect(cluster.size).toBe(3)
    expect(String(cluster)).toBe("VMCluster(id='c', vms=3)")
    expect(m.getCluster('c')).toBe(cluster)
    expect(cluster.status()).toEqual({ c_000: 'idle', c_001: 'idle', c_002: 'idle' })

    await m.execute('c_001', 'fail = true')
    await m.requireVM('c_002').stop()
    const jobs = cluster.broadcast('if fail then error("member failed") end return "ok"')
    expect([...jobs.keys()]).toEqual(['c_000', 'c_001', 'c_002'])
    const results = await cluster.waitAll(jobs)
    expect(results.c_000).toMatchObject({ success: true, values: ['ok'] })
    expect(results.c_001).toMatchObject({ success: false, status: 'error' })
    expect(results.c_002).toMatchObject({ success: false, error: { _tag: 'VMStateError' } })
    expect(cluster.status()).toEqual({ c_000: 'done', c_001: 'failed', c_002: 'unavailable' })

    expect(await cluster.cleanup()).toBe(3)
    expect(m.getCluster('c')).toBeUndefined()
    expect(m.listVMs()).toEqual([])
  })

  it('broadcast by glob, waitForCluster timeouts per member, and no-match errors', async () => {
    const m = makeManager()
    await m.createCluster('g', 2)
    await m.createVM('other')
    const jobs = m.broadcast('g_00?', 'return 1')
    expect([...jobs.keys()]).toEqual(['g_000', 'g_001'])
    const all = await m.waitForCluster(jobs)
    expect(Object.values(all).every((r) => r.success)).toBe(true)
    expect(() => m.broadcast('nomatch_*', 'return 1')).toThrow(VMManagerError)
    expect(() => m.broadcast('nomatch_*', 'return 1')).toThrow(/glob/)

    const slow = m.broadcast('g', 'while true do end', { timeoutMs: 20_000 })
    const timed = await m.waitForCluster(slow, { timeoutMs: 50 })
    expect(timed.g_000).toMatchObject({ success: false, error: { _tag: 'VMTimeoutError' } })
    expect(m.clusterStatus('g_*')).toMatchObject({ g_000: 'running' })
    for (const job of slow.values()) job.cancel()
    const cancelled = await m.waitForCluster(slow)
    expect(cancelled.g_000).toMatchObject({ status: 'killed' })
    expect(m.clusterStatus('g')).toEqual({ g_000: 'cancelled', g_001: 'cancelled' })
    expect(await m.cleanupCluster('g*')).toBe(2)
    expect(m.listVMs()).toEqual(['other'])
  })

  it('a partly failed createCluster removes the members it made and rethrows', async () => {
    const m = makeManager()
    await m.createVM('p_001')
    const error = await m.createCluster('p', 3).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(VMManagerError)
    expect(m.listVMs()).toEqual(['p_001'])
    expect(m.getCluster('p')).toBeUndefined()
    expect(liveDriverPids()).toHaveLength(1)
    await expect(m.createCluster('q', 0)).rejects.toBeInstanceOf(InvalidArgumentError)
    await m.createCluster('q', 1)
    await expect(m.createCluster('q', 1)).rejects.toThrow(/cluster 'q' already exists/)
  })

  it('await using a cluster removes its VMs', async () => {
    const m = makeManager()
    {
      await using cluster = await m.createCluster('u', 2)
      expect(cluster.size).toBe(2)
    }
    expect(m.listVMs()).toEqual([])
  })

  it('globToRegExp treats only * and ? as wildcards', () => {
    expect(globToRegExp('a.b*').test('a.bcd')).toBe(true)
    expect(globToRegExp('a.b*').test('axbcd')).toBe(false)
    expect(globToRegExp('n?').test('n1')).toBe(true)
    expect(globToRegExp('n?').test('n12')).toBe(false)
    expect(globToRegExp('(x)+').test('(x)+')).toBe(true)
  })
})

describe('VMManager: stats and shutdown', () => {
  it('getStats counts VMs by type, sessions and jobs', async () => {
    const m = makeManager()
    await m.createVM('a')
    await m.createInteractiveVM('b')
    await m.execute('a', 'return 1')
    await m.execute('a', 'error("x")')
    expect(m.getStats()).toEqual({
      totalVMs: 2,
      byType: { 'test-driver': 2 },
      interactiveSessions: 1,
      attachedSessions: 1,
      runningJobs: 0,
      completedJobs: 1,
      failedJobs: 1,
      cancelledJobs: 0,
    })
  })

  it('shutdownAll mid-run settles every promise and leaves no lua process', async () => {
    const m = makeManager()
    await m.createCluster('s', 3)
    await m.createInteractiveVM('sess')
    const jobs = [...m.broadcast('s', 'while true do end', { timeoutMs: 20_000 }).values()]
    const queued = m.executeAsync('s_000', 'return 1')
    const input = m.sendInput('sess', 'while true do end', { timeoutMs: 20_000 })
    const reading = m.readOutput('sess', { until: 'never', timeoutMs: 20_000 })
    const creating = m.createVM('late')
    // Observed from the start, so no promise is left without a handler.
    const everything = Promise.allSettled([...jobs.map((j) => j.promise), queued.promise, input, reading, creating])
    await new Promise((r) => setTimeout(r, 100))
    expect(luaChildren().length).toBeGreaterThanOrEqual(4)

    const shutdown = m.shutdownAll()
    expect(m.shutdownAll()).toBe(shutdown)
    await shutdown
    const settled = await everything
    expect(settled).toHaveLength(7)
    // The running input was cancelled by the shutdown; the waiting read ended with the session.
    expect(settled[4]).toMatchObject({ status: 'fulfilled', value: { status: 'killed' } })
    expect(settled[5]).toMatchObject({ status: 'rejected', reason: { _tag: 'InteractiveSessionError' } })
    for (const job of [...jobs, queued]) expect(job.status).toBe('cancelled')
    expect(luaChildren()).toEqual([])
    expect(liveDriverPids()).toEqual([])

    expect(() => m.listVMs()).toThrow(/manager is shut down/)
    expect(() => m.getStats()).toThrow(VMManagerError)
    await expect(m.createVM('x')).rejects.toThrow(/manager is shut down/)
    await expect(m.execute('s_000', 'return 1')).rejects.toBeInstanceOf(VMManagerError)
    await m.shutdownAll()
  })

  it('await using a manager shuts it down', async () => {
    let outer: VMManager | undefined
    let vm: BaseLuaVM | undefined
    {
      await using m = makeManager()
      outer = m
      vm = await m.createVM('scoped')
    }
    expect(outer.isShutDown).toBe(true)
    expect(vm.state).toBe('stopped')
  })
})
