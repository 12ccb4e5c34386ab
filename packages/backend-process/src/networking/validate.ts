import { NetworkingError } from '@bioxen-luavm/core'

/**
 * Checks a TCP port like the original library did — an integer from 1024
 * to 65535 (no privileged ports) — and returns it. Throws
 * `NetworkingError` otherwise.
 */
export function validatePort(port: unknown): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1024 || port > 65535) {
    throw new NetworkingError(`Port must be an integer between 1024 and 65535, got ${String(port)}`, {
      details: { port: String(port) },
    })
  }
  return port
}

/**
 * Checks a host name or address: non-empty, at most 253 characters, no
 * whitespace or control characters (a host is pasted into Lua source and
 * onto the wire, so line breaks and NULs are refused even though templates
 * escape them). Returns the trimmed host.
 */
export function validateHost(host: unknown): string {
  if (typeof host !== 'string' || host.trim() === '') {
    throw new NetworkingError('Host cannot be empty')
  }
  const h = host.trim()
  if (/[\u0000-\u0020\u007f]/.test(h)) {
    throw new NetworkingError(`Host must not contain whitespace or control characters: ${JSON.stringify(h)}`)
  }
  if (h.length > 253) throw new NetworkingError(`Host is too long (${h.length} characters, at most 253)`)
  return h
}

/**
 * Checks a URL for the HTTP template: `http:` (LuaSocket) or `https:`
 * (needs LuaSec), with a host, and no control characters. Returns the
 * normalized URL text.
 */
export function validateUrl(url: unknown): string {
  if (typeof url !== 'string' || url.trim() === '') throw new NetworkingError('URL cannot be empty')
  if (/[\u0000-\u001f\u007f]/.test(url)) throw new NetworkingError('URL must not contain control characters')
  let parsed: URL
  try {
    parsed = new URL(url.trim())
  } catch {
    throw new NetworkingError(`not a valid URL: ${JSON.stringify(url)}`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new NetworkingError(`URL must be http: or https:, got ${parsed.protocol}`)
  }
  if (parsed.hostname === '') throw new NetworkingError(`URL has no host: ${JSON.stringify(url)}`)
  return parsed.toString()
}

/** Checks an HTTP method: an RFC 9110 token such as `GET` or `PATCH`; returns it upper-cased. */
export function validateHttpMethod(method: unknown): string {
  if (typeof method !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/.test(method)) {
    throw new NetworkingError(`not a valid HTTP method: ${JSON.stringify(method)}`)
  }
  return method.toUpperCase()
}

/** Checks a positive duration in milliseconds (at most a day). */
export function validateDurationMs(name: string, value: unknown, options: { allowZero?: boolean } = {}): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    (value === 0 && !options.allowZero) ||
    value > 86_400_000
  ) {
    throw new NetworkingError(`${name} must be a positive number of milliseconds (at most a day), got ${String(value)}`)
  }
  return value
}

/** Checks a positive integer count. */
export function validateCount(name: string, value: unknown, max = 1_000_000): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new NetworkingError(`${name} must be an integer from 1 to ${max}, got ${String(value)}`)
  }
  return value
}
