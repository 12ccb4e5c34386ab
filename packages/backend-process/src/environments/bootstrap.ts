import { Catalog, installInOrder, type PackageOutcome } from '@bioxen-luavm/core'
import type { EnvironmentManager } from './environment-manager.js'
import { validateLuaVersion } from './paths.js'

/** Options of {@link bootstrapEnvironment}. */
export interface BootstrapOptions {
  /** Tree to fill (default 5.4). */
  luaVersion?: string
  /** Rock servers (default: the environment's, then the manager's). */
  servers?: readonly string[]
  /** Where the profile and dependencies come from (default `Catalog.default()`). */
  catalog?: Catalog
  /** Skip packages the catalog marks as native (C) code. */
  pureOnly?: boolean
  signal?: AbortSignal
  /** Deadline of each package's install. */
  timeoutMs?: number
  /** Called after each package (progress output). */
  onOutcome?(outcome: PackageOutcome): void
}

/** What bootstrapping did, package by package. */
export interface BootstrapReport {
  environment: string
  profile: string
  luaVersion: string
  /** Every package of the profile and its dependencies, in install order. */
  outcomes: PackageOutcome[]
  /** True when no package failed. */
  ok: boolean
}

/**
 * Creates environment `name` if needed and installs profile `profile` into
 * it, dependencies first (`catalog.resolve`). Rocks already in the tree are
 * reported `present`, not reinstalled, so running it again is cheap. One
 * package failing never rejects: it is reported `failed` (with luarocks'
 * message) and what depends on it `skipped`. Rejects only for an unknown
 * profile or a bad name/version — before anything is created.
 */
export async function bootstrapEnvironment(
  manager: EnvironmentManager,
  name: string,
  profile: string,
  options: BootstrapOptions = {},
): Promise<BootstrapReport> {
  const catalog = options.catalog ?? Catalog.default()
  const { packages } = catalog.profile(profile)
  const luaVersion = validateLuaVersion(options.luaVersion ?? '5.4')
  await manager.ensure(name, { luaVersion, ...(options.servers ? { servers: options.servers } : {}) })
  const outcomes = await installInOrder(catalog, packages, {
    install: (pkg) =>
      manager.install(name, pkg, {
        luaVersion,
        ...(options.servers ? { servers: options.servers } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      }),
    // Read fresh each time: a rock luarocks pulled in as a dependency of an
    // earlier package is present now.
    isPresent: async (pkg) => (await manager.manifest(name)).packages[luaVersion]?.[pkg] !== undefined,
    refuse: (pkg) => (options.pureOnly && pkg && !pkg.pure ? 'has native (C) code; pureOnly was asked for' : undefined),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onOutcome ? { onOutcome: options.onOutcome } : {}),
  })
  return { environment: name, profile, luaVersion, outcomes, ok: outcomes.every((o) => o.status !== 'failed') }
}
