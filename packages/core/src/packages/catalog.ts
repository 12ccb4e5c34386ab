import { ConfigError, PackageError } from '../errors/index.js'
import defaultCatalogData from './default-catalog.json'
import { validateModuleName, validatePackageName } from './validate.js'

/** One package of a catalog. */
export interface CatalogPackage {
  name: string
  /** Version constraint, luarocks style (`>= 1.0`); empty means any. */
  version: string
  category: string
  description: string
  /** Other catalog packages this one needs. */
  dependencies: string[]
  /** 1 (least) to 10 (most): orders recommendations. */
  priority: number
  /** Pure Lua: installable into the wasm and fengari sandboxes. */
  pure: boolean
  /** Lua modules the package provides (for `require` probes). */
  modules: string[]
}

/** A named set of packages. */
export interface CatalogProfile {
  name: string
  description: string
  packages: string[]
}

/** A catalog as JSON data (the file format). */
export interface CatalogData {
  version: 1
  packages: Array<Partial<CatalogPackage> & { name: string }>
  profiles: Record<string, { description?: string; packages: string[] }>
}

/**
 * Packages and profiles, from data rather than code: the default ships with
 * core; a host or config can replace it (`Catalog.fromJSON`, `fromURL`).
 * Loading validates everything, so a bad catalog fails early and says where.
 */
export class Catalog {
  readonly #packages: Map<string, CatalogPackage>
  readonly #profiles: Map<string, CatalogProfile>

  private constructor(packages: Map<string, CatalogPackage>, profiles: Map<string, CatalogProfile>) {
    this.#packages = packages
    this.#profiles = profiles
  }

  /** The catalog shipped with core. */
  static default(): Catalog {
    return Catalog.fromJSON(defaultCatalogData, 'the default catalog')
  }

  /** Validates and loads catalog data; `source` names it in errors. */
  static fromJSON(data: unknown, source = 'catalog'): Catalog {
    const d = data as Partial<CatalogData>
    if (
      !d ||
      typeof d !== 'object' ||
      d.version !== 1 ||
      !Array.isArray(d.packages) ||
      typeof d.profiles !== 'object'
    ) {
      throw new ConfigError(`${source}: expected { version: 1, packages: [...], profiles: {...} }`)
    }
    const packages = new Map<string, CatalogPackage>()
    d.packages.forEach((raw, i) => {
      const where = `${source}: packages[${i}]`
      const p = normalizePackage(raw, where)
      if (packages.has(p.name)) throw new ConfigError(`${where}: duplicate package '${p.name}'`)
      packages.set(p.name, p)
    })
    for (const p of packages.values()) {
      for (const dep of p.dependencies) {
        if (!packages.has(dep))
          throw new ConfigError(`${source}: '${p.name}' depends on '${dep}', which is not in the catalog`)
      }
    }
    const profiles = new Map<string, CatalogProfile>()
    for (const [name, raw] of Object.entries(d.profiles ?? {})) {
      if (!Array.isArray(raw?.packages)) throw new ConfigError(`${source}: profile '${name}' needs a packages list`)
      for (const pkg of raw.packages) {
        if (!packages.has(pkg))
          throw new ConfigError(`${source}: profile '${name}' lists '${pkg}', which is not in the catalog`)
      }
      profiles.set(name, { name, description: raw.description ?? '', packages: [...raw.packages] })
    }
    const catalog = new Catalog(packages, profiles)
    catalog.#checkAcyclic(source)
    return catalog
  }

  /** Fetches catalog JSON from a URL (global `fetch`, or the one given). */
  static async fromURL(url: string, fetchImpl: typeof fetch = fetch): Promise<Catalog> {
    let response: Response
    try {
      response = await fetchImpl(url)
    } catch (error) {
      throw new ConfigError(`cannot fetch catalog ${url}: ${(error as Error).message}`, { cause: error })
    }
    if (!response.ok) throw new ConfigError(`cannot fetch catalog ${url}: HTTP ${response.status}`)
    return Catalog.fromJSON(await response.json(), url)
  }

  /** Every package, by descending priority then name. */
  list(): CatalogPackage[] {
    return [...this.#packages.values()].sort(byPriority)
  }

  /** A package by name. */
  get(name: string): CatalogPackage | undefined {
    return this.#packages.get(name)
  }

  /**
   * Packages whose name, description or category contains every word of
   * `query` (case-insensitive), best matches first: name hits before
   * description hits, then priority.
   */
  search(query: string): CatalogPackage[] {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean)
    if (words.length === 0) return this.list()
    const scored: Array<[number, CatalogPackage]> = []
    for (const p of this.#packages.values()) {
      const hay = {
        name: p.name.toLowerCase(),
        rest: `${p.description} ${p.category} ${p.modules.join(' ')}`.toLowerCase(),
      }
      let score = 0
      for (const w of words) {
        if (hay.name.includes(w)) score += hay.name === w ? 100 : 10
        else if (hay.rest.includes(w)) score += 1
        else {
          score = -1
          break
        }
      }
      if (score > 0) scored.push([score, p])
    }
    return scored.sort((a, b) => b[0] - a[0] || byPriority(a[1], b[1])).map(([, p]) => p)
  }

  /** The most useful packages not yet installed, by priority. */
  recommend(options: { installed?: Iterable<string>; limit?: number; pureOnly?: boolean } = {}): CatalogPackage[] {
    const installed = new Set(options.installed ?? [])
    return this.list()
      .filter((p) => !installed.has(p.name) && (!options.pureOnly || p.pure))
      .slice(0, options.limit ?? 5)
  }

  /** Every profile. */
  profiles(): CatalogProfile[] {
    return [...this.#profiles.values()]
  }

  /** A profile by name; throws `PackageError` listing the known ones. */
  profile(name: string): CatalogProfile {
    const p = this.#profiles.get(name)
    if (!p) throw new PackageError(`unknown profile '${name}'; profiles: ${[...this.#profiles.keys()].join(', ')}`)
    return p
  }

  /**
   * Install order for `names` and everything they depend on (dependencies
   * first, each once). Names not in the catalog are kept, last, as given.
   */
  resolve(names: Iterable<string>): string[] {
    const order: string[] = []
    const seen = new Set<string>()
    const visit = (name: string) => {
      if (seen.has(name)) return
      seen.add(name)
      for (const dep of this.#packages.get(name)?.dependencies ?? []) visit(dep)
      order.push(name)
    }
    for (const name of names) visit(validatePackageName(name))
    return order
  }

  #checkAcyclic(source: string): void {
    const state = new Map<string, 'visiting' | 'done'>()
    const visit = (name: string, path: string[]) => {
      if (state.get(name) === 'done') return
      if (state.get(name) === 'visiting') {
        throw new ConfigError(`${source}: dependency cycle ${[...path, name].join(' → ')}`)
      }
      state.set(name, 'visiting')
      for (const dep of this.#packages.get(name)?.dependencies ?? []) visit(dep, [...path, name])
      state.set(name, 'done')
    }
    for (const name of this.#packages.keys()) visit(name, [])
  }
}

function normalizePackage(raw: Partial<CatalogPackage> & { name: string }, where: string): CatalogPackage {
  try {
    validatePackageName(raw.name)
    for (const m of raw.modules ?? []) validateModuleName(m)
  } catch (error) {
    throw new ConfigError(`${where}: ${(error as Error).message}`)
  }
  const priority = raw.priority ?? 5
  if (!Number.isInteger(priority) || priority < 1 || priority > 10) {
    throw new ConfigError(`${where}: priority must be a whole number from 1 to 10`)
  }
  if (raw.pure !== undefined && typeof raw.pure !== 'boolean')
    throw new ConfigError(`${where}: pure must be true or false`)
  return {
    name: raw.name,
    version: raw.version ?? '',
    category: raw.category ?? 'utility',
    description: raw.description ?? '',
    dependencies: [...(raw.dependencies ?? [])],
    priority,
    pure: raw.pure ?? false,
    modules: [...(raw.modules ?? [raw.name])],
  }
}

function byPriority(a: CatalogPackage, b: CatalogPackage): number {
  return b.priority - a.priority || a.name.localeCompare(b.name)
}
