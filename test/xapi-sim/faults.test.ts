/**
 * Fault injection at every step of start, stop and execution. Each test
 * ends with the simulator's leak oracle empty (no VM, disk, VIF, task or
 * session left) and a typed error.
 */
import {
  type BaseLuaVM,
  ExecutionKilledError,
  type LogRecord,
  LuaNotFoundError,
  SshError,
  VMTimeoutError,
  XapiError,
} from '@bioxen-luavm/core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type SshdHarness, startSshd } from '../harness/sshd.js'
import { recordingLogger, SIM_PASSWORD, simConfig, startSim, xcpngRegistry } from './fixture.js'
import type { XapiSim } from './server.js'

let sshd: SshdHarness
let sim: XapiSim
let logs: LogRecord[]
let logger: ReturnType<typeof recordingLogger>['logger']
const registry = xcpngRegistry()
let seq = 0

beforeAll(async () => {
  sshd = await startSshd()
})
afterAll(async () => {
  await sshd?.stop()
})
beforeEach(async () => {
  sim = await startSim()
  ;({ logs, logger } = recordingLogger())
})
afterEach(async () => {
  await sim.close()
})

function config(overrides: Record<string, unknown> = {}) {
  return simConfig(sim, sshd, overrides)
}

/** Starts a VM that is expected to fail; returns the rejection. */
async function startFails(overrides: Record<string, unknown> = {}, signal?: AbortSignal): Promise<unknown> {
  const id = `fault-${++seq}`
  try {
    const vm = await registry.create('xcpng', id, config(overrides), { logger, ...(signal ? { signal } : {}) })
    await vm.stop()
    return new Error('start unexpectedly succeeded')
  } catch (error) {
    return error
  }
}

async function startOk(overrides: Record<string, unknown> = {}): Promise<BaseLuaVM> {
  return registry.create('xcpng', `ok-${++seq}`, config(overrides), { logger })
}

function expectNoSecrets(...texts: unknown[]): void {
  const all = [
    ...texts.map((t) => (t instanceof Error ? `${t.message} ${JSON.stringify(t)} ${t.stack}` : JSON.stringify(t))),
    JSON.stringify(logs),
  ].join('\n')
  expect(all).not.toContain(SIM_PASSWORD)
  expect(all).not.toContain(sshd.privateKey.split('\n')[1] ?? 'unreachable')
}

describe('start unwinds on every failure', () => {
  it('wrong password: SESSION_AUTHENTICATION_FAILED, nothing created, the password never shown', async () => {
    const error = await startFails({ password: 'wrong-password-123' })
    expect(error).toBeInstanceOf(XapiError)
    expect((error as XapiError).xapiCode).toBe('SESSION_AUTHENTICATION_FAILED')
    expect(sim.leaks()).toEqual([])
    expect(sim.sessions()).toEqual([])
    const all = `${(error as Error).message} ${JSON.stringify(error)} ${JSON.stringify(logs)}`
    expect(all).not.toContain('wrong-password-123')
    expectNoSecrets(error)
  })

  it('clone task fails (SR_FULL): the typed XAPI error, the task destroyed, the session logged out', async () => {
    sim.inject('VM.clone', { kind: 'task-fail', errorInfo: ['SR_FULL', '8589934592', '1073741824'] })
    const error = await startFails()
    expect(error).toBeInstanceOf(XapiError)
    expect((error as XapiError).xapiCode).toBe('SR_FULL')
    expect((error as XapiError).params).toEqual(['8589934592', '1073741824'])
    expect(sim.leaks()).toEqual([])
    expect(sim.sessions()).toEqual([])
  })

  it('a slow clone cancelled by the AbortSignal: task.cancel, nothing left', async () => {
    sim.inject('VM.clone', { kind: 'task-latency', ms: 30_000 })
    const controller = new AbortController()
    const pending = startFails({}, controller.signal)
    while (!sim.calls.includes('Async.VM.clone')) await new Promise((r) => setTimeout(r, 10))
    controller.abort(new Error('user cancelled'))
    const error = await pending
    expect(error).toBeInstanceOf(ExecutionKilledError)
    expect(sim.calls).toContain('task.cancel')
    expect(sim.leaks()).toEqual([])
    expect(sim.sessions()).toEqual([])
  })

  it('a slow clone past start_timeout_ms: VMTimeoutError, the task cancelled', async () => {
    sim.inject('VM.clone', { kind: 'task-latency', ms: 30_000 })
    const error = await startFails({ start_timeout_ms: 400 })
    expect(error).toBeInstanceOf(VMTimeoutError)
    expect(sim.calls).toContain('task.cancel')
    expect(sim.leaks()).toEqual([])
  })

  it('the guest IP never appears: VMTimeoutError naming the guest agent, the VM halted and destroyed', async () => {
    sim.knobs.guest.mode = 'never'
    const error = await startFails({ boot_timeout_ms: 500 })
    expect(error).toBeInstanceOf(VMTimeoutError)
    expect((error as Error).message).toMatch(/guest agent|xe-guest-utilities/)
    expect(sim.calls).toContain('Async.VM.hard_shutdown')
    expect(sim.calls).toContain('Async.VM.destroy')
    expect(sim.leaks()).toEqual([])
  })

  it('a connection reset before a read is retried, and start succeeds', async () => {
    sim.inject('VM.get_record', { kind: 'reset', when: 'before' }, 2)
    const vm = await startOk()
    await vm.stop()
    expect(sim.leaks()).toEqual([])
  })

  it('a connection reset after VM.clone ran: the clone is found by its unique name and removed', async () => {
    sim.inject('VM.clone', { kind: 'reset', when: 'after' })
    const error = await startFails()
    expect(error).toBeInstanceOf(XapiError)
    expect((error as XapiError).xapiCode).toBe('TRANSPORT_ERROR')
    expect(sim.calls).toContain('VM.get_by_name_label')
    expect(sim.leaks()).toEqual([])
    // The lost task was found and destroyed too.
    expect([...sim.db.table('task').values()].filter((t) => t.name_label === 'Async.VM.clone')).toEqual([])
  })

  it('a connection reset after tagging: the VM is removed', async () => {
    sim.inject('VM.add_to_other_config', { kind: 'reset', when: 'after' })
    const error = await startFails()
    expect((error as XapiError).xapiCode).toBe('TRANSPORT_ERROR')
    expect(sim.leaks()).toEqual([])
  })

  it('HTTP 500 on VM.provision: HTTP_ERROR, the VM removed', async () => {
    sim.inject('VM.provision', { kind: 'http500' })
    const error = await startFails()
    expect(error).toBeInstanceOf(XapiError)
    expect((error as XapiError).xapiCode).toBe('HTTP_ERROR')
    expect((error as XapiError).params[0]).toBe('500')
    expect(sim.leaks()).toEqual([])
  })

  it('VM.start refused (HOST_NOT_ENOUGH_FREE_MEMORY): the VM and its new VIF removed', async () => {
    sim.knobs.hostFreeMemory = 1024n ** 3n
    const error = await startFails({ vm_memory: '4GB', network_uuid: 'Private' })
    expect((error as XapiError).xapiCode).toBe('HOST_NOT_ENOUGH_FREE_MEMORY')
    expect(sim.calls).toContain('VIF.create')
    expect(sim.leaks()).toEqual([])
  })

  it('an unknown SSH host key: SshError printing the fingerprint to pin, the VM removed', async () => {
    const error = await startFails({ ssh_host_key: undefined })
    expect(error).toBeInstanceOf(SshError)
    expect((error as Error).message).toContain(sshd.hostKeyFingerprint)
    expect((error as Error).message).toMatch(/ssh_host_key/)
    expect(sim.leaks()).toEqual([])
  })

  it('a mismatching pinned host key: SshError, the VM removed', async () => {
    const error = await startFails({ ssh_host_key: ['SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'] })
    expect(error).toBeInstanceOf(SshError)
    expect((error as Error).message).toMatch(/does not match/)
    expect(sim.leaks()).toEqual([])
  })

  it('a key the guest does not accept: SshError (auth), the VM removed, no key material shown', async () => {
    const { generateKeyPairSync } = await import('node:crypto')
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs1',
      format: 'pem',
    }) as string
    const error = await startFails({ ssh_private_key: other })
    expect(error).toBeInstanceOf(SshError)
    expect((error as SshError).details.reason).toBe('auth')
    expect(JSON.stringify(logs)).not.toContain(other.split('\n')[1])
    expect(sim.leaks()).toEqual([])
  })

  it('no Lua interpreter on the guest: LuaNotFoundError, the VM removed', async () => {
    const error = await startFails({ lua_executable: 'lua9.9' })
    expect(error).toBeInstanceOf(LuaNotFoundError)
    expect(sim.leaks()).toEqual([])
  })

  it('a junk reply: PROTOCOL_ERROR', async () => {
    sim.inject('VM.add_tags', { kind: 'junk' }, 10)
    const error = await startFails()
    expect((error as XapiError).xapiCode).toBe('PROTOCOL_ERROR')
    expect(sim.leaks()).toEqual([])
  })

  it('connection resets and HTTP 500s while waiting (task events, guest metrics) are ridden out', async () => {
    sim.knobs.guest.delayMs = 200
    sim.inject('event.from', { kind: 'reset', when: 'before' }, 2)
    sim.inject('VM.get_guest_metrics', { kind: 'http500' }, 1)
    const vm = await startOk()
    await vm.stop()
    expect(sim.leaks()).toEqual([])
  })

  it('a half-written reply on a read is retried', async () => {
    sim.inject('VM.get_record', { kind: 'partial' })
    const vm = await startOk()
    await vm.stop()
    expect(sim.leaks()).toEqual([])
  })

  it('a session that expires mid-start: one re-login, start succeeds, every session logged out', async () => {
    sim.knobs.sessionCallLimit = 8
    const vm = await startOk()
    await vm.stop()
    expect(sim.calls.filter((c) => c === 'session.login_with_password').length).toBe(2)
    expect(sim.leaks()).toEqual([])
    expect(sim.sessions()).toEqual([])
  })
})

describe('stop', () => {
  it('stop() during start() unwinds the half-built VM', async () => {
    sim.inject('VM.clone', { kind: 'task-latency', ms: 30_000 })
    const vm = await registry.create('xcpng', `early-${++seq}`, config(), { logger, autoStart: false })
    const starting = vm.start().then(
      () => undefined,
      (e: unknown) => e,
    )
    while (!sim.calls.includes('Async.VM.clone')) await new Promise((r) => setTimeout(r, 10))
    await vm.stop()
    expect(await starting).toBeInstanceOf(ExecutionKilledError)
    expect(vm.state).toBe('stopped')
    expect(sim.calls).toContain('task.cancel')
    expect(sim.leaks()).toEqual([])
  })

  it('a guest that ignores clean shutdown is hard-shut-down after shutdown_timeout_ms and destroyed', async () => {
    const vm = await startOk({ shutdown_timeout_ms: 300 })
    sim.knobs.cleanShutdown = 'hang'
    await vm.stop()
    expect(sim.calls).toContain('Async.VM.hard_shutdown')
    expect(sim.leaks()).toEqual([])
  })

  it('VM_LACKS_FEATURE falls back to hard shutdown', async () => {
    const vm = await startOk()
    sim.knobs.cleanShutdown = 'lacks-feature'
    await vm.stop()
    expect(sim.calls).toContain('Async.VM.hard_shutdown')
    expect(sim.leaks()).toEqual([])
  })

  it('VDI_IN_USE once: the disk destroy is retried', async () => {
    const vm = await startOk()
    sim.knobs.vdiInUseOnce = 1
    await vm.stop()
    expect(sim.calls.filter((c) => c === 'VDI.destroy').length).toBe(2)
    expect(sim.leaks()).toEqual([])
  })

  it('a connection reset during VM.destroy is retried', async () => {
    const vm = await startOk()
    sim.inject('VM.destroy', { kind: 'reset', when: 'before' })
    await vm.stop()
    expect(sim.leaks()).toEqual([])
  })

  it('a destroy XAPI keeps refusing: stop rejects with the XAPI error and the VM stays tagged for reapOrphans', async () => {
    const vm = await startOk()
    sim.inject('VM.destroy', { kind: 'fail', description: ['INTERNAL_ERROR', 'database locked'] }, 100)
    const error = await vm.stop().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(XapiError)
    expect(vm.state).toBe('stopped')
    const left = sim.leaks()
    expect(left.some((l) => l.startsWith('VM '))).toBe(true)
    expect(sim.sessions()).toEqual([])
  })
})

describe('execution faults', () => {
  it('sshd killed mid-execution: SshError, VM failed, stop cleans up, the guest Lua is killed by its watchdog', async () => {
    const local = await startSshd()
    try {
      const vm = await registry.create('xcpng', `crash-${++seq}`, simConfig(sim, local), { logger })
      let streamed = ''
      const running = vm
        .execute('print("before the crash") io.stderr:write("and on stderr\\n") while true do end', {
          timeoutMs: 60_000,
          onStdout: (text) => {
            streamed += text
          },
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        )
      while (!streamed.includes('before the crash')) await new Promise((r) => setTimeout(r, 20))
      await local.crash()
      const error = await running
      expect(error).toBeInstanceOf(SshError)
      // What it printed before the link died is not lost with it.
      expect((error as SshError).details).toMatchObject({ reason: 'lost', stdout: 'before the crash\n' })
      expect(vm.state).toBe('failed')
      await vm.stop()
      expect(sim.leaks()).toEqual([])
      const deadline = Date.now() + 15_000
      while ((await local.userProcesses()).length > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100))
      expect(await local.userProcesses()).toEqual([])
    } finally {
      await local.stop()
    }
  })

  it('a chunk stuck in C past its deadline is killed on the guest; the driver restarts', async () => {
    const vm = await startOk({ kill_grace_ms: 300 })
    try {
      await vm.execute('kept = 1')
      // A backtracking pattern runs inside C, where the deadline hook never fires.
      const r = await vm.execute('return string.find(string.rep("a", 60000), ".-.-.-.-b")', { timeoutMs: 300 })
      expect(r.status).toBe('timeout')
      expect(r.success).toBe(false)
      expect((await vm.getStatus()).restarts).toBe(1)
      expect((await vm.execute('return kept')).values).toEqual([null])
      expect((await vm.execute('return 1 + 1')).values).toEqual([2])
    } finally {
      await vm.stop()
    }
    expect(sim.leaks()).toEqual([])
  })

  it('the in-VM deadline stops a Lua loop without a restart', async () => {
    const vm = await startOk()
    try {
      const r = await vm.execute('while true do end', { timeoutMs: 200 })
      expect(r.status).toBe('timeout')
      expect((await vm.getStatus()).restarts).toBe(0)
    } finally {
      await vm.stop()
    }
  })

  it('an AbortSignal kills a running chunk; the VM keeps working', async () => {
    const vm = await startOk()
    try {
      const controller = new AbortController()
      const pending = vm.execute('return string.find(string.rep("a", 60000), ".-.-.-.-b")', {
        signal: controller.signal,
        timeoutMs: 60_000,
      })
      setTimeout(() => controller.abort(), 200)
      const r = await pending
      expect(r.status).toBe('killed')
      expect((await vm.execute('return "alive"')).values).toEqual(['alive'])
    } finally {
      await vm.stop()
    }
    expect(sim.leaks()).toEqual([])
  })
})
