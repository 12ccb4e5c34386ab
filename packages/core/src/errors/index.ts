import { redactText } from '../util/redact.js'
import { LuaVMError } from './lua-vm-error.js'

export { isLuaVMError, LuaVMError } from './lua-vm-error.js'

type ErrorOptions = { cause?: unknown; details?: Record<string, unknown> }

// Each subclass only pins its tag and code; the base class does the rest.
// A factory would hide the class names from stack traces and TSDoc, so they
// are spelled out.

/** Lua code raised an error while running (`error(...)`, a bad index, ...). */
export class LuaRuntimeError extends LuaVMError {
  override readonly _tag = 'LuaRuntimeError'
  override readonly code = 'E_LUA_RUNTIME'
  /** The message is the Lua program's error value: never rewritten. */
  static override readonly luaText: boolean = true
  /** Line in the chunk where the error was raised, when Lua reported one. */
  readonly line: number | undefined
  /** Lua traceback, when the backend captured one. */
  readonly traceback: string | undefined
  constructor(message: string, options: ErrorOptions & { line?: number; traceback?: string } = {}) {
    super(message, options)
    this.line = options.line
    this.traceback = options.traceback
  }
}

/** Lua code did not compile. */
export class LuaSyntaxError extends LuaVMError {
  override readonly _tag = 'LuaSyntaxError'
  override readonly code = 'E_LUA_SYNTAX'
  /** The message is Lua's own compiler message about the program: never rewritten. */
  static override readonly luaText: boolean = true
  /** Line of the syntax error, when Lua reported one. */
  readonly line: number | undefined
  constructor(message: string, options: ErrorOptions & { line?: number } = {}) {
    super(message, options)
    this.line = options.line
  }
}

/** An execution (or another operation) ran past its deadline and was stopped. */
export class VMTimeoutError extends LuaVMError {
  override readonly _tag = 'VMTimeoutError'
  override readonly code = 'E_TIMEOUT'
}

/** Lua code went over its memory limit. */
export class LuaMemoryError extends LuaVMError {
  override readonly _tag = 'LuaMemoryError'
  override readonly code = 'E_MEMORY'
}

/** Lua code's output (printed text, or returned values) went over `maxOutputBytes`; the output was cut to the byte. */
export class OutputLimitError extends LuaVMError {
  override readonly _tag = 'OutputLimitError'
  override readonly code = 'E_OUTPUT_LIMIT'
}

/** The execution was cancelled (AbortSignal, `removeVM`, shutdown) or its engine was killed. */
export class ExecutionKilledError extends LuaVMError {
  override readonly _tag = 'ExecutionKilledError'
  override readonly code = 'E_KILLED'
}

/** No usable Lua interpreter was found for a native backend. */
export class LuaNotFoundError extends LuaVMError {
  override readonly _tag = 'LuaNotFoundError'
  override readonly code = 'E_LUA_NOT_FOUND'
}

/** LuaSocket is required (networked VM) but `require("socket")` failed. */
export class LuaSocketNotFoundError extends LuaVMError {
  override readonly _tag = 'LuaSocketNotFoundError'
  override readonly code = 'E_LUASOCKET_NOT_FOUND'
}

/** No backend is registered under the requested type. */
export class BackendNotFoundError extends LuaVMError {
  override readonly _tag = 'BackendNotFoundError'
  override readonly code = 'E_BACKEND_NOT_FOUND'
}

/** A backend is registered but cannot run here (missing binary, no WebAssembly, ...). */
export class BackendUnavailableError extends LuaVMError {
  override readonly _tag = 'BackendUnavailableError'
  override readonly code = 'E_BACKEND_UNAVAILABLE'
}

/** Configuration is invalid; the message names the bad key. */
export class ConfigError extends LuaVMError {
  override readonly _tag = 'ConfigError'
  override readonly code = 'E_CONFIG'
}

/** A VMManager operation failed (duplicate id, unknown id, ...). */
export class VMManagerError extends LuaVMError {
  override readonly _tag = 'VMManagerError'
  override readonly code = 'E_VM_MANAGER'
}

/** An operation is not legal in the VM's current lifecycle state. */
export class VMStateError extends LuaVMError {
  override readonly _tag = 'VMStateError'
  override readonly code = 'E_VM_STATE'
}

/** The SDK and a backend's engine stopped understanding each other (bad frame, crash). */
export class ProtocolError extends LuaVMError {
  override readonly _tag = 'ProtocolError'
  override readonly code = 'E_PROTOCOL'
}

/** An interactive session failed or was used after it ended. */
export class InteractiveSessionError extends LuaVMError {
  override readonly _tag = 'InteractiveSessionError'
  override readonly code = 'E_SESSION'
}

/** No session exists for the given VM or session id. */
export class SessionNotFoundError extends LuaVMError {
  override readonly _tag = 'SessionNotFoundError'
  override readonly code = 'E_SESSION_NOT_FOUND'
}

/** A session with that id already exists. */
export class SessionAlreadyExistsError extends LuaVMError {
  override readonly _tag = 'SessionAlreadyExistsError'
  override readonly code = 'E_SESSION_EXISTS'
}

/** Attaching to a session failed (already attached, session dead, ...). */
export class AttachError extends LuaVMError {
  override readonly _tag = 'AttachError'
  override readonly code = 'E_ATTACH'
}

/** Detaching failed (the session was not attached). */
export class DetachError extends LuaVMError {
  override readonly _tag = 'DetachError'
  override readonly code = 'E_DETACH'
}

/** Installing, removing or resolving a Lua package failed. */
export class PackageError extends LuaVMError {
  override readonly _tag = 'PackageError'
  override readonly code = 'E_PACKAGE'
}

/** A networking operation (ports, hosts, LuaSocket peers) failed. */
export class NetworkingError extends LuaVMError {
  override readonly _tag = 'NetworkingError'
  override readonly code = 'E_NETWORKING'
}

/** XAPI answered with an error: `xapiCode` is XAPI's error code, `params` its parameters. */
export class XapiError extends LuaVMError {
  override readonly _tag = 'XapiError'
  override readonly code = 'E_XAPI'
  /** XAPI's own error code, e.g. `SESSION_INVALID`. */
  readonly xapiCode: string
  /** XAPI's error parameters. */
  readonly params: readonly string[]
  constructor(xapiCode: string, rawParams: readonly string[], message?: string, options: ErrorOptions = {}) {
    // A server's fault may carry anything as parameters (a hostile or broken
    // one: numbers, structs, arrays): keep them as text, so redaction and
    // messages never see a non-string.
    const params = Array.isArray(rawParams) ? rawParams.map(paramText) : []
    super(message ?? `XAPI error ${xapiCode}${params.length ? ` (${params.join(', ')})` : ''}`, {
      ...options,
      details: { ...options.details, xapiCode, params: [...params] },
    })
    this.xapiCode = xapiCode
    this.params = Object.freeze(params.map(redactText))
  }
}

function paramText(value: unknown): string {
  if (typeof value === 'string') return value
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** Connecting, authenticating or running a command over SSH failed. */
export class SshError extends LuaVMError {
  override readonly _tag = 'SshError'
  override readonly code = 'E_SSH'
}

/** A caller passed an invalid argument (empty code, bad id, negative limit, ...). */
export class InvalidArgumentError extends LuaVMError {
  override readonly _tag = 'InvalidArgumentError'
  override readonly code = 'E_INVALID_ARGUMENT'
}

/** Every error class of the taxonomy, by tag. */
export const errorClasses = {
  LuaVMError,
  LuaRuntimeError,
  LuaSyntaxError,
  VMTimeoutError,
  LuaMemoryError,
  OutputLimitError,
  ExecutionKilledError,
  LuaNotFoundError,
  LuaSocketNotFoundError,
  BackendNotFoundError,
  BackendUnavailableError,
  ConfigError,
  VMManagerError,
  VMStateError,
  ProtocolError,
  InteractiveSessionError,
  SessionNotFoundError,
  SessionAlreadyExistsError,
  AttachError,
  DetachError,
  PackageError,
  NetworkingError,
  XapiError,
  SshError,
  InvalidArgumentError,
} as const
