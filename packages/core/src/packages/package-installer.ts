import type { BackendCapabilities, InstallOptions, InstallResult, PackageKind } from '../contract/types.js'
import { InvalidArgumentError, PackageError } from '../errors/index.js'
import { Catalog, type CatalogPackage } from './catalog.js'
import { installInOrder, type PackageOutcome } from './install-order.js'
import { validatePackageName } from './validate.js'

/** What the installer needs of a VM: any `BaseLuaVM` fits. */
export interface PackageTargetVM {
  readonly id: string
  readonly type: string
  readonly capabilities: BackendCapabilities
  installPackage(name: string, options?: InstallOptions): Promise<InstallResult>
}

/** Where VMs are looked up by id: a `VMManager` fits. */
export interface VMLookup {
  /** The VM with `id`; throws when there is none. */
  requireVM(id: string): PackageTargetVM
}

/** Options of {@link PackageInstaller.installProfile} and {@link PackageInstaller.installPackages}. */
export interface BatchInstallOptions {
  /** Install only pure-Lua packages, even where the backend could build native ones. */
  pureOnly?: boolean
  signal?: AbortSignal
  /** Deadline of each package's install. */
  timeoutMs?: number
  /** Called after each package (progress output). */
  onOutcome?(outcome: PackageOutcome): void
  /** Backend-specific extras passed to every `installPackage` call (e.g. `servers`). */
  extra?: Record<string, unknown>
}

/** What installing a profile into a VM did, package by package. */
export interface ProfileInstallResult {
  profile: string
  vmId: string
  backend: string
  /** Every package of the profile and its dependencies, in install order. */
  outcomes: PackageOutcome[]
  /** True when nothing failed (skips for native code on pure-only backends are not failures). */
  ok: boolean
}

const ALL_KINDS: readonly PackageKind[] = ['pure', 'native']

/**
 * Installs catalog packages into VMs through the backend's own installer
 * (`vm.installPackage`): luarocks trees for `process`, mounted pure-Lua
 * rocks for `wasm`/`fengari`, luarocks over SSH for `xcpng`. Browser-safe:
 * it only orders, filters and reports; the VM does the work.
 *
 * Fixes the original's `setup_packages` (bool/dict mix-up, "success" on
 * failure): every package gets its own outcome and one failure never
 * rejects a profile install.
 *
 * @example
 * const installer = new PackageInstaller({ manager })
 * const r = await installer.installProfile('bio', 'vm1')
 * for (const o of r.outcomes) console.log(o.name, o.status)
 */
export class PackageInstaller {
  readonly catalog: Catalog
  readonly #manager: VMLookup | undefined

  constructor(options: { manager?: VMLookup; catalog?: Catalog } = {}) {
    this.#manager = options.manager
    this.catalog = options.catalog ?? Catalog.default()
  }

  /**
   * Installs one package into a VM (by id through the manager, or the VM
   * itself). The name is validated before the backend sees it; a native
   * catalog package on a pure-only backend is refused with `PackageError`.
   */
  async installInVM(name: string, vm: string | PackageTargetVM, options: InstallOptions = {}): Promise<InstallResult> {
    validatePackageName(name)
    const target = this.#vm(vm)
    assertCanInstall(target)
    const refused = refusal(target, this.catalog.get(name), name, false)
    if (refused) throw new PackageError(`cannot install '${name}' into VM '${target.id}': ${refused}`)
    return target.installPackage(name, options)
  }

  /**
   * Installs `names` and their catalog dependencies in dependency order.
   * Resolves with one outcome per package; rejects only when the VM is
   * unknown or cannot install packages at all.
   */
  async installPackages(
    names: Iterable<string>,
    vm: string | PackageTargetVM,
    options: BatchInstallOptions = {},
  ): Promise<PackageOutcome[]> {
    const list = [...names].map((n) => validatePackageName(n))
    const target = this.#vm(vm)
    assertCanInstall(target)
    return installInOrder(this.catalog, list, {
      install: (name) =>
        target.installPackage(name, {
          ...options.extra,
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        }),
      refuse: (pkg, name) => refusal(target, pkg, name, options.pureOnly === true),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onOutcome ? { onOutcome: options.onOutcome } : {}),
    })
  }

  /**
   * Installs a profile (`bio`, `standard`, ...) into a VM. Native packages
   * are skipped on backends that take pure-Lua rocks only
   * (`capabilities.packageKinds`), or everywhere with `pureOnly`.
   */
  async installProfile(
    profile: string,
    vm: string | PackageTargetVM,
    options: BatchInstallOptions = {},
  ): Promise<ProfileInstallResult> {
    const { packages } = this.catalog.profile(profile)
    const target = this.#vm(vm)
    const outcomes = await this.installPackages(packages, target, options)
    return {
      profile,
      vmId: target.id,
      backend: target.type,
      outcomes,
      ok: outcomes.every((o) => o.status !== 'failed'),
    }
  }

  #vm(vm: string | PackageTargetVM): PackageTargetVM {
    if (typeof vm !== 'string') return vm
    if (!this.#manager) {
      throw new InvalidArgumentError(
        `no VM manager to look up VM '${vm}': pass { manager } to PackageInstaller or pass the VM itself`,
      )
    }
    return this.#manager.requireVM(vm)
  }
}

function assertCanInstall(vm: PackageTargetVM): void {
  if (!vm.capabilities.packages) {
    throw new PackageError(`backend '${vm.type}' of VM '${vm.id}' cannot install packages`, {
      details: { vmId: vm.id, backend: vm.type },
    })
  }
}

// Unknown packages go to the backend, which knows best, unless the caller
// asked for pure Lua only: then only what the catalog vouches for is installed.
function refusal(
  vm: PackageTargetVM,
  pkg: CatalogPackage | undefined,
  name: string,
  pureOnly: boolean,
): string | undefined {
  const kinds = vm.capabilities.packageKinds ?? ALL_KINDS
  const nativeOk = kinds.includes('native') && !pureOnly
  if (!pkg) return pureOnly ? `'${name}' is not in the catalog, so it is not known to be pure Lua` : undefined
  if (pkg.pure) return kinds.includes('pure') ? undefined : `backend '${vm.type}' takes native rocks only`
  if (nativeOk) return undefined
  return pureOnly
    ? 'has native (C) code and only pure-Lua packages were asked for'
    : `has native (C) code; backend '${vm.type}' takes pure-Lua rocks only`
}
