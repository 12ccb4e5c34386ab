import type { InstallResult } from '../contract/types.js'
import type { Catalog, CatalogPackage } from './catalog.js'

/** What happened to one package of a batch install (a profile, a bootstrap). */
export interface PackageOutcome {
  name: string
  /**
   * `installed` now; `present` already (nothing ran); `skipped` because the
   * target cannot take it or a dependency did not install; `failed` with
   * the installer's message in `error`.
   */
  status: 'installed' | 'present' | 'skipped' | 'failed'
  /** The installer's result, when `installed`. */
  result?: InstallResult
  /** Why it was skipped. */
  reason?: string
  /** Why it failed (the installer's message, e.g. luarocks' `Error:` lines). */
  error?: string
}

/** How {@link installInOrder} installs and what it may skip. */
export interface InstallOrderOptions {
  /** Installs one package; a rejection becomes a `failed` outcome, never a rejection of the batch. */
  install(name: string): Promise<InstallResult>
  /** A reason when the target cannot take `pkg` (e.g. native code on wasm); `undefined` to install. */
  refuse?(pkg: CatalogPackage | undefined, name: string): string | undefined
  /** True when `name` is installed already, so it is reported `present` and not reinstalled. */
  isPresent?(name: string): boolean | Promise<boolean>
  /** Called after each package, e.g. for progress output. */
  onOutcome?(outcome: PackageOutcome): void
  /** Stops the batch between packages; the rest are reported `skipped`. */
  signal?: AbortSignal
}

/**
 * Installs `names` and their catalog dependencies one at a time,
 * dependencies first ({@link Catalog.resolve}), and reports every package.
 * One package failing never rejects the batch: it is `failed`, and what
 * depends on it is `skipped` (installing it would only fail again, or — on
 * backends that mount modules without a resolver — load broken).
 */
export async function installInOrder(
  catalog: Catalog,
  names: Iterable<string>,
  options: InstallOrderOptions,
): Promise<PackageOutcome[]> {
  const outcomes: PackageOutcome[] = []
  const unavailable = new Set<string>()
  for (const name of catalog.resolve(names)) {
    const pkg = catalog.get(name)
    const outcome = await installOne(name, pkg, unavailable, options)
    if (outcome.status === 'skipped' || outcome.status === 'failed') unavailable.add(name)
    outcomes.push(outcome)
    options.onOutcome?.(outcome)
  }
  return outcomes
}

async function installOne(
  name: string,
  pkg: CatalogPackage | undefined,
  unavailable: ReadonlySet<string>,
  options: InstallOrderOptions,
): Promise<PackageOutcome> {
  if (options.signal?.aborted) return { name, status: 'skipped', reason: 'cancelled' }
  const missing = (pkg?.dependencies ?? []).filter((d) => unavailable.has(d))
  if (missing.length) return { name, status: 'skipped', reason: `needs ${missing.join(', ')}, which did not install` }
  const refused = options.refuse?.(pkg, name)
  if (refused) return { name, status: 'skipped', reason: refused }
  try {
    if (await options.isPresent?.(name)) return { name, status: 'present' }
    return { name, status: 'installed', result: await options.install(name) }
  } catch (error) {
    return { name, status: 'failed', error: error instanceof Error ? error.message : String(error) }
  }
}
