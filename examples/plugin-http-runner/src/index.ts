/**
 * `bioxen-luavm-backend-http-runner` — a third-party backend for
 * bioxen-luavm: the `http-runner` backend sends each execution to a remote
 * runner over HTTP (`POST /execute`) and maps its replies onto the
 * `BaseLuaVM` contract. Its only runtime dependency is `@bioxen-luavm/core`
 * (a peer); it uses the platform's `fetch`, so it works in Node 20+ and in
 * browsers.
 *
 * ```ts
 * import { BackendRegistry } from '@bioxen-luavm/core'
 * import { httpRunnerBackend } from 'bioxen-luavm-backend-http-runner'
 *
 * const registry = new BackendRegistry().register(httpRunnerBackend)
 * await using vm = await registry.create('http-runner', 'vm1', { url: 'http://127.0.0.1:8787', token })
 * const r = await vm.execute('return 2 + 2') // r.stdout "4\n", r.values [4]
 * ```
 *
 * From the CLI: `bioxen-luavm --plugin bioxen-luavm-backend-http-runner run
 * --backend http-runner -e 'print(1)'` with `LUAVM_HTTP_RUNNER_URL` (or
 * `HTTP_RUNNER_URL`) set. The runner itself is the `/server` entry.
 *
 * @packageDocumentation
 */
import type { BackendCapabilities, BackendDescriptor, ConfigSchema } from '@bioxen-luavm/core'

export {
  type ErrorReply,
  type ExecuteRequest,
  type HealthReply,
  PROTOCOL_VERSION,
  parseWireResult,
  type SessionReply,
  WIRE_OPTION_TYPES,
  type WireExecOptions,
  type WireResult,
} from './protocol.js'

/** Settings of an `http-runner` VM (the `backends.http-runner` config section). */
export interface HttpRunnerConfig {
  /** Base URL of the runner, e.g. `http://127.0.0.1:8787`. */
  url: string
  /** Bearer token the runner expects; a secret (redacted when config is printed). */
  token?: string
  /** Extra wait past an execution's deadline before the request is abandoned (default 5000 ms). */
  requestGraceMs: number
  /** Deadline of the health check, session creation and session deletion (default 10 000 ms). */
  requestTimeoutMs: number
}

/**
 * What `http-runner` VMs can do with a runner that can do everything this
 * backend forwards. A VM never claims more than its runner: at start it
 * reads the runner's `/health` capabilities and keeps only those both sides
 * have. `remote` is always true; `packages` and `networking` are false
 * because the protocol has no install call and the reference runner is the
 * WASM sandbox. `hardTimeout` holds on the client side too: a request is
 * abandoned at the deadline plus `requestGraceMs`, whatever the runner does.
 */
export const HTTP_RUNNER_CAPABILITIES: Readonly<BackendCapabilities> = Object.freeze({
  sandboxed: true,
  persistentState: true,
  sessions: true,
  packages: false,
  networking: false,
  memoryLimit: true,
  hardTimeout: true,
  remote: true,
})

/** Config keys of the `http-runner` backend; each can also come from `LUAVM_HTTP_RUNNER_<KEY>`. */
export const httpRunnerConfigSchema: ConfigSchema = Object.freeze({
  url: {
    type: 'string',
    required: true,
    description: 'base URL of the runner, e.g. http://127.0.0.1:8787',
    pattern: /^https?:\/\/[^\s/]+/,
    env: ['HTTP_RUNNER_URL'],
  },
  token: {
    type: 'string',
    secret: true,
    description: 'bearer token sent as "Authorization: Bearer <token>"',
    env: ['HTTP_RUNNER_TOKEN'],
  },
  requestGraceMs: {
    type: 'integer',
    default: 5_000,
    min: 0,
    max: 600_000,
    description: "extra wait past an execution's deadline before the request is abandoned",
  },
  requestTimeoutMs: {
    type: 'integer',
    default: 10_000,
    min: 1,
    max: 600_000,
    description: 'deadline of the health check and of creating and deleting sessions',
  },
})

/**
 * The `http-runner` backend descriptor. Registering it costs nothing: the
 * VM implementation is imported when the first VM is created.
 */
export const httpRunnerBackend: BackendDescriptor<HttpRunnerConfig> = {
  type: 'http-runner',
  description: 'Lua on a remote runner over HTTP (POST /execute); bearer-token auth',
  capabilities: HTTP_RUNNER_CAPABILITIES,
  configSchema: httpRunnerConfigSchema,
  // Whether a runner answers depends on the config, which detect() does not
  // get: report available when fetch exists; start() checks the runner.
  detect: () =>
    Promise.resolve(
      typeof fetch === 'function'
        ? { available: true, details: { transport: 'fetch' } }
        : { available: false, reason: 'this JavaScript runtime has no fetch(); use Node 20 or newer' },
    ),
  load: () => import('./http-vm.js'),
}

// The CLI's --plugin takes a module's default export (one descriptor or a list).
export default httpRunnerBackend
