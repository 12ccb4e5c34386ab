import { checkByteLimit, checkLimits, checkTimeoutMs } from '../contract/limits.js'
import { ConfigError } from '../errors/index.js'
import type { BackendRegistry } from '../registry/backend-registry.js'
import { isSecretName, REDACTED, redactFields, redactText } from '../util/redact.js'
import { didYouMean } from '../util/suggest.js'
import { type ConfigSchema, validateSection } from './schema.js'

/** The whole config, as a file or an object holds it. */
export interface LuaVMConfig {
  /** Backend for VMs that name none: `auto` (default) or a type. */
  defaultBackend?: string
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  /** Modules that export backend descriptors, loaded by the CLI at start. */
  plugins?: string[]
  /** Default execution limits. */
  limits?: { timeoutMs?: number; maxOutputBytes?: number; memoryLimitBytes?: number }
  /** Per-backend settings, by type. */
  backends?: Record<string, Record<string, unknown>>
}

type Env = Record<string, string | undefined>

/** Where config comes from; later sources win: file < env < explicit. */
export interface ConfigSources {
  /** Parsed file content (a `LuaVMConfig`, or the original's flat `xcpng_config.json`). */
  file?: unknown
  /** Name of the file, for error messages. */
  fileName?: string
  /** Environment variables; defaults to `process.env` where there is one. */
  env?: Env
  /** Values given in code. */
  explicit?: LuaVMConfig
  /** Backend when no source names one (default `auto`; the CLI uses `wasm`). */
  fallbackBackend?: string
}

// The original library's xcpng_config.json is flat; these keys mark it.
const XCPNG_FLAT_KEYS = [
  'xapi_url',
  'username',
  'password',
  'pool_uuid',
  'template_name',
  'vm_name_prefix',
  'network_uuid',
  'storage_repository',
  'ssh_user',
  'ssh_key_path',
  'vm_memory',
  'vm_vcpus',
] as const

const TOP_LEVEL = new Set(['defaultBackend', 'logLevel', 'plugins', 'limits', 'backends'])

/**
 * Loads, merges and validates config. Sources merge key by key
 * (file < environment < explicit); each backend's section is validated
 * against its descriptor's schema with messages naming the bad key and
 * where it came from. Printing a config redacts its secrets.
 */
export class ConfigManager {
  readonly #file: LuaVMConfig
  readonly #fileName: string | undefined
  readonly #env: Env
  readonly #explicit: LuaVMConfig
  readonly #fallbackBackend: string

  constructor(sources: ConfigSources = {}) {
    this.#fileName = sources.fileName
    this.#file = normalizeFile(sources.file, sources.fileName)
    this.#env = sources.env ?? processEnv()
    this.#explicit = sources.explicit ?? {}
    this.#fallbackBackend = sources.fallbackBackend ?? 'auto'
  }

  /**
   * Reads a JSON config file through `readFile` (core has no file system;
   * Node callers pass `fs.promises.readFile`), then merges env and explicit.
   */
  static async fromFile(
    path: string,
    readFile: (path: string, encoding: 'utf8') => Promise<string>,
    rest: Omit<ConfigSources, 'file' | 'fileName'> = {},
  ): Promise<ConfigManager> {
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (error) {
      throw new ConfigError(`cannot read config file '${path}': ${(error as Error).message}`, { cause: error })
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (error) {
      throw new ConfigError(`config file '${path}' is not valid JSON: ${(error as Error).message}`, { cause: error })
    }
    return new ConfigManager({ ...rest, file: parsed, fileName: path })
  }

  /** `defaultBackend` (file < `LUAVM_BACKEND` < explicit), else the fallback (`auto`). */
  get defaultBackend(): string {
    return (
      this.#explicit.defaultBackend ?? this.#env.LUAVM_BACKEND ?? this.#file.defaultBackend ?? this.#fallbackBackend
    )
  }

  /** `logLevel`, if configured anywhere. */
  get logLevel(): LuaVMConfig['logLevel'] | undefined {
    return this.#explicit.logLevel ?? (this.#env.LUAVM_LOG_LEVEL as LuaVMConfig['logLevel']) ?? this.#file.logLevel
  }

  /** Plugin modules from every source, without duplicates, file first. */
  get plugins(): string[] {
    const fromEnv =
      this.#env.LUAVM_PLUGINS?.split(',')
        .map((s) => s.trim())
        .filter(Boolean) ?? []
    return [...new Set([...(this.#file.plugins ?? []), ...fromEnv, ...(this.#explicit.plugins ?? [])])]
  }

  /**
   * Default execution limits merged from every source, checked by the rule
   * every limit follows (`checkLimits`).
   *
   * @throws ConfigError naming the bad limit and where it came from
   */
  get limits(): NonNullable<LuaVMConfig['limits']> {
    return this.#limits(true)
  }

  // With `check` false (printing a config that may be wrong): the values as given.
  #limits(check: boolean): NonNullable<LuaVMConfig['limits']> {
    const env: Record<string, unknown> = {}
    for (const [key, name] of [
      ['timeoutMs', 'LUAVM_TIMEOUT_MS'],
      ['maxOutputBytes', 'LUAVM_MAX_OUTPUT_BYTES'],
      ['memoryLimitBytes', 'LUAVM_MEMORY_LIMIT_BYTES'],
    ] as const) {
      const raw = this.#env[name]
      if (raw === undefined || raw === '') continue
      // Number('') and Number(' ') are 0, Number('0x10') 16: only decimal text counts.
      const n = /^\s*[0-9.eE+-]+\s*$/.test(raw) ? Number(raw) : raw
      env[key] = !check
        ? n
        : key === 'timeoutMs'
          ? checkTimeoutMs(n, name)
          : checkByteLimit(n, name, key === 'maxOutputBytes' ? 0 : 1)
    }
    const where = this.#fileName ? `config file '${this.#fileName}': limits.` : 'config limits.'
    const file = this.#file.limits ?? {}
    const explicit = this.#explicit.limits ?? {}
    return check
      ? { ...checkLimits(file, where), ...env, ...checkLimits(explicit, 'limits.') }
      : { ...file, ...env, ...explicit }
  }

  /** The raw merged (unvalidated) settings of one backend. */
  rawBackend(type: string, schema?: ConfigSchema): Record<string, unknown> {
    return { ...this.#file.backends?.[type], ...this.#envFor(type, schema), ...this.#explicit.backends?.[type] }
  }

  /** Merged and validated settings of one backend, defaults filled in. */
  backend(type: string, schema: ConfigSchema): Record<string, unknown> {
    const merged = this.rawBackend(type, schema)
    return validateSection(schema, merged, `backends.${type}`, (key) => this.#sourceOf(type, key, schema))
  }

  /** Validates every configured backend section against the registry's schemas; returns all problems. */
  validate(registry: BackendRegistry): string[] {
    const problems: string[] = []
    try {
      void this.limits
    } catch (error) {
      problems.push((error as Error).message)
    }
    // The backend every run uses unless told otherwise must exist.
    const chosen = this.defaultBackend
    if (chosen !== 'auto' && !registry.has(chosen)) {
      const names = [...registry.types(), 'auto']
      problems.push(
        `defaultBackend: no backend '${chosen}' is registered${didYouMean(chosen, names)}; registered: ${names.join(', ')}`,
      )
    }
    for (const type of this.#configuredTypes(registry)) {
      const d = registry.get(type)
      if (!d) {
        problems.push(`backends.${type}: no backend '${type}' is registered`)
        continue
      }
      if (!d.configSchema) continue
      try {
        const section = this.backend(d.type, d.configSchema)
        const problem = d.checkConfig?.(section)
        if (problem) problems.push(redactText(problem))
      } catch (error) {
        problems.push(
          ...(((error as ConfigError).details.problems as string[] | undefined) ?? [(error as Error).message]),
        )
      }
    }
    return problems
  }

  /** The merged config with every secret replaced by `"[redacted]"`: safe to print or log. */
  redacted(registry?: BackendRegistry): LuaVMConfig {
    const backends: Record<string, Record<string, unknown>> = {}
    for (const type of this.#configuredTypes(registry)) {
      const schema = registry?.get(type)?.configSchema
      backends[type] = redactSection(this.rawBackend(type, schema), schema)
    }
    return {
      defaultBackend: this.defaultBackend,
      ...(this.logLevel ? { logLevel: this.logLevel } : {}),
      plugins: this.plugins,
      limits: this.#limits(false),
      backends,
    }
  }

  toJSON(): LuaVMConfig {
    return this.redacted()
  }

  // Backends with settings from a file, from code, or only from environment
  // variables (those need the registry's schemas to be recognised).
  #configuredTypes(registry?: BackendRegistry): Set<string> {
    const types = new Set([...Object.keys(this.#file.backends ?? {}), ...Object.keys(this.#explicit.backends ?? {})])
    for (const d of registry?.list() ?? []) {
      if (d.configSchema && Object.keys(this.#envFor(d.type, d.configSchema)).length > 0) types.add(d.type)
    }
    return types
  }

  #envFor(type: string, schema?: ConfigSchema): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const [key, field] of Object.entries(schema ?? {})) {
      const name = this.#envName(type, key, field.env)
      if (name) out[key] = this.#env[name]
    }
    return out
  }

  #envName(type: string, key: string, aliases: readonly string[] = []): string | undefined {
    const generic = `LUAVM_${type}_${key}`.toUpperCase().replace(/[^A-Z0-9]/g, '_')
    return [generic, ...aliases].find((name) => this.#env[name] !== undefined && this.#env[name] !== '')
  }

  #sourceOf(type: string, key: string, schema: ConfigSchema): string | undefined {
    if (this.#explicit.backends?.[type]?.[key] !== undefined) return 'explicit config'
    const envName = this.#envName(type, key, schema[key]?.env)
    if (envName) return `environment variable ${envName}`
    if (this.#file.backends?.[type]?.[key] !== undefined)
      return this.#fileName ? `file ${this.#fileName}` : 'config file'
    return undefined
  }
}

function normalizeFile(file: unknown, fileName: string | undefined): LuaVMConfig {
  if (file === undefined || file === null) return {}
  const where = fileName ? `config file '${fileName}'` : 'config'
  if (typeof file !== 'object' || Array.isArray(file)) throw new ConfigError(`${where}: expected a JSON object`)
  const record = file as Record<string, unknown>
  // The original's flat xcpng_config.json is read unchanged as the xcpng section.
  if (XCPNG_FLAT_KEYS.some((k) => k in record) && !('backends' in record)) {
    return { backends: { xcpng: { ...record } } }
  }
  for (const key of Object.keys(record)) {
    if (!TOP_LEVEL.has(key)) {
      throw new ConfigError(
        `${where}: unknown key '${key}'${didYouMean(key, TOP_LEVEL)}; known keys: ${[...TOP_LEVEL].join(', ')}`,
      )
    }
  }
  if (
    record.plugins !== undefined &&
    !(Array.isArray(record.plugins) && record.plugins.every((p) => typeof p === 'string'))
  ) {
    throw new ConfigError(`${where}: plugins must be a list of module names`)
  }
  if (record.backends !== undefined && (typeof record.backends !== 'object' || Array.isArray(record.backends))) {
    throw new ConfigError(`${where}: backends must be an object keyed by backend type`)
  }
  return record as LuaVMConfig
}

function redactSection(section: Record<string, unknown>, schema?: ConfigSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(section)) {
    if (value === undefined) continue
    const secret = schema?.[key]?.secret ?? isSecretName(key)
    // Settings that are not secrets may still quote one (a URL with a password).
    out[key] = secret && value !== '' ? REDACTED : redactFields(value)
  }
  return out
}

function processEnv(): Env {
  return (globalThis as { process?: { env?: Env } }).process?.env ?? {}
}
