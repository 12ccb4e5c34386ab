import { Readable } from 'node:stream'
import { XapiError } from '@bioxen-luavm/core'
import xmlrpc from 'xmlrpc'
import Deserializer from 'xmlrpc/lib/deserializer.js'
import serializer from 'xmlrpc/lib/serializer.js'

/**
 * A value the XAPI codec can send. Integers go out as decimal strings (XAPI
 * reads int64 parameters from strings, and xmlrpc would otherwise emit
 * `<int>` even past 2^31); use {@link double} for float parameters.
 */
export type XapiParam =
  | string
  | number
  | boolean
  | XapiDouble
  | readonly XapiParam[]
  | { readonly [key: string]: XapiParam }

/**
 * A float parameter. xmlrpc serializes integral numbers (`60`) as `<int>`,
 * which older XAPI rejects where a float is expected (`event.from`'s
 * timeout), so floats carry their own `<double>` tag.
 */
export class XapiDouble extends xmlrpc.CustomType {
  override tagName = 'double'
  /** @param value - a finite number */
  constructor(readonly value: number) {
    if (!Number.isFinite(value)) throw new TypeError(`XAPI doubles must be finite, got ${value}`)
    super(Number.isInteger(value) ? value.toFixed(1) : String(value))
  }
}

/** Wraps a number so it is sent as an XML-RPC `<double>`. */
export function double(value: number): XapiDouble {
  return new XapiDouble(value)
}

/**
 * Converts parameters to what xmlrpc serializes the way XAPI parses them.
 * Throws a `TypeError` on values XAPI cannot take (null, undefined, NaN,
 * dates, functions): those are SDK bugs, not user errors.
 */
export function encodeParams(params: readonly XapiParam[]): unknown[] {
  return params.map((p, i) => encodeValue(p, `param ${i}`))
}

function encodeValue(value: XapiParam, where: string): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      if (Number.isInteger(value)) return String(value)
      if (Number.isFinite(value)) return new XapiDouble(value)
      throw new TypeError(`${where}: XAPI cannot take ${value}`)
    case 'object': {
      if (value instanceof XapiDouble) return value
      if (Array.isArray(value)) return value.map((v, i) => encodeValue(v as XapiParam, `${where}[${i}]`))
      if (value === null || value instanceof Date) break
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(value)) {
        if (v === undefined) continue
        out[k] = encodeValue(v as XapiParam, `${where}.${k}`)
      }
      return out
    }
  }
  throw new TypeError(`${where}: XAPI cannot take ${value === null ? 'null' : typeof value}`)
}

/** Serializes one XML-RPC method call (parameters already encoded or raw). */
export function serializeCall(method: string, params: readonly XapiParam[]): string {
  return serializer.serializeMethodCall(method, encodeParams(params))
}

const XAPI_DATE = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}(?::?\d{2})?)?$/

/**
 * Parses XAPI's date format (`20260821T10:00:00Z`, no hyphens "because of
 * some client limitations"). A date without a zone is read as UTC, which is
 * what XAPI means by it; xmlrpc would read it as local time.
 */
export function parseXapiDate(text: string): Date {
  const m = XAPI_DATE.exec(text.trim())
  if (!m) throw new XapiError('PROTOCOL_ERROR', [`not an XAPI date: ${text.slice(0, 40)}`])
  const [, y, mo, d, h, mi, s, frac, zone] = m
  const ms = frac ? Math.round(Number(`0.${frac}`) * 1000) : 0
  let t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms)
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1
    const digits = zone.slice(1).replace(':', '')
    const offsetMin = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0')
    t -= sign * offsetMin * 60_000
  }
  return new Date(t)
}

/** Formats a date the way XAPI writes them: `20260821T10:00:00Z`. */
export function formatXapiDate(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}T${p(date.getUTCHours())}:${p(
    date.getUTCMinutes(),
  )}:${p(date.getUTCSeconds())}Z`
}

/**
 * A deserializer that reads XAPI dates as UTC. The override is per
 * instance, so the library's shared prototype stays untouched.
 */
export function createDeserializer(): Deserializer {
  const d = new Deserializer('utf8')
  d.endDateTime = function endDateTime(this: Deserializer, data: string) {
    this.push(parseXapiDate(data))
    this.value = false
  }
  return d
}

/** Parses an XML-RPC `<methodResponse>` from a stream into its single value. */
export function deserializeResponse(stream: Readable): Promise<unknown> {
  return new Promise((resolve, reject) => {
    createDeserializer().deserializeMethodResponse(stream, (error, value) => {
      if (error) reject(error)
      else resolve(value)
    })
  })
}

/**
 * Unwraps XAPI's `{Status, Value | ErrorDescription}` envelope. API errors
 * never come as XML-RPC faults, so a fault or a missing Status is a
 * protocol error, not an API error.
 */
export function unwrapEnvelope(method: string, response: unknown): unknown {
  if (typeof response !== 'object' || response === null || !('Status' in response)) {
    throw new XapiError('PROTOCOL_ERROR', [`${method}: the reply has no Status member`])
  }
  const r = response as { Status: unknown; Value?: unknown; ErrorDescription?: unknown }
  if (r.Status === 'Success') return r.Value ?? ''
  if (r.Status === 'Failure') {
    const desc = Array.isArray(r.ErrorDescription) ? r.ErrorDescription.map((v) => String(v)) : []
    const [code, ...params] = desc
    throw xapiFailure(method, code ?? 'UNKNOWN_ERROR', params)
  }
  throw new XapiError('PROTOCOL_ERROR', [`${method}: unexpected Status ${JSON.stringify(r.Status)}`])
}

/** Builds the typed error for an XAPI failure, with what to do about it. */
export function xapiFailure(method: string, code: string, params: readonly string[]): XapiError {
  const hint = HINTS[code]
  const shown = params.length ? ` (${params.join(', ')})` : ''
  return new XapiError(code, params, `XAPI ${method} failed: ${code}${shown}${hint ? ` — ${hint}` : ''}`, {
    details: { method },
  })
}

// XAPI's role for each call the SDK makes: VM.set_memory_limits is vm-power-admin's.
const RBAC_HINT =
  "the XAPI user's role lacks this permission: cloning, provisioning and destroying VMs need vm-admin; vm_memory (VM.set_memory_limits) needs vm-power-admin; pool-admin can do all"

// What an operator should do, for the codes users actually meet.
const HINTS: Readonly<Record<string, string>> = {
  SESSION_AUTHENTICATION_FAILED: 'check username and password (XCPNG_PASSWORD); the password is never shown',
  HOST_IS_SLAVE: 'this host is a pool member; the client follows the redirect to the pool master',
  SESSION_INVALID: 'the session expired or was logged out; the client logs in again once',
  VM_BAD_POWER_STATE: 'the VM is not in the power state the operation needs',
  VM_IS_TEMPLATE: 'template_name points at a template that was not cloned, or attach_vm names a template',
  VM_REQUIRES_SR: 'the VM needs a storage repository the host cannot see; set storage_repository',
  VM_REQUIRES_NET: 'the VM needs a network the host cannot see; check network_uuid',
  HOST_NOT_ENOUGH_FREE_MEMORY: 'lower vm_memory or free memory on the pool',
  SR_FULL: 'the storage repository is full; free space or set storage_repository',
  MEMORY_CONSTRAINT_VIOLATION_ORDER: 'vm_memory must satisfy static_min ≤ dynamic_min ≤ dynamic_max ≤ static_max',
  MEMORY_CONSTRAINT_VIOLATION_MAXPIN: 'the pool has no dynamic memory control; memory must be pinned',
  VDI_IN_USE: 'the disk is still attached somewhere; the SDK retries',
  OTHER_OPERATION_IN_PROGRESS: 'another operation runs on this object; the SDK retries',
  TOO_MANY_PENDING_TASKS: 'the pool is busy; the SDK retries',
  UUID_INVALID: 'no object has that uuid',
  HANDLE_INVALID: 'the object no longer exists',
  MESSAGE_METHOD_UNKNOWN: 'this XAPI version lacks the method; check the XCP-ng version',
  PERMISSION_DENIED: RBAC_HINT,
  RBAC_PERMISSION_DENIED: RBAC_HINT,
  VCPU_MAX_NOT_CORES_PER_SOCKET_MULTIPLE:
    "vm_vcpus must be a multiple of the template's platform:cores-per-socket (parameters: VCPUs_max, cores-per-socket)",
  LICENSE_RESTRICTION: 'the pool licence does not allow this operation',
  VM_SHUTDOWN_TIMEOUT: 'the guest ignored the clean shutdown; the SDK falls back to a hard shutdown',
  VM_LACKS_FEATURE: 'the guest has no PV drivers for clean shutdown; the SDK falls back to a hard shutdown',
}

/**
 * Decodes a task's `result` field, which is itself an XML-RPC value
 * fragment (`<value>OpaqueRef:…</value>`; `""` from very old hosts).
 */
export async function decodeTaskResult(fragment: string): Promise<unknown> {
  if (fragment.trim() === '') return ''
  const xml = `<?xml version="1.0"?><methodResponse><params><param>${fragment}</param></params></methodResponse>`
  try {
    return await deserializeResponse(Readable.from([xml]))
  } catch (error) {
    throw new XapiError('PROTOCOL_ERROR', [`cannot parse a task result: ${(error as Error).message}`], undefined, {
      cause: error,
    })
  }
}

/** Reads an XAPI int64 (a decimal string on the wire) as a number. */
export function int(value: unknown, what = 'value'): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n)) throw new XapiError('PROTOCOL_ERROR', [`${what} is not an integer: ${String(value)}`])
  return n
}

/** Reads an XAPI string field, failing on anything else. */
export function str(value: unknown, what = 'value'): string {
  if (typeof value !== 'string') throw new XapiError('PROTOCOL_ERROR', [`${what} is not a string`])
  return value
}

/** Reads an XAPI `(string → string) map`. */
export function strMap(value: unknown, what = 'value'): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new XapiError('PROTOCOL_ERROR', [`${what} is not a map`])
  }
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(value)) out[k] = scalar(v, `${what}.${k}`)
  return out
}

/** Reads an XAPI `string set`. */
export function strList(value: unknown, what = 'value'): string[] {
  if (!Array.isArray(value)) throw new XapiError('PROTOCOL_ERROR', [`${what} is not a list`])
  return value.map((v, i) => scalar(v, `${what}[${i}]`))
}

// Members of XAPI maps and sets are strings (numbers and booleans read as
// their text). Anything else is a malformed reply — and String() of a
// hostile struct (a member named toString) would throw a TypeError.
function scalar(value: unknown, what: string): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  throw new XapiError('PROTOCOL_ERROR', [`${what} is not a string`])
}

/** The null reference XAPI uses for "no object". */
export const NULL_REF = 'OpaqueRef:NULL'

/** True for a reference that points at an object. */
export function isRef(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith('OpaqueRef:') && value !== NULL_REF
}
