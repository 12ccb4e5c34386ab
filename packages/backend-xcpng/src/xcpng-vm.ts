import { readFile } from 'node:fs/promises'
import {
  type BackendCapabilities,
  BaseLuaVM,
  concatBytes,
  cutOutput,
  type ExecResult,
  ExecutionKilledError,
  type InstallOptions,
  type InstallResult,
  isLuaVMError,
  outputFields,
  type ResolvedExecOptions,
  SshError,
  type StartOptions,
  type StopOptions,
  startTimer,
  TaskQueue,
  type Timer,
  type VMInit,
  VMStateError,
} from '@bioxen-luavm/core'
import { driverOptions, loadSecrets, resolveConfig, type XcpngConfig } from './config.js'
import { XCPNG_CAPABILITIES } from './descriptor.js'
import { installRock } from './packages/remote-luarocks.js'
import type { ProvisionProgress } from './provision/effects.js'
import { runWorkflow } from './provision/undo.js'
import { type Guest, provisionGuest, releaseGuest, teardownGuest } from './provision/workflow.js'
import { RemoteDriver } from './ssh/remote-driver.js'
import { getVm } from './xapi/api.js'

// One queue per XAPI endpoint and limit bounds how many VMs this process
// provisions at once, whoever starts them (VMManager clusters start VMs in
// parallel). The limit is part of the key so that a config asking for fewer
// never inherits an earlier, larger queue; an idle queue is dropped.
const provisionQueues = new Map<string, TaskQueue>()

async function inProvisionSlot<T>(cfg: XcpngConfig, task: () => Promise<T>, signal: AbortSignal): Promise<T> {
  const key = `${new URL(cfg.xapiUrl).origin} ${cfg.provisionConcurrency}`
  let queue = provisionQueues.get(key)
  if (!queue) {
    queue = new TaskQueue(cfg.provisionConcurrency)
    provisionQueues.set(key, queue)
  }
  try {
    return await queue.run(task, signal)
  } finally {
    if (queue.active === 0 && queue.pending === 0) provisionQueues.delete(key)
  }
}

type Outcome =
  | { kind: 'done'; result: Awaited<ReturnType<RemoteDriver['exec']>> }
  | { kind: 'failed'; error: unknown }
  | { kind: 'deadline' }
  | { kind: 'abort' }

/**
 * A Lua VM on an XCP-ng guest: provisioned from a template through XAPI
 * (or attached to an existing VM), driven over one SSH connection by the
 * framed Lua driver. Executions are sub-millisecond-ish over a warm
 * connection; a chunk that outlives its deadline plus `kill_grace_ms` is
 * killed on the guest (its whole process group) and the driver restarts.
 */
export class XcpngVM extends BaseLuaVM {
  readonly capabilities: BackendCapabilities = XCPNG_CAPABILITIES
  readonly #cfg: XcpngConfig
  readonly #progress = new Set<(p: ProvisionProgress) => void>()
  #guest: Guest | undefined
  // A stop() during start() must unwind the half-built guest, not race it.
  #starting: { abort: AbortController; done: Promise<unknown> } | undefined
  // Set by keep(): the next stop releases the guest instead of destroying it.
  #keepGuest = false

  /** @param init - id, validated `xcpng` config, limits and logger */
  constructor(init: VMInit<Record<string, unknown>>) {
    super(init)
    this.#cfg = resolveConfig(init.config)
  }

  /** Subscribes to provisioning progress (clone %, boot, SSH…); returns an unsubscribe function. */
  onProvisionProgress(listener: (progress: ProvisionProgress) => void): () => void {
    this.#progress.add(listener)
    return () => this.#progress.delete(listener)
  }

  /** The guest's address and VM identity, once started. */
  get guest(): { ip: string; vmUuid: string; vmName: string; owned: boolean } | undefined {
    const g = this.#guest
    return g && { ip: g.ip, vmUuid: g.uuid, vmName: g.name, owned: g.owned }
  }

  /**
   * Stops this VM but keeps its guest running: the SDK disconnects (driver,
   * SSH, XAPI session) and removes the owner tag, so neither `stop()`,
   * `reapOrphans` nor `xcpng reap` will ever destroy it. Reconnect later
   * with `attach_vm` set to the returned uuid; remove it yourself (e.g.
   * `bioxen-luavm xcpng destroy --force <uuid>`) when done. Only a running
   * VM can be kept; an attached VM is simply disconnected.
   *
   * @returns the kept guest's identity and address
   */
  async keep(options: Pick<StopOptions, 'timeoutMs'> = {}): Promise<{ vmUuid: string; vmName: string; ip: string }> {
    const guest = this.#guest
    if (this.state !== 'running' || !guest) {
      throw new VMStateError(`xcpng VM '${this.id}' is ${this.state}; only a running VM can be kept`, {
        details: { vmId: this.id, state: this.state },
      })
    }
    this.#keepGuest = true
    try {
      await this.stop(options)
    } finally {
      this.#keepGuest = false
    }
    return { vmUuid: guest.uuid, vmName: guest.name, ip: guest.ip }
  }

  protected async doStart(options: StartOptions): Promise<void> {
    const abort = new AbortController()
    const done = this.#start(options, options.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal)
    this.#starting = { abort, done }
    try {
      await done
    } finally {
      this.#starting = undefined
    }
  }

  async #start(options: StartOptions, signal: AbortSignal): Promise<void> {
    const cfg = this.#cfg
    const secrets = await loadSecrets(cfg)
    const run = () =>
      runWorkflow(provisionGuest({ cfg, secrets, vmId: this.id, logger: this.logger }), {
        what: `start of xcpng VM '${this.id}'`,
        logger: this.logger,
        timeoutMs: options.timeoutMs ?? cfg.startTimeoutMs,
        callTimeoutMs: cfg.callTimeoutMs,
        signal,
        onProgress: (p) => {
          for (const listener of this.#progress) listener(p)
        },
      })
    let guest: Guest
    try {
      guest = await inProvisionSlot(cfg, run, signal)
    } catch (error) {
      if (signal.aborted && !isLuaVMError(error)) {
        throw new ExecutionKilledError(
          `start of xcpng VM '${this.id}' was cancelled while waiting for a provisioning slot`,
          {
            cause: error,
          },
        )
      }
      throw error
    }
    this.#guest = guest
    this.setLuaVersion(guest.driver.hello.lua)
    guest.ssh.onClose((error) => {
      if (this.#guest !== guest) return
      this.logger.error('lost the SSH connection to the guest; the VM is failed — stop() it to clean up', {
        vmId: this.id,
        ip: guest.ip,
        error: error?.message,
      })
      this.markFailed()
    })
  }

  protected async doStop(options: StopOptions): Promise<void> {
    const starting = this.#starting
    if (starting) {
      // The workflow unwinds what it created; wait for that, then tear down
      // a guest that finished in the meantime.
      starting.abort.abort(new ExecutionKilledError(`xcpng VM '${this.id}' was stopped while starting`))
      await starting.done.catch(() => {})
    }
    const guest = this.#guest
    this.#guest = undefined
    if (!guest) return
    const cfg = this.#cfg
    await runWorkflow(
      this.#keepGuest
        ? releaseGuest(guest, this.id)
        : teardownGuest(guest, { force: options.force === true, shutdownTimeoutMs: cfg.shutdownTimeoutMs }),
      {
        what: `${this.#keepGuest ? 'release' : 'stop'} of xcpng VM '${this.id}'`,
        logger: this.logger,
        timeoutMs: options.timeoutMs ?? cfg.shutdownTimeoutMs + 300_000,
        callTimeoutMs: cfg.callTimeoutMs,
      },
    )
  }

  protected async runCode(code: string | Uint8Array, o: ResolvedExecOptions): Promise<ExecResult> {
    const guest = this.#guest
    if (!guest) throw new VMStateError(`xcpng VM '${this.id}' has no guest; start it first`)
    const driver = guest.driver
    await driver.limitMemory(o.memoryLimitBytes)
    // Cancelled while the cap was being set: nothing ran, so nothing to kill.
    if (o.signal?.aborted) return this.result({ status: 'killed' })
    const started = performance.now()
    // What streamed in, for a run that ends without a reply.
    const streamed = { out: [] as Uint8Array[], err: [] as Uint8Array[] }
    const exec = driver.exec(code, {
      chunkName: o.chunkName,
      echo: o.echoReturnValues,
      repl: o.repl,
      timeoutMs: o.timeoutMs,
      maxOutputBytes: o.maxOutputBytes,
      onStdout: (c, b) => {
        streamed.out.push(b)
        o.onStdout?.(c, b)
      },
      onStderr: (c, b) => {
        streamed.err.push(b)
        o.onStderr?.(c, b)
      },
    })
    // The driver's hook enforces timeoutMs inside Lua; this deadline is for
    // code the hook cannot interrupt (a long C call, a blocked read).
    let timer: Timer | undefined
    let onAbort: (() => void) | undefined
    const outcome = await new Promise<Outcome>((resolve) => {
      exec.then(
        (result) => resolve({ kind: 'done', result }),
        (error: unknown) => resolve({ kind: 'failed', error }),
      )
      timer = startTimer(o.timeoutMs + this.#cfg.killGraceMs, () => resolve({ kind: 'deadline' }))
      onAbort = () => resolve({ kind: 'abort' })
      if (o.signal?.aborted) onAbort()
      else o.signal?.addEventListener('abort', onAbort, { once: true })
    })
    timer?.cancel()
    if (onAbort) o.signal?.removeEventListener('abort', onAbort)
    const durationMs = performance.now() - started
    const partial = () => {
      const cut = cutOutput(concatBytes(streamed.out), concatBytes(streamed.err), o.maxOutputBytes)
      return { ...outputFields(cut.stdout, cut.stderr, true), truncated: cut.truncated, durationMs }
    }
    switch (outcome.kind) {
      case 'done': {
        const r = outcome.result
        return this.result({
          status: r.status,
          stdout: r.stdout,
          stderr: r.stderr,
          stdoutBytes: r.stdoutBytes,
          stderrBytes: r.stderrBytes,
          values: r.values,
          truncated: r.truncated,
          durationMs,
          ...(r.error ? { error: r.error } : {}),
          ...(r.incomplete ? { incomplete: true } : {}),
        })
      }
      case 'deadline':
        await this.#recycle(guest, driver, 'the chunk ignored its deadline')
        return this.result({
          status: 'timeout',
          ...partial(),
          error: {
            message: `killed on the guest after ${o.timeoutMs} ms (+${this.#cfg.killGraceMs} ms grace)`,
            kind: 'runtime',
          },
        })
      case 'abort':
        await this.#recycle(guest, driver, 'the execution was cancelled')
        return this.result({ status: 'killed', ...partial() })
      case 'failed': {
        if (this.#guest !== guest) return this.result({ status: 'killed', ...partial() })
        if (guest.ssh.closed) {
          this.markFailed()
          // What the chunk printed before the link died travels with the
          // error (it was streamed too), so nothing it wrote is lost.
          const { stdout: partialStdout, stderr: partialStderr } = partial()
          throw new SshError(
            `lost the SSH connection to the guest ${guest.ip} while running Lua; stop() the VM to clean up`,
            {
              cause: outcome.error,
              details: { vmId: this.id, ip: guest.ip, reason: 'lost', stdout: partialStdout, stderr: partialStderr },
            },
          )
        }
        // The interpreter died under us (OOM killer, a signal) but the link
        // is fine. Under a memory cap, dying is how a cap can also show
        // (an allocation outside Lua's protected calls).
        await this.#recycle(guest, driver, `the remote Lua died: ${(outcome.error as Error)?.message ?? outcome.error}`)
        if (driver.memoryCapped) {
          return this.result({
            status: 'memory',
            ...partial(),
            error: { message: 'the remote Lua died under its memory cap; it was restarted', kind: 'runtime' },
          })
        }
        return this.result({ status: 'killed', ...partial() })
      }
    }
  }

  // Kills the driver's process group on the guest and starts a fresh one;
  // globals are lost, which `restarts` in getStatus() reports.
  async #recycle(guest: Guest, driver: RemoteDriver, why: string): Promise<void> {
    this.logger.warn(`${why}; restarting the remote Lua`, { vmId: this.id })
    await driver.kill()
    if (this.#guest !== guest || guest.driver !== driver) return
    try {
      guest.driver = await RemoteDriver.start(guest.ssh, driverOptions(this.#cfg, this.logger))
      this.noteRestart()
    } catch (error) {
      this.logger.error('could not restart the remote Lua; the VM is failed', {
        vmId: this.id,
        error: (error as Error).message,
      })
      this.markFailed()
    }
  }

  protected override memoryLimitProblem(): string | undefined {
    const g = this.#guest
    return g && !g.driver.canLimitMemory
      ? `the guest ${g.ip} has no \`prlimit\` (util-linux) to enforce it; install util-linux in the template`
      : undefined
  }

  protected override async statusDetails(): Promise<Record<string, unknown> | undefined> {
    const g = this.#guest
    if (!g) return { owned: !this.#cfg.attachVm }
    const details: Record<string, unknown> = {
      vmUuid: g.uuid,
      vmName: g.name,
      owned: g.owned,
      ip: g.ip,
      sshPort: g.target.port,
      xapi: new URL(g.session.url).host,
      driverPgid: g.driver.pgid,
      sandbox: g.driver.hello.sandbox,
    }
    try {
      const vm = await getVm(g.session, g.vm, { timeoutMs: 10_000 })
      details.powerState = vm.powerState
      details.memoryBytes = vm.memory.staticMax
      details.vcpus = vm.vcpusAtStartup
    } catch (error) {
      details.xapiError = (error as Error).message
    }
    return details
  }

  protected override async doInstallPackage(name: string, options: InstallOptions): Promise<InstallResult> {
    const g = this.#guest
    if (!g) throw new VMStateError(`xcpng VM '${this.id}' has no guest; start it first`)
    const luaVersion = /(\d+\.\d+)/.exec(g.driver.hello.lua)?.[1] ?? ''
    return installRock(g.ssh, {
      name,
      version: options.version,
      luaVersion,
      tree: this.#cfg.luarocksTree,
      // `servers` as the other backends take it; `server` (one) as this one first did.
      servers: Array.isArray(options.servers)
        ? (options.servers as string[])
        : typeof options.server === 'string'
          ? [options.server]
          : undefined,
      timeoutMs: options.timeoutMs,
      signal: options.signal,
    })
  }

  /** Files are read on the host; the code runs on the guest. */
  protected override readSourceFile(path: string): Promise<Uint8Array> {
    return readFile(path)
  }
}
