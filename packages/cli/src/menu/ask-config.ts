import { type ConfigField, type ConfigSchema, validateSection } from '@bioxen-luavm/core'
import { confirm, input } from '@inquirer/prompts'
import type { CliIO } from '../lib/io.js'

/**
 * Asks for one setting and checks it against its schema field as it is
 * typed (type, range, pattern, the field's own check), so a bad value never
 * reaches the backend. Lists (`string[]`) are typed comma-separated.
 */
export async function askField(section: string, key: string, field: ConfigField, message?: string): Promise<unknown> {
  const one: ConfigSchema = { [key]: { ...field, required: true } }
  const parse = (text: string) => {
    const raw = field.type === 'string[]' ? splitList(text) : text.trim()
    return validateSection(one, { [key]: raw }, section)[key]
  }
  const text = await input({
    message: message ?? `${key} — ${field.description}`,
    ...(field.secret ? { theme: { style: { answer: () => '********' } } } : {}),
    validate: (text) => {
      try {
        parse(text)
        return true
      } catch (error) {
        return (error as Error).message
      }
    },
  })
  return parse(text)
}

/**
 * Asks for a secret only if the user insists: the advice is to set it in
 * the environment. What is typed stays in memory (and out of profiles).
 */
export async function askSecret(
  io: CliIO,
  section: string,
  key: string,
  field: ConfigField,
): Promise<unknown | undefined> {
  const envName = field.env?.[0] ?? `LUAVM_${section}_${key}`.toUpperCase()
  io.stdout(`${key} is a secret: set ${envName} in the environment rather than saving it.\n`)
  const insist = await confirm({ message: `Type ${key} now anyway (kept in memory only)?`, default: false })
  return insist ? askField(section, key, field, key) : undefined
}

/**
 * Prompts for the required keys that neither the config file nor the
 * environment set; secrets only if the user insists.
 */
export async function askConfig(
  io: CliIO,
  section: string,
  schema: ConfigSchema,
  known: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { ...known }
  for (const [key, field] of Object.entries(schema)) {
    if (!field.required || isSet(out[key])) continue
    const value = field.secret ? await askSecret(io, section, key, field) : await askField(section, key, field)
    if (value !== undefined) out[key] = value
  }
  return out
}

/** True when a setting has a value (empty strings and lists count as unset, as in config files). */
export function isSet(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '' && !(Array.isArray(value) && value.length === 0)
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
}
