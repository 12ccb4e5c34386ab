import { redactFields, redactText } from '../util/redact.js'

/** Log levels, lowest first. `silent` turns a logger off. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

/** One log record, as handed to a sink. */
export interface LogRecord {
  time: string
  level: Exclude<LogLevel, 'silent'>
  component: string
  message: string
  fields?: Record<string, unknown>
}

/** Where records go. The default writes readable lines to `console.error`; nothing touches disk. */
export type LogSink = (record: LogRecord) => void

/** A component logger, in the spirit of the original's `VMLogger`. */
export interface Logger {
  readonly component: string
  readonly level: LogLevel
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
  /** A logger for a sub-component sharing level and sink: `vm` → `vm:wasm`. */
  child(component: string): Logger
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level. Defaults to `debug` when `LUAVM_DEBUG` or `PYLUA_DEBUG` is set, else `warn`. */
  level?: LogLevel
  /** Record consumer; defaults to {@link consoleSink}. */
  sink?: LogSink
  /** With the default sink: one JSON object per line instead of readable text. */
  json?: boolean
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

/** The level the environment asks for (`LUAVM_LOG_LEVEL`, `LUAVM_DEBUG`, `PYLUA_DEBUG`), if any. */
export function levelFromEnv(env: Record<string, string | undefined> | undefined = processEnv()): LogLevel | undefined {
  const explicit = env?.LUAVM_LOG_LEVEL?.toLowerCase()
  if (explicit && explicit in rank) return explicit as LogLevel
  for (const key of ['LUAVM_DEBUG', 'PYLUA_DEBUG']) {
    const v = env?.[key]?.toLowerCase()
    if (v && v !== '0' && v !== 'false' && v !== 'no') return 'debug'
  }
  return undefined
}

/** A sink printing to `console.error` (stderr in Node), readable or as JSON lines. */
export function consoleSink(options: { json?: boolean } = {}): LogSink {
  return (record) => {
    if (options.json) {
      console.error(JSON.stringify(record))
      return
    }
    const fields = record.fields && Object.keys(record.fields).length ? ` ${JSON.stringify(record.fields)}` : ''
    console.error(`${record.time} ${record.level.toUpperCase()} [${record.component}] ${record.message}${fields}`)
  }
}

/** Creates a component logger. Secrets in the message and fields are redacted before any sink sees them. */
export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? levelFromEnv() ?? 'warn'
  const sink = options.sink ?? consoleSink({ json: options.json ?? false })
  const emit = (lvl: Exclude<LogLevel, 'silent'>, message: string, fields?: Record<string, unknown>) => {
    if (rank[lvl] < rank[level]) return
    const record: LogRecord = { time: new Date().toISOString(), level: lvl, component, message: redactText(message) }
    if (fields) record.fields = redactFields(fields) as Record<string, unknown>
    try {
      sink(record)
    } catch {
      // A broken sink must never break the VM that logs.
    }
  }
  return {
    component,
    level,
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (sub) => createLogger(`${component}:${sub}`, { ...options, level, sink }),
  }
}

/** A logger that drops everything. */
export const silentLogger: Logger = createLogger('silent', { level: 'silent', sink: () => {} })

function processEnv(): Record<string, string | undefined> | undefined {
  // Reading the global keeps core free of Node imports; browsers have none.
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
}
