// The original library's behavioural checks (test_installation.py's ten
// print-checks and the documented LuaProcess / VMManager / NetworkedLuaVM
// behaviours of original-findings.md §1), as assertions against the
// `process` backend (the original's `basic` VM), including the fixes of §4.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  InvalidArgumentError,
  isLuaVMError,
  LuaRuntimeError,
  LuaSyntaxError,
  SessionNotFoundError,
  VMManager,
  VMManagerError,
  VMTimeoutError,
} from '@bioxen-luavm/core'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { client, echoServer } from '../src/index.js'
import { brief, freePorts, processRegistry, settledChildren } from './helpers.js'

let manager: VMManager
beforeEach(() => {
  manager = new VMManager({ registry: processRegistry(), defaultBackend: 'basic' })
})
afterEach(() => manager.shutdownAll())
afterAll(async () => {
  expect(await settledChildren()).toEqual({ pids: [], groups: [] })
})

const lua54 = { config: { luaExecutable: 'lua5.4' } }

describe('LuaProcess: execute_string / execute_file / execute_temp_script', () => {
  it('1. a basic VM runs code; output is exact and return values print (bug 7, 8)', async () => {
    const vm = await manager.createVM('basic_vm', lua54)
    expect(vm.type).toBe('process')
    const r = await vm.execute('print("  Hello from Lua!  ")\nreturn 2 + 2')
    expect(r).toMatchObject({
      success: true,
      exitCode: 0,
      stdout: '  Hello from Lua!  \n4\n',
      values: [4],
      luaVersion: 'Lua 5.4',
    })
    const sqrt = await vm.execute('print("Square root of 16 is:", math.sqrt(16))')
    expect(sqrt.stdout).toBe('Square root of 16 is:\t4.0\n')
  })

  it('2. Lua errors resolve with details instead of throwing; throwOnError gives typed errors (bug 9)', async () => {
    const vm = await manager.createVM('errors', lua54)
    const r = await vm.execute('error("boom")')
    expect(r).toMatchObject({
      success: false,
      exitCode: 1,
      status: 'error',
      error: { message: 'chunk:1: boom', line: 1, kind: 'runtime' },
    })
    await expect(vm.execute('error("boom")', { throwOnError: true })).rejects.toBeInstanceOf(LuaRuntimeError)
    await expect(vm.execute('x = = 1', { throwOnError: true })).rejects.toBeInstanceOf(LuaSyntaxError)
    await expect(vm.execute('   ')).rejects.toBeInstanceOf(InvalidArgumentError)
  })

  it('3. the default timeout is finite and a timeout keeps partial output (bug 4)', async () => {
    const vm = await manager.createVM('timeouts', { ...lua54, limits: { timeoutMs: 300 } })
    const r = await vm.execute('print("partial") while true do end')
    expect(r.status).toBe('timeout')
    expect(r.stdout).toBe('partial\n')
    // Blocked in a child process: the hard layer kills the group (and the
    // sleep). The runtime pushed its output before starting the child, so
    // what the chunk printed survives the kill.
    const blocked = await vm.execute('print("partial") os.execute("sleep 5")')
    expect(blocked.status).toBe('timeout')
    expect(blocked.stdout).toBe('partial\n')
    await expect(vm.execute('while true do end', { throwOnError: true })).rejects.toBeInstanceOf(VMTimeoutError)
  })

  it('4. execute_file names the file in errors; missing files and directories are clear errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'luavm-acceptance-'))
    try {
      const file = join(dir, 'script.lua')
      writeFileSync(file, 'local n = 0\nfor i = 1, 10 do n = n + i end\nprint("sum", n)\nerror("at line 4")\n')
      const vm = await manager.createVM('files', lua54)
      const r = await vm.executeFile(file)
      expect(r.stdout).toBe('sum\t55\n')
      expect(r.error?.message).toBe(`${file}:4: at line 4`)
      await expect(vm.executeFile(join(dir, 'missing.lua'))).rejects.toThrow(/Lua script not found/)
      await expect(vm.executeFile(dir)).rejects.toThrow(/not a file/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('5. the temp-script path writes no temp files and code of any size works (bug 6, 10)', async () => {
    const before = readdirSync(tmpdir()).filter((f) => f.endsWith('.lua'))
    const vm = await manager.createVM('temp', lua54)
    const big = `local s = "${'y'.repeat(300_000)}" return #s`
    const r = await vm.execute(big, { echoReturnValues: false })
    expect(r.values).toEqual([300_000])
    const failed = await vm.execute('error("bad")')
    expect(failed.status).toBe('error')
    expect(readdirSync(tmpdir()).filter((f) => f.endsWith('.lua'))).toEqual(before)
  })
})

describe('VMManager: sync, async, registry', () => {
  it('6. execute_vm_sync and execute_vm_async; several jobs per VM are tracked separately (bug 16)', async () => {
    await manager.createVM('worker', lua54)
    expect((await manager.execute('worker', 'return 6 * 7')).values).toEqual([42])
    const jobs = [1, 2, 3].map((i) => manager.executeAsync('worker', `return ${i} * 10`))
    expect(new Set(jobs.map((j) => j.id)).size).toBe(3)
    const results = await Promise.all(jobs.map((j) => j.promise))
    expect(results.map((r) => r.values[0])).toEqual([10, 20, 30])
    expect(jobs.map((j) => j.status)).toEqual(['done', 'done', 'done'])
    const slow = manager.executeAsync('worker', 'os.execute("sleep 5")', { timeoutMs: 10_000 })
    const queued = manager.executeAsync('worker', 'return "never"')
    expect(slow.cancel()).toBe(true)
    expect(queued.cancel()).toBe(true)
    expect((await slow.promise).status).toBe('killed')
    expect(slow.status).toBe('cancelled')
    expect((await queued.promise).status).toBe('killed')
    expect((await manager.execute('worker', 'return 1')).values).toEqual([1])
    await expect(manager.execute('nope', 'return 1')).rejects.toBeInstanceOf(VMManagerError)
  })

  it('7. a registry of VMs with ids, info and stats; duplicates are refused; removal frees the id (bug 15)', async () => {
    await Promise.all(['vm_a', 'vm_b', 'vm_c'].map((id) => manager.createVM(id, lua54)))
    expect(manager.listVMs().sort()).toEqual(['vm_a', 'vm_b', 'vm_c'])
    await expect(manager.createVM('vm_a', lua54)).rejects.toBeInstanceOf(VMManagerError)
    expect(manager.getVMInfo('vm_b')).toMatchObject({
      id: 'vm_b',
      type: 'process',
      state: 'running',
      luaVersion: 'Lua 5.4',
    })
    expect(manager.getStats()).toMatchObject({ totalVMs: 3, byType: { process: 3 } })
    expect(await manager.removeVM('vm_c')).toBe(true)
    await manager.createVM('vm_c', lua54)
    expect(manager.listVMs()).toHaveLength(3)
  })

  it('8. typed errors with stable tags', async () => {
    const e = await manager.sendInput('no_such_vm', '1').catch((x: unknown) => x)
    expect(e).toBeInstanceOf(SessionNotFoundError)
    expect(isLuaVMError(e) && e._tag).toBe('SessionNotFoundError')
  })
})

describe('clusters', () => {
  it('9. create, broadcast, wait, status and cleanup a cluster', async () => {
    const cluster = await manager.createCluster('c', 3, lua54)
    expect(cluster.vmIds).toEqual(['c_000', 'c_001', 'c_002'])
    const jobs = manager.broadcast('c', 'return _VERSION')
    const results = await manager.waitForCluster(jobs)
    expect(Object.keys(results).sort()).toEqual(['c_000', 'c_001', 'c_002'])
    for (const r of Object.values(results)) expect(r).toMatchObject({ success: true, values: ['Lua 5.4'] })
    const failing = await manager.waitForCluster(manager.broadcast('c_*', 'while true do end', { timeoutMs: 100 }))
    for (const r of Object.values(failing)) expect(r).toMatchObject({ success: false, status: 'timeout' })
    expect(Object.values(manager.clusterStatus('c'))).toEqual(['failed', 'failed', 'failed'])
    expect(await manager.cleanupCluster('c')).toBe(3)
    expect(manager.listVMs()).toEqual([])
  })
})

describe('interactive sessions', () => {
  it('10. interactive I/O with persistence, multi-line fib(10) and reattach (bugs 13, 14)', async () => {
    const session = await manager.createInteractiveVM('interactive_vm', lua54)
    await manager.sendInput('interactive_vm', 'x = 42')
    expect((await manager.sendInput('interactive_vm', "print('Value:', x)")).output).toBe('Value:\t42\n')
    for (const line of ['function fib(n)', '  if n < 2 then return n end', '  return fib(n-1) + fib(n-2)']) {
      expect((await manager.sendInput('interactive_vm', line)).status).toBe('incomplete')
    }
    await manager.sendInput('interactive_vm', 'end')
    expect((await manager.sendInput('interactive_vm', 'print(fib(10))')).output).toBe('55\n')
    manager.detach('interactive_vm')
    await manager.attach('interactive_vm')
    expect((await manager.sendInput('interactive_vm', 'return x + fib(5)')).output).toBe('47\n')
    expect(session.state).toBe('open')
    await manager.terminateSession('interactive_vm')
    // The id is free again once the interactive VM's session is terminated (the original kept it).
    await manager.createInteractiveVM('interactive_vm', lua54)
  })
})

describe('NetworkedLuaVM', () => {
  it('11. networked VMs check LuaSocket and run a server and a client', async () => {
    const [port] = (await freePorts(1)) as [number]
    await manager.createVM('server', { networked: true, config: { luaExecutable: 'lua5.4', networked: true } })
    await manager.createVM('client', { networked: true, config: { luaExecutable: 'lua5.4', networked: true } })
    const serving = manager.executeAsync('server', echoServer(port, { maxClients: 1, durationMs: 10_000 }), {
      echoReturnValues: false,
      timeoutMs: 15_000,
    })
    const c = await manager.execute(
      'client',
      client('127.0.0.1', port, 'Hello "quoted" msg', { connectRetryMs: 5_000 }),
      {
        echoReturnValues: false,
      },
    )
    expect(c.status, brief(c)).toBe('ok')
    expect(c.stdout).toContain(`Lua Client: Connected to server at 127.0.0.1:${port}`)
    const s = await serving.promise
    expect(s.status, brief(s)).toBe('ok')
    expect(s.stdout).toContain('Lua Server: Client connected from 127.0.0.1')
    expect(s.stdout).toContain('Lua Server: Received from client: Hello "quoted" msg')
    expect(s.stdout).toContain('Lua Server: Connection closed.')
    expect(manager.getVMInfo('server')).toMatchObject({ networked: true })
  })
})
