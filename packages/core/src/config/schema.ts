import { ConfigError } from '../errors/index.js'
import { didYouMean } from '../util/suggest.js'
import { parseSize } from './size.js'

/** One config key a backend accepts. */
export interface ConfigField {
  type: 'string' | 'number' | 'integer' | 'boolean' | 'string[]' | 'size'
  description: string
  default?: unknown
  required?: boolean
  /** The value is a secret: redacted wherever config is printed or logged. */
  secret?: boolean
  /** Allowed values. */
  enum?: readonly (string | number)[]
  min?: number
  max?: number
  /** For strings: a pattern the value must match. */
  pattern?: RegExp
  /** Environment variables that set this key (first set wins), besides `LUAVM_<BACKEND>_<KEY>`. */
  env?: readonly string[]
  /** Extra check; returns a message when the value is bad. */
  check?(value: unknown): string | undefined
}

/** Config keys of a backend. */
export type ConfigSchema = Readonly<Record<string, ConfigField>>

/** Converts a raw value (from a file or an environment string) to the field's type, or explains why not. */
export function coerceField(field: ConfigField, raw: unknown): { value?: unknown; problem?: string } {
  switch (field.type) {
    case 'string':
      return typeof raw === 'string' ? { value: raw } : { problem: `expected a string, got ${describe(raw)}` }
    case 'number':
    case 'integer': {
      const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw
      if (typeof n !== 'number' || !Number.isFinite(n)) return { problem: `expected a number, got ${describe(raw)}` }
      if (field.type === 'integer' && !Number.isInteger(n)) return { problem: `expected an integer, got ${n}` }
      return { value: n }
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return { value: raw }
      if (typeof raw === 'string' && /^(1|true|yes|on)$/i.test(raw)) return { value: true }
      if (typeof raw === 'string' && /^(0|false|no|off)$/i.test(raw)) return { value: false }
      return { problem: `expected true or false, got ${describe(raw)}` }
    }
    case 'string[]': {
      if (typeof raw === 'string')
        return {
          value: raw
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        }
      if (Array.isArray(raw) && raw.every((s) => typeof s === 'string')) return { value: [...raw] }
      return { problem: `expected a list of strings, got ${describe(raw)}` }
    }
    case 'size': {
      const n = parseSize(raw)
      return n === undefined
        ? { problem: `expected a size like "2GB" or a number of bytes, got ${describe(raw)}` }
        : { value: n }
    }
  }
}

/**
 * Validates one config section against a schema: unknown keys, types,
 * ranges, required keys; fills defaults. Errors name the key's full path.
 */
export function validateSection(
  schema: ConfigSchema,
  input: Record<string, unknown>,
  path: string,
  sourceOf: (key: string) => string | undefined = () => undefined,
): Record<string, unknown> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError(`${path}: expected an object of settings, got ${describe(input)}`)
  }
  const out: Record<string, unknown> = {}
  const problems: string[] = []
  const where = (key: string) => {
    const src = sourceOf(key)
    return `${path}.${key}${src ? ` (from ${src})` : ''}`
  }
  for (const key of Object.keys(input)) {
    if (!(key in schema)) {
      const known = Object.keys(schema)
      problems.push(
        `${path}.${key}: unknown key${didYouMean(key, known)}${known.length ? `; known keys: ${known.join(', ')}` : ''}`,
      )
    }
  }
  for (const [key, field] of Object.entries(schema)) {
    const raw = input[key]
    if (raw === undefined || raw === null || raw === '') {
      if (field.default !== undefined) out[key] = field.default
      else if (field.required) problems.push(`${where(key)}: required — ${field.description}`)
      continue
    }
    const { value, problem } = coerceField(field, raw)
    if (problem) {
      // A secret's bad value must not end up in an error message or a log.
      problems.push(
        `${where(key)}: ${field.secret ? `expected ${field.type}; the value is secret and not shown` : problem}`,
      )
      continue
    }
    const extra = checkValue(field, value)
    if (extra) problems.push(`${where(key)}: ${field.secret ? 'invalid; the value is secret and not shown' : extra}`)
    else out[key] = value
  }
  if (problems.length) {
    throw new ConfigError(
      problems.length === 1 ? (problems[0] as string) : `invalid config:\n  ${problems.join('\n  ')}`,
      {
        details: { problems },
      },
    )
  }
  return out
}

function checkValue(field: ConfigField, value: unknown): string | undefined {
  if (field.enum && !field.enum.includes(value as string | number)) {
    return `must be one of ${field.enum.join(', ')}, got ${describe(value)}`
  }
  if (typeof value === 'number') {
    if (field.min !== undefined && value < field.min) return `must be at least ${field.min}, got ${value}`
    if (field.max !== undefined && value > field.max) return `must be at most ${field.max}, got ${value}`
  }
  if (typeof value === 'string' && field.pattern && !field.pattern.test(value)) {
    return `does not look right (${field.description})`
  }
  return field.check?.(value)
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (Array.isArray(value)) return 'a list'
  return value === null ? 'null' : typeof value === 'object' ? 'an object' : String(value)
}
