/**
 * `@bioxen-luavm/backend-process` — the `process` backend (alias `basic`):
 * native Lua interpreters as child processes, in one-shot, persistent or
 * pooled mode, with hard deadlines (process-group kill), rlimit memory
 * caps, REPL sessions, LuaSocket networking templates, and luarocks
 * environments (`EnvironmentManager`: named, isolated trees with a manifest,
 * bootstrapping from catalog profiles, health checks).
 *
 * @packageDocumentation
 */

export {
  PROCESS_CONFIG_DEFAULTS,
  type ProcessBackendConfig,
  type ProcessMode,
  processConfigSchema,
  type ResolvedProcessConfig,
  resolveProcessConfig,
} from './config.js'
export { detectProcessBackend, PROCESS_CAPABILITIES, processBackend } from './descriptor.js'
export * from './environments/index.js'
export {
  clearInterpreterCache,
  DEFAULT_INTERPRETERS,
  findInterpreters,
  INSTALL_ADVICE,
  type LuaInterpreter,
  probeInterpreter,
  resolveInterpreter,
} from './interpreters/detect.js'
export { type LuaBanner, parseLuaBanner } from './interpreters/parse-banner.js'
export { luaNumber, luaString } from './networking/lua-string.js'
export { checkLuaSocket, LUASOCKET_ADVICE } from './networking/luasocket.js'
export {
  type ClientOptions,
  client,
  type EchoServerOptions,
  echoServer,
  type HeartbeatOptions,
  type HttpClientOptions,
  heartbeatClient,
  httpClient,
  type P2PNodeOptions,
  type PeerAddress,
  p2pNode,
  SERVER_GREETING,
} from './networking/templates.js'
export {
  validateCount,
  validateDurationMs,
  validateHost,
  validateHttpMethod,
  validatePort,
  validateUrl,
} from './networking/validate.js'
export type { ProcessLuaVM } from './process-vm.js'
export { buildEnvironment, ENV_ALLOWLIST, type EnvironmentOptions } from './spawn/environment.js'
export { killAllGroups, liveProcessGroups } from './spawn/process-group.js'
export { findPrlimit, INTERPRETER_FOOTPRINT_BYTES } from './spawn/rlimit.js'
