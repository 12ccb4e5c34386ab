import { afterEach, describe, expect, it, vi } from 'vitest'
import { consoleSink, createLogger, type LogRecord, levelFromEnv, silentLogger } from '../src/logger/logger.js'
import { redactFields } from '../src/util/redact.js'

function collect(): { records: LogRecord[]; sink: (r: LogRecord) => void } {
  const records: LogRecord[] = []
  return { records, sink: (r) => records.push(r) }
}

afterEach(() => {
  vi.restoreAllMocks()
  vi.unstubAllEnvs()
})

describe('logger levels', () => {
  it('drops records below the level and keeps the rest, in order', () => {
    const { records, sink } = collect()
    const log = createLogger('vm', { level: 'warn', sink })
    log.debug('d')
    log.info('i')
    log.warn('w')
    log.error('e')
    expect(records.map((r) => [r.level, r.message])).toEqual([
      ['warn', 'w'],
      ['error', 'e'],
    ])
    expect(records[0]?.component).toBe('vm')
    expect(Number.isNaN(Date.parse(records[0]?.time ?? ''))).toBe(false)
  })

  it('silent drops everything; debug keeps everything', () => {
    const quiet = collect()
    const silent = createLogger('x', { level: 'silent', sink: quiet.sink })
    silent.error('nope')
    expect(quiet.records).toHaveLength(0)
    const loud = collect()
    const debug = createLogger('x', { level: 'debug', sink: loud.sink })
    debug.debug('a')
    debug.info('b')
    expect(loud.records).toHaveLength(2)
    silentLogger.error('never shown')
  })

  it('child loggers share level and sink and extend the component', () => {
    const { records, sink } = collect()
    const child = createLogger('vm', { level: 'info', sink }).child('wasm')
    child.debug('hidden')
    child.info('shown')
    expect(child.component).toBe('vm:wasm')
    expect(records.map((r) => r.component)).toEqual(['vm:wasm'])
  })
})

describe('logger environment', () => {
  it('LUAVM_DEBUG and the original PYLUA_DEBUG turn on debug', () => {
    expect(levelFromEnv({ LUAVM_DEBUG: '1' })).toBe('debug')
    expect(levelFromEnv({ PYLUA_DEBUG: 'true' })).toBe('debug')
    expect(levelFromEnv({ PYLUA_DEBUG: '0' })).toBeUndefined()
    expect(levelFromEnv({ LUAVM_DEBUG: 'false' })).toBeUndefined()
    expect(levelFromEnv({ LUAVM_LOG_LEVEL: 'ERROR', LUAVM_DEBUG: '1' })).toBe('error')
    expect(levelFromEnv({})).toBeUndefined()
  })

  it('createLogger without a level follows the process environment', () => {
    vi.stubEnv('LUAVM_LOG_LEVEL', '')
    vi.stubEnv('LUAVM_DEBUG', '')
    vi.stubEnv('PYLUA_DEBUG', '1')
    const { records, sink } = collect()
    const log = createLogger('env', { sink })
    expect(log.level).toBe('debug')
    log.debug('seen')
    expect(records).toHaveLength(1)
    vi.stubEnv('PYLUA_DEBUG', '')
    expect(createLogger('env', { sink }).level).toBe('warn')
  })
})

describe('logger output', () => {
  it('the JSON console sink writes one parseable JSON object per line', () => {
    const lines: string[] = []
    vi.spyOn(console, 'error').mockImplementation((line: unknown) => {
      lines.push(String(line))
    })
    const log = createLogger('json', { level: 'info', json: true })
    log.info('hello', { vmId: 'a' })
    log.warn('second line')
    expect(lines).toHaveLength(2)
    for (const line of lines) expect(line).not.toContain('\n')
    const first = JSON.parse(lines[0] ?? '') as LogRecord
    expect(first).toMatchObject({ level: 'info', component: 'json', message: 'hello', fields: { vmId: 'a' } })
  })

  it('the readable console sink puts level, component and fields on one line', () => {
    const lines: string[] = []
    vi.spyOn(console, 'error').mockImplementation((line: unknown) => {
      lines.push(String(line))
    })
    consoleSink()({ time: 't', level: 'warn', component: 'c', message: 'm', fields: { a: 1 } })
    expect(lines).toEqual(['t WARN [c] m {"a":1}'])
  })

  it('redacts secret fields, deeply, before any sink sees them', () => {
    const { records, sink } = collect()
    const log = createLogger('x', { level: 'debug', sink })
    log.info('connect', {
      host: 'xcp.example',
      password: 'hunter2',
      nested: { apiToken: 'tok-123', list: [{ private_key: 'KEY' }], fine: 'ok' },
      Authorization: 'Basic abc',
    })
    const text = JSON.stringify(records)
    expect(text).not.toMatch(/hunter2|tok-123|KEY|Basic abc/)
    expect(text).toContain('xcp.example')
    expect(text).toContain('"fine":"ok"')
    expect(redactFields({ password: '' })).toEqual({ password: '' })
  })

  it('a throwing sink never throws into the caller', () => {
    const log = createLogger('x', {
      level: 'debug',
      sink: () => {
        throw new Error('disk full')
      },
    })
    expect(() => log.error('still fine')).not.toThrow()
  })

  it('never touches the file system: the default sink is console.error', () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {})
    createLogger('fs', { level: 'info' }).info('x')
    expect(spy).toHaveBeenCalledTimes(1)
  })
})
