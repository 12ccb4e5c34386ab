import {
  type BackendCapabilities,
  BaseLuaVM,
  type ExecResult,
  type ResolvedExecOptions,
  type StartOptions,
  type StopOptions,
} from '@bioxen-luavm/core'
import type { SessionLease } from '../modes/mode.js'
import type { WorkerExecOptions } from '../worker/driver-worker.js'
import { resultFields } from '../worker/outcome.js'

/** What a session view needs from the VM that owns it. */
export interface SessionHost {
  readonly id: string
  readonly type: string
  readonly capabilities: BackendCapabilities
  readonly luaVersion: string
  /** Turns a VM-level resolved option set into worker options (memory cap, grace). */
  workerOptions(options: ResolvedExecOptions): WorkerExecOptions
}

/**
 * The VM a REPL session talks to: a view of its owner pinned to one worker
 * slot *and generation*. Its Lua state is that one process's state; when
 * the process ends (hard deadline, cancel, crash, `os.exit`), the view goes
 * `failed`, which makes its `ReplSession` dead — the next `sendInput`
 * rejects with `InteractiveSessionError` instead of silently running on a
 * fresh, empty interpreter.
 */
export class SessionVM extends BaseLuaVM {
  readonly capabilities: BackendCapabilities
  readonly #host: SessionHost
  readonly #lease: SessionLease
  readonly #unsubscribe: () => void

  constructor(host: SessionHost, lease: SessionLease) {
    super({ id: host.id, type: host.type, config: {} })
    this.capabilities = host.capabilities
    this.#host = host
    this.#lease = lease
    this.setLuaVersion(host.luaVersion)
    this.#unsubscribe = lease.slot.onGenerationEnded((generation) => {
      if (generation === lease.generation) this.#lost()
    })
  }

  protected async doStart(_options: StartOptions): Promise<void> {
    if (this.#lease.slot.generation !== this.#lease.generation || this.#lease.slot.worker?.dead !== false) {
      throw new Error('the Lua process of this session already ended')
    }
  }

  protected async doStop(_options: StopOptions): Promise<void> {
    this.#unsubscribe()
    await this.#lease.release()
  }

  protected async runCode(code: string | Uint8Array, options: ResolvedExecOptions): Promise<ExecResult> {
    const { outcome } = await this.#lease.slot.run(code, this.#host.workerOptions(options), this.#lease.generation)
    return this.result(resultFields(outcome))
  }

  #lost(): void {
    if (this.state === 'running') this.markFailed()
  }
}
