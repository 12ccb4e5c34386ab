import { describe, expect, it } from 'vitest'
import type { ExecResult } from '../src/contract/types.js'
import { errorFromResult } from '../src/errors/from-result.js'
import {
  errorClasses,
  isLuaVMError,
  LuaRuntimeError,
  LuaSyntaxError,
  LuaVMError,
  VMTimeoutError,
  XapiError,
} from '../src/errors/index.js'

type AnyErrorClass = new (...args: never[]) => LuaVMError

function instantiate(name: string, Cls: AnyErrorClass): LuaVMError {
  const C = Cls as unknown as new (...args: unknown[]) => LuaVMError
  return name === 'XapiError' ? new C('SESSION_INVALID', ['OpaqueRef:1']) : new C(`a ${name}`, { details: { k: 1 } })
}

const entries = Object.entries(errorClasses) as Array<[string, AnyErrorClass]>

describe('error taxonomy', () => {
  it('names survive minification: name is the _tag, not the class name', () => {
    for (const [name, Cls] of entries) {
      const e = instantiate(name, Cls)
      expect(e.name).toBe(name)
      expect(String(e).startsWith(`${name}: `)).toBe(true)
    }
    // What a minifier makes of a class: another name, same _tag.
    const l = class extends VMTimeoutError {}
    expect(l.name).toBe('l')
    expect(String(new l('late'))).toBe('VMTimeoutError: late')
    expect(new l('late').stack?.split('\n')[0]).toBe('VMTimeoutError: late')
  })

  it('has every class the design names', () => {
    for (const name of [
      'LuaRuntimeError',
      'LuaSyntaxError',
      'VMTimeoutError',
      'LuaMemoryError',
      'OutputLimitError',
      'LuaNotFoundError',
      'LuaSocketNotFoundError',
      'BackendNotFoundError',
      'BackendUnavailableError',
      'ConfigError',
      'VMManagerError',
      'VMStateError',
      'InteractiveSessionError',
      'SessionNotFoundError',
      'SessionAlreadyExistsError',
      'AttachError',
      'DetachError',
      'PackageError',
      'NetworkingError',
      'XapiError',
      'SshError',
    ]) {
      expect(Object.keys(errorClasses)).toContain(name)
    }
  })

  it.each(entries)('%s: _tag equals the class name, name too, instanceof LuaVMError and Error', (name, Cls) => {
    const error = instantiate(name, Cls)
    expect(error._tag).toBe(name)
    expect(error.name).toBe(name)
    expect(Cls.name).toBe(name)
    expect(error).toBeInstanceOf(LuaVMError)
    expect(error).toBeInstanceOf(Error)
    expect(error).toBeInstanceOf(Cls)
    expect(isLuaVMError(error)).toBe(true)
  })

  it('every class has a unique E_ code', () => {
    const codes = entries.map(([name, Cls]) => instantiate(name, Cls).code)
    for (const code of codes) expect(code).toMatch(/^E_[A-Z0-9_]+$/)
    expect(new Set(codes).size).toBe(codes.length)
  })

  it.each(entries)('%s: toJSON is JSON-safe and carries tag, code, message and details', (name, Cls) => {
    const error = instantiate(name, Cls)
    const json = JSON.parse(JSON.stringify(error.toJSON())) as Record<string, unknown>
    expect(json._tag).toBe(name)
    expect(json.code).toBe(error.code)
    expect(json.message).toBe(error.message)
    if (name !== 'XapiError') expect(json.k).toBe(1)
  })

  it('keeps the cause and freezes details', () => {
    const cause = new Error('root')
    const error = new VMTimeoutError('late', { cause, details: { ms: 5 } })
    expect(error.cause).toBe(cause)
    expect(Object.isFrozen(error.details)).toBe(true)
  })

  it('XapiError carries the XAPI code and params', () => {
    const error = new XapiError('HOST_OFFLINE', ['OpaqueRef:h'])
    expect(error.xapiCode).toBe('HOST_OFFLINE')
    expect(error.params).toEqual(['OpaqueRef:h'])
    expect(error.message).toBe('XAPI error HOST_OFFLINE (OpaqueRef:h)')
    expect(error.toJSON()).toMatchObject({ xapiCode: 'HOST_OFFLINE', params: ['OpaqueRef:h'] })
  })

  it('isLuaVMError recognises errors from another copy of the package by shape', () => {
    const foreign = Object.assign(new Error('x'), { _tag: 'LuaRuntimeError', code: 'E_LUA_RUNTIME' })
    expect(isLuaVMError(foreign)).toBe(true)
    expect(isLuaVMError(new Error('plain'))).toBe(false)
    expect(isLuaVMError({ _tag: 'X', code: 'Y' })).toBe(false)
  })
})

describe('errorFromResult', () => {
  const base: ExecResult = {
    stdout: '',
    stderr: '',
    stdoutBytes: new Uint8Array(0),
    stderrBytes: new Uint8Array(0),
    values: [],
    exitCode: 1,
    success: false,
    status: 'error',
    truncated: false,
    durationMs: 12,
    backend: 'test',
    luaVersion: 'Lua 5.4',
  }

  it('maps syntax and runtime errors with their lines', () => {
    const syntax = errorFromResult({ ...base, error: { message: 'chunk:1: x', kind: 'syntax', line: 1 } })
    expect(syntax).toBeInstanceOf(LuaSyntaxError)
    expect((syntax as LuaSyntaxError).line).toBe(1)
    const runtime = errorFromResult({
      ...base,
      error: { message: 'chunk:2: boom', kind: 'runtime', line: 2, traceback: 'tb' },
    })
    expect(runtime).toBeInstanceOf(LuaRuntimeError)
    expect((runtime as LuaRuntimeError).traceback).toBe('tb')
    expect(runtime.details.result).toMatchObject({ status: 'error' })
  })

  it('maps each limit status to its class and refuses ok', () => {
    expect(errorFromResult({ ...base, status: 'timeout' })._tag).toBe('VMTimeoutError')
    expect(errorFromResult({ ...base, status: 'memory' })._tag).toBe('LuaMemoryError')
    expect(errorFromResult({ ...base, status: 'output-limit' })._tag).toBe('OutputLimitError')
    expect(errorFromResult({ ...base, status: 'killed' })._tag).toBe('ExecutionKilledError')
    expect(() => errorFromResult({ ...base, status: 'ok', success: true, exitCode: 0 })).toThrow(TypeError)
  })
})
