/** What a secret is replaced with wherever the SDK prints, logs or reports it. */
export const REDACTED = '[redacted]'

// Names of settings, fields and URL query parameters whose values are secrets.
const SECRET_NAME =
  /pass(word|phrase|wd)?|secret|token|private[_-]?key|api[_-]?key|credential|authorization|cookie|signature/i

// `scheme://userinfo@`: the userinfo (a user and password, or a token used
// as the user name) is a credential as a whole. The scheme makes it a URL
// (so `user@host` in an ssh target is left alone); the userinfo runs to
// the last `@` before the host's end, so a password with an unescaped `@`
// is hidden whole.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#"'<>`]+@/gi

// `?name=value` / `&name=value` / `;name=value` in a URL's query.
const QUERY_PARAM = /([?&;]([^\s=&;#"'<>`]+)=)[^\s&;#"'<>`]*/g

/** True when a setting or field with this name holds a secret (`password`, `xapi_token`, `privateKey`, ...). */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name)
}

/**
 * Hides the credentials inside text: the user information of URLs
 * (`https://root:pw@host` → `https://[redacted]@host`, also `ssh://`,
 * `git+https://`, ...) and the values of secret query parameters
 * (`?password=…`, `&token=…`, `access_token`, `api_key`). The one function
 * every message, log line and printed config goes through.
 *
 * @param text - any text that may quote a URL
 * @returns the text with those credentials replaced by `[redacted]`
 */
export function redactText(text: string): string {
  if (typeof text !== 'string') return text
  // Fast path: most text quotes no URL at all.
  if (!text.includes('://') && !text.includes('=')) return text
  return text
    .replace(URL_USERINFO, `$1${REDACTED}@`)
    .replace(QUERY_PARAM, (whole: string, head: string, name: string) =>
      isSecretName(name) ? `${head}${REDACTED}` : whole,
    )
}

/**
 * Redacts a structured value, deeply: fields with a secret name
 * ({@link isSecretName}) are replaced by `[redacted]`, every other string
 * goes through {@link redactText}. Used for log fields, error details and
 * printed config.
 *
 * @param value - any JSON-like value
 * @param depth - nesting already walked (deeper than 8 levels is left as is)
 * @returns a redacted copy (objects become plain objects of their own enumerable fields)
 */
export function redactFields(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value)
  if (depth > 8 || value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((v) => redactFields(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSecretName(k) && v !== undefined && v !== null && v !== '' ? REDACTED : redactFields(v, depth + 1)
  }
  return out
}
