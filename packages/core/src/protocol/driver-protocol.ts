import type { ExecErrorInfo, ExecStatus, LuaValue } from '../contract/types.js'
import { ConfigError, ProtocolError } from '../errors/index.js'
import { DRIVER_LUA, RUNTIME_LUA } from '../lua/sources.generated.js'
import { restoreByteStrings, restoreErrorInfo } from '../util/bytes.js'
import { encodeFrame } from './frame-codec.js'

/** Version of the driver protocol this module speaks (`"protocol"` in the hello). */
export const DRIVER_PROTOCOL_VERSION = 1

/**
 * Frame types of the driver protocol. Host to driver: `I`nit, e`X`ec,
 * `R`eset, `M`ount, `Q`uit. Driver to host: `H`ello, stdout `1`, stderr `2`,
 * `D`one, fatal `E`rror.
 */
export const FrameType = {
  Init: 'I',
  Exec: 'X',
  Reset: 'R',
  Mount: 'M',
  Quit: 'Q',
  Hello: 'H',
  Stdout: '1',
  Stderr: '2',
  Done: 'D',
  Fatal: 'E',
} as const

/** Grants a sandboxed runtime accepts (anything else fails at init). */
export const RUNTIME_GRANTS = [
  'io',
  'os',
  'debug',
  'package',
  'require',
  'string.dump',
  'collectgarbage',
  'dofile',
  'loadfile',
  'load.binary',
] as const

/** One of {@link RUNTIME_GRANTS}. */
export type RuntimeGrant = (typeof RUNTIME_GRANTS)[number]

/** Options of the `I` frame. */
export interface DriverInitOptions {
  /** Run user code in the restricted env (default true). */
  sandbox?: boolean
  /** Capabilities re-enabled inside the sandbox. */
  grants?: readonly string[]
  /**
   * Largest frame the host accepts: the driver splits output into smaller
   * frames and ends a result that would not fit as `output-limit`, naming
   * its size, instead of breaking the stream.
   */
  maxFrameBytes?: number
}

/** Options of one `X` frame. */
export interface DriverExecOptions {
  /** Request id, echoed in the reply. */
  id: number
  /** Chunkname shown in error messages (`chunk:1: boom`); default `chunk`. */
  chunkName?: string
  /** Print returned values like the REPL (default true). */
  echo?: boolean
  /** REPL mode: expressions echo, incomplete input is reported. */
  repl?: boolean
  /** In-VM deadline in milliseconds (the soft layer). */
  timeoutMs?: number
  /** Cap on the bytes that leave the VM: stdout, stderr and the result's values or error message together. */
  maxOutputBytes?: number
}

/** Statuses the runtime itself can report (`killed` only comes from the host). */
export type DriverExecStatus = Exclude<ExecStatus, 'killed'>

/** A decoded `D` reply to an exec. */
export interface DriverExecReply {
  /** The request id (absent on reset/mount acknowledgements). */
  id?: number
  status: DriverExecStatus
  values: LuaValue[]
  truncated: boolean
  incomplete: boolean
  error?: ExecErrorInfo
}

/** A decoded `H` frame: what the driver runs on. */
export interface DriverHello {
  protocol: number
  /** `_VERSION`, e.g. `Lua 5.4`. */
  lua: string
  /** LuaJIT version string, or null on PUC Lua. */
  jit: string | null
  /** Width of the integer subtype (64, or 32 on fengari); null when numbers are doubles only (5.1, LuaJIT). */
  intBits: number | null
  /** Whether user code runs in the sandbox env. */
  sandbox: boolean
  /** Whether the debug hook (and so the in-VM deadline) is available. */
  hooks: boolean
}

const encoder = new TextEncoder()
// The runtime's JSON is valid UTF-8 whatever Lua returned (byte strings are
// escaped, see runtime.lua `jstr`): any other byte is a broken channel.
const decoder = new TextDecoder('utf-8', { fatal: true })
const STATUSES: ReadonlySet<string> = new Set(['ok', 'error', 'timeout', 'memory', 'output-limit'])
const MODULE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/

/**
 * The program the bootstrap loads: the runtime wrapped into a function whose
 * result is bound to `LUAVM_RUNTIME`, followed by the driver (see the header
 * of driver.lua). Built at call time so tests can check it against the .lua
 * sources.
 */
export function buildDriverProgram(): string {
  return `local LUAVM_RUNTIME = (function(...)\n${RUNTIME_LUA}\nend)(...)\n${DRIVER_LUA}`
}

let cachedBootstrap: Uint8Array | undefined

/**
 * What the host writes first to a driver started with `lua -e BOOTSTRAP_LUA`:
 * the header line `<n>\n` and the n bytes of {@link buildDriverProgram}.
 */
export function encodeBootstrapPayload(): Uint8Array {
  if (!cachedBootstrap) {
    const program = encoder.encode(buildDriverProgram())
    const header = encoder.encode(`${program.length}\n`)
    const out = new Uint8Array(header.length + program.length)
    out.set(header, 0)
    out.set(program, header.length)
    cachedBootstrap = out
  }
  return cachedBootstrap
}

/** Encodes the `I` frame. @throws ConfigError on a malformed grant name */
export function encodeInit(opts: DriverInitOptions = {}): Uint8Array {
  const grants = opts.grants ?? []
  for (const g of grants) {
    if (!/^[A-Za-z0-9_.]+$/.test(g)) throw new ConfigError(`invalid grant name ${JSON.stringify(g)}`)
  }
  const frame =
    opts.maxFrameBytes === undefined ? '' : `maxframe=${Math.floor(nonNegative('maxFrameBytes', opts.maxFrameBytes))}\n`
  const text = `sandbox=${opts.sandbox === false ? 0 : 1}\n${grants.length ? `grants=${grants.join(',')}\n` : ''}${frame}`
  return encodeFrame(FrameType.Init, text)
}

function nonNegative(key: string, value: number): number {
  if (!Number.isFinite(value) || value < 0)
    throw new ConfigError(`${key} must be a non-negative finite number, got ${value}`)
  return value
}

/**
 * Encodes the `X` frame. `code` goes verbatim after the header, so it may
 * hold any bytes, NUL included.
 *
 * @throws ConfigError on an invalid option (bad id, negative limit, line
 *   break in the chunk name)
 */
export function encodeExec(opts: DriverExecOptions, code: string | Uint8Array): Uint8Array {
  if (!Number.isSafeInteger(opts.id)) throw new ConfigError(`exec id must be a safe integer, got ${opts.id}`)
  let head = `id=${opts.id}\n`
  if (opts.chunkName !== undefined) {
    // The driver splits its header on newlines: one in the name would
    // smuggle in another key.
    if (/[\r\n]/.test(opts.chunkName)) throw new ConfigError('chunkName must not contain line breaks')
    head += `chunk=${opts.chunkName}\n`
  }
  head += `echo=${opts.echo === false ? 0 : 1}\n`
  head += `repl=${opts.repl ? 1 : 0}\n`
  if (opts.timeoutMs !== undefined) head += `timeout=${Math.ceil(nonNegative('timeoutMs', opts.timeoutMs))}\n`
  if (opts.maxOutputBytes !== undefined) {
    head += `maxout=${Math.floor(nonNegative('maxOutputBytes', opts.maxOutputBytes))}\n`
  }
  head += '\n'
  const headBytes = encoder.encode(head)
  const codeBytes = typeof code === 'string' ? encoder.encode(code) : code
  const payload = new Uint8Array(headBytes.length + codeBytes.length)
  payload.set(headBytes, 0)
  payload.set(codeBytes, headBytes.length)
  return encodeFrame(FrameType.Exec, payload)
}

/** Encodes the `R` frame. */
export function encodeReset(): Uint8Array {
  return encodeFrame(FrameType.Reset, '')
}

/**
 * Encodes the `M` frame.
 *
 * @throws ConfigError when `name` is not a valid module name
 */
export function encodeMount(name: string, source: string | Uint8Array): Uint8Array {
  if (!MODULE_NAME.test(name)) {
    throw new ConfigError(
      `invalid module name ${JSON.stringify(name)}: use letters, digits, _ . - (not starting with . or -)`,
    )
  }
  const nameBytes = encoder.encode(`${name}\n`)
  const src = typeof source === 'string' ? encoder.encode(source) : source
  const payload = new Uint8Array(nameBytes.length + src.length)
  payload.set(nameBytes, 0)
  payload.set(src, nameBytes.length)
  return encodeFrame(FrameType.Mount, payload)
}

/** Encodes the `Q` frame. */
export function encodeQuit(): Uint8Array {
  return encodeFrame(FrameType.Quit, '')
}

function parseJson(payload: Uint8Array | string, what: string): Record<string, unknown> {
  let text: string
  try {
    text = typeof payload === 'string' ? payload : decoder.decode(payload)
  } catch (cause) {
    throw new ProtocolError(`driver sent a ${what} that is not UTF-8`, { cause })
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    throw new ProtocolError(`driver sent a ${what} that is not valid JSON: ${text.slice(0, 200)}`, { cause })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError(`driver sent a ${what} that is not a JSON object: ${text.slice(0, 200)}`)
  }
  return value as Record<string, unknown>
}

function parseErrorInfo(raw: unknown): ExecErrorInfo {
  if (typeof raw !== 'object' || raw === null) throw new ProtocolError('driver reply has a malformed "error" field')
  const e = raw as Record<string, unknown>
  if (typeof e.message !== 'string' || (e.kind !== 'syntax' && e.kind !== 'runtime')) {
    throw new ProtocolError('driver reply has a malformed "error" field')
  }
  const info: ExecErrorInfo = { message: e.message, kind: e.kind }
  if (typeof e.line === 'number' && Number.isInteger(e.line)) info.line = e.line
  if (typeof e.traceback === 'string') info.traceback = e.traceback
  return restoreErrorInfo(info)
}

/**
 * Decodes and validates a `D` payload. Strings the runtime escaped as bytes
 * come back as `Uint8Array`s (values) and `messageBytes` (errors).
 *
 * @throws ProtocolError on invalid JSON or an unexpected shape
 */
export function parseDone(payload: Uint8Array | string): DriverExecReply {
  const o = parseJson(payload, 'done reply')
  if (typeof o.status !== 'string' || !STATUSES.has(o.status)) {
    throw new ProtocolError(`driver reply has an unknown status ${JSON.stringify(o.status)}`)
  }
  const values = o.values === undefined ? [] : o.values
  if (!Array.isArray(values)) throw new ProtocolError('driver reply has a non-array "values" field')
  const reply: DriverExecReply = {
    status: o.status as DriverExecStatus,
    values: restoreByteStrings(values),
    truncated: o.truncated === true,
    incomplete: o.incomplete === true,
  }
  if (o.id !== undefined) {
    if (typeof o.id !== 'number' || !Number.isSafeInteger(o.id))
      throw new ProtocolError('driver reply has a malformed "id"')
    reply.id = o.id
  }
  if (o.error !== undefined) reply.error = parseErrorInfo(o.error)
  return reply
}

/**
 * Decodes and validates an `H` payload.
 *
 * @throws ProtocolError on invalid JSON, an unexpected shape or an
 *   unsupported protocol version
 */
export function parseHello(payload: Uint8Array | string): DriverHello {
  const o = parseJson(payload, 'hello')
  if (o.protocol !== DRIVER_PROTOCOL_VERSION) {
    throw new ProtocolError(
      `driver speaks protocol ${JSON.stringify(o.protocol)}, this SDK speaks ${DRIVER_PROTOCOL_VERSION}; use matching versions`,
    )
  }
  if (typeof o.lua !== 'string') throw new ProtocolError('driver hello lacks the "lua" version')
  return {
    protocol: o.protocol,
    lua: o.lua,
    jit: typeof o.jit === 'string' ? o.jit : null,
    intBits: typeof o.int_bits === 'number' ? o.int_bits : null,
    sandbox: o.sandbox !== false,
    hooks: o.hooks === true,
  }
}
