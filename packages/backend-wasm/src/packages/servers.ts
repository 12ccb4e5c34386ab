/**
 * Rock servers as the sandbox installer sees them: a URL (read with
 * `fetch`, in Node and browsers) or a local directory / `file:` URL (read
 * through the platform's file reader, which only Node has). Everything is
 * read into memory; nothing is written anywhere.
 */
import { InvalidArgumentError } from '@bioxen-luavm/core'
import { LUA_DATA_LIMITS, MAX_VERSION_LENGTH, MAX_VERSIONS_PER_ROCK } from './limits.js'
import { type LuaData, LuaTable, preview, readLuaAssignmentsAsync, stringAt, tableAt } from './lua-data.js'

/** How the installer reaches files: given by the VM from its platform. */
export interface FileAccess {
  /**
   * Reads a local file (a path or a `file:` URL) within `maxBytes`;
   * resolves `undefined` when it does not exist. Node only.
   */
  readFile?(path: string, options: { signal: AbortSignal; maxBytes: number }): Promise<Uint8Array | undefined>
  /** `fetch` for URL servers (default: the global one). */
  fetch?: typeof fetch
  /** Base that relative server paths resolve against where there is no file reader (a page's URL). */
  baseUrl?: string | undefined
}

/** A server, classified. */
export interface RockServer {
  /** As given, for messages. */
  label: string
  kind: 'url' | 'file'
  /** URL or directory (or `file:` URL), without a trailing slash. */
  base: string
}

/** Thrown when a server cannot be read (network error, HTTP error, too large). */
export class ServerError extends Error {
  override readonly name = 'ServerError'
}

/**
 * Classifies server strings before anything is read. Throws
 * `InvalidArgumentError` for a non-string, an unsupported scheme, or a
 * local directory where no file reader exists and no base URL applies.
 */
export function classifyServers(servers: readonly unknown[], access: FileAccess): RockServer[] {
  return servers.map((server) => {
    if (typeof server !== 'string' || server.trim() === '' || /[\0\r\n]/.test(server)) {
      throw new InvalidArgumentError(`a rock server must be a URL or a directory, got ${JSON.stringify(server)}`)
    }
    const label = server
    const trimmed = server.trim()
    if (/^https?:\/\//i.test(trimmed)) return { label, kind: 'url', base: trimmed.replace(/\/+$/, '') }
    if (/^file:/i.test(trimmed)) {
      if (!access.readFile) throw new InvalidArgumentError(`rock server ${label}: file: URLs can only be read in Node`)
      return { label, kind: 'file', base: trimmed.replace(/\/+$/, '') }
    }
    // A Windows drive path (C:\rocks) is a path, not a one-letter scheme.
    if (/^[A-Za-z][A-Za-z0-9+.-]+:/.test(trimmed) && !/^[A-Za-z]:[\\/]/.test(trimmed)) {
      throw new InvalidArgumentError(`rock server ${label}: only http:, https:, file: and directories are supported`)
    }
    if (access.readFile) return { label, kind: 'file', base: trimmed.replace(/(.)[\\/]+$/, '$1') }
    if (access.baseUrl) {
      return { label, kind: 'url', base: new URL(trimmed, access.baseUrl).href.replace(/\/+$/, '') }
    }
    throw new InvalidArgumentError(`rock server ${label}: local directories can only be read in Node; give a URL`)
  })
}

/**
 * Reads `file` from `server` within `maxBytes`; `undefined` when the server
 * does not have it. `signal` is the install's (aborted at its deadline): it
 * stops the request, the wait for headers and every read of the body, so a
 * server that trickles bytes or never ends cannot outlast the install, and
 * the body is counted while it streams, so it cannot outgrow `maxBytes`.
 */
export async function readServerFile(
  server: RockServer,
  file: string,
  access: FileAccess,
  signal: AbortSignal,
  maxBytes: number,
): Promise<Uint8Array | undefined> {
  if (server.kind === 'file') {
    const reader = access.readFile
    if (!reader) throw new ServerError(`${server.label}: no file reader here`)
    try {
      return await reader(`${server.base}/${file}`, { signal, maxBytes })
    } catch (error) {
      if (signal.aborted) throw signal.reason
      throw new ServerError(`${server.label}: cannot read ${file}: ${(error as Error).message}`)
    }
  }
  const url = `${server.base}/${file}`
  const fetchImpl = access.fetch ?? globalThis.fetch
  let response: Response
  try {
    response = await fetchImpl(url, { signal, redirect: 'follow' })
  } catch (error) {
    if (signal.aborted) throw signal.reason
    throw new ServerError(`cannot fetch ${url}: ${(error as Error).message}`)
  }
  if (response.status === 404 || response.status === 410) {
    await response.body?.cancel().catch(() => undefined)
    return undefined
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined)
    throw new ServerError(`cannot fetch ${url}: HTTP ${response.status}`)
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN)
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined)
    throw new ServerError(`${url} is larger than ${maxBytes} bytes`)
  }
  try {
    return await readBody(response, maxBytes, url)
  } catch (error) {
    if (signal.aborted) throw signal.reason
    throw error instanceof ServerError ? error : new ServerError(`cannot read ${url}: ${(error as Error).message}`)
  }
}

// Reads a response body chunk by chunk, so a server cannot make the host
// buffer more than `maxBytes` whatever its headers say.
async function readBody(response: Response, maxBytes: number, url: string): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array(await response.arrayBuffer())
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.length
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined)
      throw new ServerError(`${url} is larger than ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}

/** A server's manifest: rock name → version → arches available (`all`, `src`, `rockspec`, ...). */
export type RockManifest = Map<string, Map<string, string[]>>

/**
 * Parses a luarocks manifest (`repository = { name = { ["1.0-1"] = {
 * { arch = "all" } } } }`) as data, within the reader's budgets, giving the
 * event loop a turn every few ms; it is never run. `stop` is called as the reader goes (the install's deadline and
 * AbortSignal). Names and versions longer than any rock's are skipped, so
 * nothing later (version parsing, messages) works on megabyte-long keys.
 */
export async function parseManifest(text: string, what: string, stop?: () => void): Promise<RockManifest> {
  // In slices: a manifest can be megabytes, and the host has other work.
  const globals = await readLuaAssignmentsAsync(text, what, { limits: LUA_DATA_LIMITS, ...(stop ? { stop } : {}) })
  const repository = tableAt(globals, 'repository')
  if (!repository) throw new ServerError(`${what} has no repository table`)
  const manifest: RockManifest = new Map()
  // The reader made a tree, so this walk is one step per node it counted.
  for (const [name, versions] of repository.fields) {
    if (!(versions instanceof LuaTable) || name.length > MAX_VERSION_LENGTH) continue
    if (versions.fields.size > MAX_VERSIONS_PER_ROCK) {
      throw new ServerError(
        `${what}: '${preview(name)}' lists ${versions.fields.size} versions, over the limit of ${MAX_VERSIONS_PER_ROCK}`,
      )
    }
    const byVersion = new Map<string, string[]>()
    for (const [version, entries] of versions.fields) {
      if (!(entries instanceof LuaTable) || version.length > MAX_VERSION_LENGTH) continue
      const arches = entries.items
        .map((e: LuaData) => (e instanceof LuaTable ? stringAt(e, 'arch') : undefined))
        .filter((a): a is string => a !== undefined)
      byVersion.set(version, arches)
    }
    manifest.set(name, byVersion)
  }
  return manifest
}
