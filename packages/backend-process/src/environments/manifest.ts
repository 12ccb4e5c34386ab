import { randomBytes } from 'node:crypto'
import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type InstalledRock, PackageError } from '@bioxen-luavm/core'

/** One rock in an environment's manifest. */
export interface ManifestPackage {
  /** luarocks version, e.g. `0.1.0-1`. */
  version: string
  /** Lua modules it provides (`luarocks show --modules`). */
  modules: string[]
  /** ISO time it was (re)installed. */
  installedAt: string
  /** The rock file or server it came from, as luarocks reported it. */
  source: string
  /** True when asked for by name; false when luarocks pulled it in as a dependency. */
  explicit: boolean
}

/**
 * What is installed where, kept inside the environment
 * (`<env>/manifest.json`) — never in the current directory, where the
 * original's `Curator` wrote it.
 */
export interface EnvironmentManifest {
  format: 1
  name: string
  /** ISO time of `create`. */
  created: string
  /** ISO time of the last change. */
  updated: string
  /** Lua versions with a tree (`<env>/<version>/`). */
  luaVersions: string[]
  /** Rock servers installs use unless told otherwise (URLs or directories); empty means luarocks' defaults. */
  servers: string[]
  /** Rocks per Lua version, by rock name. */
  packages: Record<string, Record<string, ManifestPackage>>
}

/** The manifest file of an environment directory. */
export function manifestFile(envDir: string): string {
  return join(envDir, 'manifest.json')
}

/** A manifest for a new environment. */
export function newManifest(
  name: string,
  luaVersion: string,
  servers: string[],
  now = new Date(),
): EnvironmentManifest {
  const t = now.toISOString()
  return { format: 1, name, created: t, updated: t, luaVersions: [luaVersion], servers, packages: { [luaVersion]: {} } }
}

/** Reads and checks a manifest; a missing or damaged file is a `PackageError` that names it. */
export async function readManifest(envDir: string): Promise<EnvironmentManifest> {
  const file = manifestFile(envDir)
  let data: unknown
  try {
    data = JSON.parse(await readFile(file, 'utf8'))
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
    throw new PackageError(
      missing ? `${file} is missing: not an environment` : `${file} is damaged: ${(error as Error).message}`,
      { cause: error, details: { file } },
    )
  }
  const m = data as Partial<EnvironmentManifest>
  if (
    m?.format !== 1 ||
    typeof m.name !== 'string' ||
    !Array.isArray(m.luaVersions) ||
    !Array.isArray(m.servers) ||
    typeof m.packages !== 'object' ||
    m.packages === null
  ) {
    throw new PackageError(`${file} is not an environment manifest (format 1)`, { details: { file } })
  }
  return m as EnvironmentManifest
}

/** Writes a manifest atomically (temp file + rename), so a crash never leaves half a file. */
export async function writeManifest(envDir: string, manifest: EnvironmentManifest): Promise<void> {
  const file = manifestFile(envDir)
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 })
    await rename(tmp, file)
  } catch (error) {
    await rm(tmp, { force: true })
    throw error
  }
}

/** What changed in a tree, for {@link syncPackages}. */
export interface TreeChange {
  /** Rocks in the tree now (`luarocks list`). */
  rocks: InstalledRock[]
  /** The rock asked for, when this follows an install. */
  requested?: { name: string; modules: string[] }
  /** luarocks' install output: its `Installing <rock>` lines say where each rock came from. */
  log?: string
  /** Servers used, for rocks the log does not name. */
  servers: readonly string[]
  /** Modules of a rock the manifest does not know yet. */
  modulesOf(name: string): Promise<string[]>
  now?: Date
}

/**
 * The manifest's rocks for one tree after a change: what luarocks lists is
 * the truth (it also replaced versions and pulled in dependencies); known,
 * unchanged rocks keep their entries, new ones are described.
 */
export async function syncPackages(
  previous: Record<string, ManifestPackage>,
  change: TreeChange,
): Promise<Record<string, ManifestPackage>> {
  const now = (change.now ?? new Date()).toISOString()
  const next: Record<string, ManifestPackage> = {}
  for (const rock of change.rocks) {
    const old = previous[rock.name]
    const requested = change.requested?.name === rock.name
    if (!requested && old && old.version === rock.version) {
      next[rock.name] = old
      continue
    }
    next[rock.name] = {
      version: rock.version,
      modules: requested ? (change.requested?.modules ?? []) : await change.modulesOf(rock.name),
      installedAt: now,
      source: sourceOf(rock, change.log) ?? (change.servers.join(', ') || 'luarocks default servers'),
      explicit: requested || (old?.explicit ?? false),
    }
  }
  return next
}

function sourceOf(rock: InstalledRock, log: string | undefined): string | undefined {
  const prefix = `${rock.name}-${rock.version}.`
  for (const line of (log ?? '').split('\n')) {
    const m = /^Installing (\S+)\s*$/.exec(line)
    const src = m?.[1]
    if (src && (src.split('/').pop() ?? '').startsWith(prefix)) return src
  }
  return undefined
}
