import { validateSection } from '../config/schema.js'
import type { BaseLuaVM, ExecDefaults, VMInit } from '../contract/base-vm.js'
import { BackendNotFoundError, BackendUnavailableError, ConfigError, InvalidArgumentError } from '../errors/index.js'
import type { Logger } from '../logger/logger.js'
import { newId } from '../util/ids.js'
import { didYouMean } from '../util/suggest.js'
import type { BackendDescriptor, BackendImplementation, DetectResult } from './backend-descriptor.js'

/** Order in which `type: 'auto'` tries backends: native first, then the WASM sandbox, then pure JS. */
export const AUTO_ORDER: readonly string[] = ['process', 'wasm', 'fengari']

/** Options of {@link BackendRegistry.create}. */
export interface CreateVMOptions {
  /** Start the VM before returning it (default true). */
  autoStart?: boolean
  /** Default limits of the VM's executions. */
  limits?: Partial<ExecDefaults>
  logger?: Logger
  signal?: AbortSignal
}

/** One row of {@link BackendRegistry.detect}. */
export interface DetectedBackend extends DetectResult {
  type: string
  aliases: readonly string[]
  description: string
  capabilities: BackendDescriptor['capabilities']
}

const typePattern = /^[a-z][a-z0-9-]{0,39}$/

/**
 * Backends by type. Registration is cheap (descriptors only); the
 * implementation of a backend is imported the first time a VM of it is made.
 */
export class BackendRegistry {
  readonly #byType = new Map<string, BackendDescriptor<never>>()
  readonly #aliases = new Map<string, string>()
  readonly #loaded = new Map<string, Promise<BackendImplementation<never>>>()

  /** Registers a backend. A taken type or alias fails unless `replace: true`. */
  register(descriptor: BackendDescriptor<never> | BackendDescriptor, options: { replace?: boolean } = {}): this {
    const d = descriptor as BackendDescriptor<never>
    checkDescriptor(d)
    const names = [d.type, ...(d.aliases ?? [])]
    if (!options.replace) {
      for (const name of names) {
        const owner = this.#resolveName(name)
        if (owner !== undefined) {
          throw new InvalidArgumentError(
            `backend name '${name}' is already registered (by '${owner}'); pass { replace: true } to replace it`,
          )
        }
      }
    } else {
      for (const name of names) {
        const owner = this.#resolveName(name)
        if (owner !== undefined && owner !== d.type) this.unregister(owner)
      }
      this.unregister(d.type)
    }
    this.#byType.set(d.type, d)
    for (const alias of d.aliases ?? []) this.#aliases.set(alias, d.type)
    return this
  }

  /** Removes a backend by type or alias. Returns false when it was not registered. */
  unregister(typeOrAlias: string): boolean {
    const type = this.#resolveName(typeOrAlias)
    if (type === undefined) return false
    const d = this.#byType.get(type)
    this.#byType.delete(type)
    this.#loaded.delete(type)
    for (const alias of d?.aliases ?? []) this.#aliases.delete(alias)
    return true
  }

  /** The descriptor for a type or alias, if registered. */
  get(typeOrAlias: string): BackendDescriptor<never> | undefined {
    const type = this.#resolveName(typeOrAlias)
    return type === undefined ? undefined : this.#byType.get(type)
  }

  /** True when a type or alias is registered. */
  has(typeOrAlias: string): boolean {
    return this.#resolveName(typeOrAlias) !== undefined
  }

  /** All registered descriptors, in registration order. */
  list(): BackendDescriptor<never>[] {
    return [...this.#byType.values()]
  }

  /** Registered types (not aliases). */
  types(): string[] {
    return [...this.#byType.keys()]
  }

  /** Asks every backend whether it can run here, and why not. Never rejects. */
  async detect(): Promise<DetectedBackend[]> {
    return Promise.all(this.list().map((d) => this.#detectOne(d)))
  }

  /**
   * The type `auto` stands for: the first available of `process`, `wasm`,
   * `fengari` (among those registered). Throws `BackendUnavailableError`
   * with every reason when none is.
   */
  async resolveAuto(): Promise<string> {
    const reasons: string[] = []
    for (const type of AUTO_ORDER) {
      const d = this.#byType.get(type)
      if (!d) continue
      const found = await this.#detectOne(d)
      if (found.available) return type
      reasons.push(`${type}: ${found.reason ?? 'unavailable'}`)
    }
    throw new BackendUnavailableError(
      reasons.length === 0
        ? `no backend for 'auto': register one of ${AUTO_ORDER.join(', ')} (registered: ${this.#listing()})`
        : `no backend for 'auto' can run here — ${reasons.join('; ')}`,
    )
  }

  /** Resolves a requested type (alias or `auto`) to a registered type, or throws `BackendNotFoundError`. */
  async resolveType(requested: string): Promise<string> {
    if (requested === 'auto') return this.resolveAuto()
    const type = this.#resolveName(requested)
    if (type === undefined) {
      const names = [...this.types(), ...this.#aliases.keys(), 'auto']
      throw new BackendNotFoundError(
        `unknown backend type '${requested}'${didYouMean(requested, names)}; registered: ${this.#listing()}`,
        {
          details: { requested, registered: this.types() },
        },
      )
    }
    return type
  }

  /**
   * Creates (and by default starts) a VM of `type` (`auto`, a type or an
   * alias). The config is validated against the backend's schema first.
   */
  async create(
    type: string,
    id: string = newId('vm'),
    config: Record<string, unknown> = {},
    options: CreateVMOptions = {},
  ): Promise<BaseLuaVM> {
    const resolved = await this.resolveType(type)
    const descriptor = this.#byType.get(resolved) as BackendDescriptor<never>
    const validated = descriptor.configSchema
      ? validateSection(descriptor.configSchema, config, `backends.${resolved}`)
      : config
    const problem = descriptor.checkConfig?.(validated)
    if (problem) throw new ConfigError(problem, { details: { backend: resolved } })
    const impl = await this.#load(descriptor)
    const init: VMInit<never> = {
      id,
      type: resolved,
      config: validated as never,
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.logger ? { logger: options.logger.child(resolved) } : {}),
    }
    const vm = impl.createVM(init)
    if (options.autoStart !== false) {
      try {
        await vm.start(options.signal ? { signal: options.signal } : {})
      } catch (error) {
        await vm.stop({ force: true }).catch(() => {})
        throw error
      }
    }
    return vm
  }

  #load(d: BackendDescriptor<never>): Promise<BackendImplementation<never>> {
    let p = this.#loaded.get(d.type)
    if (!p) {
      p = d.load().then(
        (impl) => {
          if (!impl || typeof impl.createVM !== 'function') {
            throw new BackendUnavailableError(`backend '${d.type}' loaded, but its implementation has no createVM()`)
          }
          return impl
        },
        (error: unknown) => {
          this.#loaded.delete(d.type)
          throw new BackendUnavailableError(
            `backend '${d.type}' could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          )
        },
      )
      this.#loaded.set(d.type, p)
    }
    return p
  }

  async #detectOne(d: BackendDescriptor<never>): Promise<DetectedBackend> {
    let found: DetectResult
    try {
      found = await d.detect()
    } catch (error) {
      found = {
        available: false,
        reason: `detection failed: ${error instanceof Error ? error.message : String(error)}`,
      }
    }
    return {
      ...found,
      type: d.type,
      aliases: d.aliases ?? [],
      description: d.description,
      capabilities: d.capabilities,
    }
  }

  #resolveName(name: string): string | undefined {
    if (this.#byType.has(name)) return name
    return this.#aliases.get(name)
  }

  #listing(): string {
    const names = this.list().map((d) => (d.aliases?.length ? `${d.type} (${d.aliases.join(', ')})` : d.type))
    return names.length ? names.join(', ') : '(none)'
  }
}

function checkDescriptor(d: BackendDescriptor<never>): void {
  if (!d || typeof d !== 'object') throw new InvalidArgumentError('a backend descriptor must be an object')
  if (typeof d.type !== 'string' || !typePattern.test(d.type) || d.type === 'auto') {
    throw new InvalidArgumentError(
      `backend type '${String(d.type)}' is invalid: use lowercase letters, digits and '-' (and not 'auto')`,
    )
  }
  for (const alias of d.aliases ?? []) {
    if (!typePattern.test(alias) || alias === 'auto')
      throw new InvalidArgumentError(`backend alias '${alias}' is invalid`)
  }
  if (typeof d.load !== 'function' || typeof d.detect !== 'function') {
    throw new InvalidArgumentError(`backend '${d.type}' must have load() and detect() functions`)
  }
  if (!d.capabilities || typeof d.capabilities !== 'object') {
    throw new InvalidArgumentError(`backend '${d.type}' must declare its capabilities`)
  }
}

/** A process-wide registry for convenience; tests and hosts can make their own. */
export const defaultRegistry = new BackendRegistry()
