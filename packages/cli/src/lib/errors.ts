import { isLuaVMError, redactText } from '@bioxen-luavm/core'
import { ExitCode } from './exit-codes.js'

/** A usage mistake (bad flag value, missing program); exits with status 2. */
export class UsageError extends Error {
  readonly hint: string | undefined
  constructor(message: string, hint?: string) {
    super(message)
    this.name = 'UsageError'
    this.hint = hint
  }
}

const usageTags = new Set(['ConfigError', 'InvalidArgumentError', 'BackendNotFoundError', 'BackendUnavailableError'])

// XAPI refusals that mean the settings are wrong (credentials, certificate), not that something broke.
const xapiConfigCodes = new Set(['SESSION_AUTHENTICATION_FAILED', 'TLS_ERROR'])
const XAPI_CONFIG_HINT =
  'hint: check xapi_url, username, password (XCPNG_PASSWORD) and fingerprint; `bioxen-luavm xcpng check` tries them'

/** What the CLI says about an error: `line` and `hint` for stderr, `tag` for `--json`, and the exit status. */
export interface ErrorDescription {
  /** `UsageError`, a LuaVMError's `_tag`, or `InternalError`. */
  tag: string
  /** `error: MESSAGE` on one line. */
  line: string
  /** `hint: …` */
  hint: string
  exitCode: number
}

/** One readable line (plus a hint line) for stderr, and the exit status, of any error. */
export function describeError(error: unknown): ErrorDescription {
  if (error instanceof UsageError) {
    return {
      tag: 'UsageError',
      line: `error: ${oneLine(redactText(error.message))}`,
      hint: error.hint ?? USAGE_HINT,
      exitCode: ExitCode.usage,
    }
  }
  if (isLuaVMError(error)) {
    const xapiCode = (error as { xapiCode?: string }).xapiCode
    const usage = usageTags.has(error._tag) || (xapiCode !== undefined && xapiConfigCodes.has(xapiCode))
    return {
      tag: error._tag,
      line: `error: ${oneLine(error.message)}`,
      hint: xapiCode && xapiConfigCodes.has(xapiCode) ? XAPI_CONFIG_HINT : hintFor(error._tag),
      exitCode: usage ? ExitCode.usage : ExitCode.internal,
    }
  }
  // SDK errors redact their own messages; anything else may quote a URL with its password.
  const message = redactText(error instanceof Error ? error.message : String(error))
  return { tag: 'InternalError', line: `error: ${oneLine(message)}`, hint: DEBUG_HINT, exitCode: ExitCode.internal }
}

/**
 * The `--json` form of an error, one line on stdout:
 * `{"error":{"tag":…,"message":…,"hint":…}}` (message and hint without their
 * `error: ` and `hint: ` prefixes).
 */
export function errorJson(d: Pick<ErrorDescription, 'tag' | 'line' | 'hint'>): string {
  const message = d.line.replace(/^error: /, '')
  const hint = d.hint.replace(/^hint: /, '')
  return `${JSON.stringify({ error: { tag: d.tag, message, hint } })}\n`
}

/** The hint of a usage error that brings its own none. */
export const USAGE_HINT = 'hint: add --help to the command for its usage and examples'
const DEBUG_HINT = 'hint: run with LUAVM_DEBUG=1 for details'

/**
 * Errors print as one line: a message listing several problems on their own
 * lines (`invalid config:\n  a\n  b`) becomes `invalid config: a; b`.
 */
export function oneLine(message: string): string {
  const parts = message
    .split(/\r?\n/)
    .map((p) => p.trim())
    .filter(Boolean)
  return parts.reduce((text, part) => (text === '' ? part : `${text}${text.endsWith(':') ? ' ' : '; '}${part}`), '')
}

function hintFor(tag: string): string {
  switch (tag) {
    case 'BackendNotFoundError':
    case 'BackendUnavailableError':
      return 'hint: `bioxen-luavm backends` lists what can run here'
    case 'ConfigError':
      return 'hint: `bioxen-luavm config validate` checks a config file'
    case 'InvalidArgumentError':
      return USAGE_HINT
    default:
      return DEBUG_HINT
  }
}
