import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type InstallResult, PackageError } from '@bioxen-luavm/core'
import { EnvironmentManager } from './environment-manager.js'
import { treePaths } from './paths.js'

/** Where a process VM's packages go. */
export interface VMEnvironmentOptions {
  /** A named environment (shared, persistent); absent means a private one for this VM only. */
  environment?: string
  /** Root of named environments (default: the per-user data directory). */
  envRoot?: string
  /** Lua version of the VM's interpreter (`5.4`; LuaJIT is `5.1`). */
  luaVersion: string
  /** Rock servers when an install names none. */
  servers?: readonly string[]
  /** The luarocks program. */
  luarocks?: string
}

// The name of the one environment inside a VM's private root.
const PRIVATE_NAME = 'vm'

// Private roots that exist now, removed synchronously if the host exits
// without stopping its VMs, so even a forgotten VM leaves no directory.
const liveRoots = new Set<string>()
let exitHookInstalled = false
function track(root: string): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.on('exit', () => {
      for (const r of liveRoots) rmSync(r, { recursive: true, force: true })
    })
  }
  liveRoots.add(root)
}

/**
 * A process VM's package environment: a named one from config
 * (`environment`), or a private one in a temp directory that exists only
 * from the first install until the VM stops.
 *
 * The tree's directories are on the interpreters' `LUA_PATH`/`LUA_CPATH`
 * from the start — they may not exist yet — and Lua searches the file
 * system on every `require` (failures are not cached), so a rock installed
 * while the VM runs is `require`-able at once, in every worker, without a
 * restart and without losing state. A module that was already loaded stays
 * loaded at its old version until the worker restarts or Lua code clears
 * `package.loaded[name]`.
 */
export class VMEnvironment {
  readonly manager: EnvironmentManager
  /** The environment's name (`vm` for a private one). */
  readonly name: string
  readonly luaVersion: string
  /** True for a per-VM environment removed on stop. */
  readonly isPrivate: boolean
  // The private root's creation, shared by concurrent first installs.
  #root: Promise<void> | undefined
  // Installs in flight: stopping cancels them and waits, so luarocks cannot
  // recreate files in a private root after it was removed.
  readonly #jobs = new Set<Promise<InstallResult>>()
  readonly #stop = new AbortController()

  constructor(options: VMEnvironmentOptions) {
    this.luaVersion = options.luaVersion
    this.isPrivate = options.environment === undefined
    this.name = options.environment ?? PRIVATE_NAME
    // A private root is only reserved here (random, unguessable name);
    // it is created by the first install.
    const root = this.isPrivate ? join(tmpdir(), `bioxen-luavm-vm-${randomBytes(12).toString('hex')}`) : options.envRoot
    this.manager = new EnvironmentManager({
      ...(root === undefined ? {} : { root }),
      ...(options.servers ? { servers: options.servers } : {}),
      ...(options.luarocks ? { luarocks: options.luarocks } : {}),
    })
    this.manager.envDir(this.name)
  }

  /** `LUA_PATH` / `LUA_CPATH` entries of the tree, without Lua's defaults. */
  paths(): { LUA_PATH: string; LUA_CPATH: string } {
    return treePaths(this.manager.treeDir(this.name, this.luaVersion), this.luaVersion)
  }

  /** Installs a rock into the environment (creating it, or the private root, on first use). */
  install(
    pkg: string,
    options: { version?: string; servers?: readonly string[]; signal?: AbortSignal; timeoutMs?: number },
  ): Promise<InstallResult> {
    // Tracked from the first moment, so dispose() waits for every step that
    // could create files in the root.
    const job = this.#install(pkg, options)
    this.#jobs.add(job)
    const forget = () => this.#jobs.delete(job)
    job.then(forget, forget)
    return job
  }

  async #install(
    pkg: string,
    options: { version?: string; servers?: readonly string[]; signal?: AbortSignal; timeoutMs?: number },
  ): Promise<InstallResult> {
    this.#stop.signal.throwIfAborted()
    if (this.isPrivate) {
      this.#root ??= this.#createPrivateRoot().catch((error: unknown) => {
        this.#root = undefined
        throw error
      })
      await this.#root
    }
    const signal = options.signal ? AbortSignal.any([options.signal, this.#stop.signal]) : this.#stop.signal
    return this.manager.install(this.name, pkg, { ...options, signal, luaVersion: this.luaVersion, create: true })
  }

  /** Removes a private environment; a named one is kept (it outlives VMs). */
  async dispose(): Promise<void> {
    this.#stop.abort(new PackageError('the VM stopped'))
    await Promise.allSettled([...this.#jobs])
    const root = this.#root
    if (!this.isPrivate || !root) return
    this.#root = undefined
    if (
      !(await root.then(
        () => true,
        () => false,
      ))
    )
      return
    await rm(this.manager.root, { recursive: true, force: true })
    liveRoots.delete(this.manager.root)
  }

  /** Facts for `getStatus().details`. */
  describe(): Record<string, unknown> {
    return {
      name: this.isPrivate ? '(private)' : this.name,
      path: this.manager.treeDir(this.name, this.luaVersion),
      luaVersion: this.luaVersion,
    }
  }

  async #createPrivateRoot(): Promise<void> {
    try {
      // Not recursive: the parent is the system temp directory, and an
      // existing directory of that name is someone else's.
      await mkdir(this.manager.root, { mode: 0o700 })
    } catch (error) {
      throw new PackageError(
        `cannot create the VM's package directory ${this.manager.root}: ${(error as Error).message}`,
        {
          cause: error,
        },
      )
    }
    track(this.manager.root)
  }
}
