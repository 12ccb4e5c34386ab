/**
 * `@bioxen-luavm/core` — the contract every backend implements, the backend
 * registry, the VM manager, sessions, errors, config, logging, and the Lua
 * runtime every backend runs. Browser-safe: no Node built-ins, no backends.
 *
 * @packageDocumentation
 */

export { ConfigManager, type ConfigSources, type LuaVMConfig } from './config/config-manager.js'
export { type ConfigField, type ConfigSchema, coerceField, validateSection } from './config/schema.js'
export { parseSize } from './config/size.js'
export {
  BaseLuaVM,
  DEFAULT_EXEC_LIMITS,
  type ExecDefaults,
  type ResolvedExecOptions,
  type VMInit,
} from './contract/base-vm.js'
export {
  checkByteLimit,
  checkLimits,
  checkTimeoutMs,
  type LimitValues,
  MAX_LIMIT_BYTES,
  MAX_TIMEOUT_MS,
} from './contract/limits.js'
export type * from './contract/session.js'
export type * from './contract/types.js'
export { assertTransition, canTransition } from './contract/vm-state.js'
export { errorFromResult } from './errors/from-result.js'
export * from './errors/index.js'
export {
  consoleSink,
  createLogger,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  type LogRecord,
  type LogSink,
  levelFromEnv,
  silentLogger,
} from './logger/logger.js'
export { BOOTSTRAP_LUA, DRIVER_LUA, RUNTIME_LUA } from './lua/sources.generated.js'
export * from './manager/index.js'
export * from './packages/index.js'
export * from './protocol/index.js'
export type { BackendDescriptor, BackendImplementation, DetectResult } from './registry/backend-descriptor.js'
export {
  AUTO_ORDER,
  BackendRegistry,
  type CreateVMOptions,
  type DetectedBackend,
  defaultRegistry,
} from './registry/backend-registry.js'
export {
  bytesReplacer,
  bytesReviver,
  bytesToText,
  concatBytes,
  execResultJson,
  isUtf8,
  luaStringBytes,
  luaStringText,
  restoreByteStrings,
  restoreErrorInfo,
} from './util/bytes.js'
export { newId } from './util/ids.js'
export {
  cutOutput,
  OutputCollector,
  type OutputFields,
  type OutputListener,
  OutputStream,
  outputFields,
} from './util/output.js'
export { isSecretName, REDACTED, redactFields, redactText } from './util/redact.js'
export { TaskQueue } from './util/serial-queue.js'
export { closestMatch, didYouMean } from './util/suggest.js'
export { truncateUtf8, utf8Length } from './util/text.js'
export { MAX_TIMER_MS, startTimer, type Timer } from './util/timer.js'
