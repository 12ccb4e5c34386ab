import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { ConfigError, type Logger } from '@bioxen-luavm/core'
import { rockPathEnv } from './packages/remote-luarocks.js'
import { XEN_GUEST_UUID_PATH } from './ssh/guest-identity.js'
import { type HostKeyPolicy, parseKnownHosts } from './ssh/host-key.js'
import type { RemoteDriverOptions } from './ssh/remote-driver.js'
import type { TlsPolicy } from './xapi/tls.js'

/** The validated `xcpng` config section, typed. Secrets stay in memory only. */
export interface XcpngConfig {
  xapiUrl: string
  username: string
  password: string
  poolUuid?: string | undefined
  templateName?: string | undefined
  vmNamePrefix: string
  networkUuid?: string | undefined
  storageRepository?: string | undefined
  sshUser: string
  sshKeyPath?: string | undefined
  sshPrivateKey?: string | undefined
  sshKeyPassphrase?: string | undefined
  sshAgent?: string | undefined
  vmMemory?: number | undefined
  vmVcpus?: number | undefined
  ca?: string | undefined
  caFile?: string | undefined
  fingerprints: string[]
  insecure: boolean
  sshPort: number
  sshHostKeys: string[]
  knownHostsPath?: string | undefined
  sshAcceptNewHostKey: boolean
  attachVm?: string | undefined
  /** File on the guest that shows its VM uuid, checked against XAPI's after SSH connects. */
  guestUuidPath: string
  luaExecutable: string
  sandbox: boolean
  grants: string[]
  luarocksTree: string
  /** VM-level memory cap (a ceiling for executions); needs `prlimit` on the guest. */
  memoryLimitBytes?: number | undefined
  bootTimeoutMs: number
  startTimeoutMs: number
  shutdownTimeoutMs: number
  callTimeoutMs: number
  killGraceMs: number
  provisionConcurrency: number
}

const opt = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)
const num = (v: unknown, d: number): number => (typeof v === 'number' ? v : d)
const list = (v: unknown): string[] =>
  Array.isArray(v) ? v.map(String).filter(Boolean) : typeof v === 'string' && v ? v.split(',').map((s) => s.trim()) : []

/**
 * Types a config section the registry already validated against
 * {@link xcpngConfigSchema}, and checks the rules that span keys.
 */
export function resolveConfig(raw: Record<string, unknown>): XcpngConfig {
  const cfg: XcpngConfig = {
    xapiUrl: String(raw.xapi_url ?? ''),
    username: String(raw.username ?? ''),
    password: String(raw.password ?? ''),
    poolUuid: opt(raw.pool_uuid),
    templateName: opt(raw.template_name),
    vmNamePrefix: opt(raw.vm_name_prefix) ?? 'bioxen',
    networkUuid: opt(raw.network_uuid),
    storageRepository: opt(raw.storage_repository),
    sshUser: String(raw.ssh_user ?? ''),
    sshKeyPath: opt(raw.ssh_key_path),
    sshPrivateKey: opt(raw.ssh_private_key),
    sshKeyPassphrase: opt(raw.ssh_key_passphrase),
    sshAgent: opt(raw.ssh_agent),
    vmMemory: typeof raw.vm_memory === 'number' ? raw.vm_memory : undefined,
    vmVcpus: typeof raw.vm_vcpus === 'number' ? raw.vm_vcpus : undefined,
    ca: opt(raw.ca),
    caFile: opt(raw.ca_file),
    fingerprints: list(raw.fingerprint),
    insecure: raw.insecure === true,
    sshPort: num(raw.ssh_port, 22),
    sshHostKeys: list(raw.ssh_host_key),
    knownHostsPath: opt(raw.known_hosts_path),
    sshAcceptNewHostKey: raw.ssh_accept_new_host_key === true,
    attachVm: opt(raw.attach_vm),
    guestUuidPath: opt(raw.guest_uuid_path) ?? XEN_GUEST_UUID_PATH,
    luaExecutable: opt(raw.lua_executable) ?? 'lua5.4',
    sandbox: raw.sandbox !== false,
    grants: list(raw.grants),
    luarocksTree: opt(raw.luarocks_tree) ?? '.luavm/rocks',
    memoryLimitBytes: typeof raw.memory_limit_bytes === 'number' ? raw.memory_limit_bytes : undefined,
    bootTimeoutMs: num(raw.boot_timeout_ms, 180_000),
    startTimeoutMs: num(raw.start_timeout_ms, 600_000),
    shutdownTimeoutMs: num(raw.shutdown_timeout_ms, 60_000),
    callTimeoutMs: num(raw.call_timeout_ms, 60_000),
    killGraceMs: num(raw.kill_grace_ms, 500),
    provisionConcurrency: num(raw.provision_concurrency, 4),
  }
  for (const key of ['xapiUrl', 'username', 'password', 'sshUser'] as const) {
    if (!cfg[key]) {
      const name = { xapiUrl: 'xapi_url', username: 'username', password: 'password', sshUser: 'ssh_user' }[key]
      throw new ConfigError(`backends.xcpng.${name} is required; see docs/xcpng.md`)
    }
  }
  if (!cfg.templateName && !cfg.attachVm) {
    throw new ConfigError(
      'backends.xcpng: set template_name (a template to clone) or attach_vm (an existing VM to use)',
    )
  }
  if (cfg.sshKeyPath && cfg.sshPrivateKey) {
    throw new ConfigError('backends.xcpng: set ssh_key_path or ssh_private_key, not both')
  }
  if (cfg.insecure && (cfg.fingerprints.length > 0 || cfg.ca || cfg.caFile)) {
    throw new ConfigError('backends.xcpng: insecure: true contradicts fingerprint/ca; drop insecure')
  }
  if (cfg.ca && cfg.caFile) throw new ConfigError('backends.xcpng: set ca or ca_file, not both')
  return cfg
}

/** What start() needs from the file system, read once per start. */
export interface LoadedSecrets {
  tls: TlsPolicy
  hostKeys: HostKeyPolicy
  privateKey?: string | undefined
  agent?: string | undefined
}

function expandHome(path: string): string {
  return path.startsWith('~/') ? `${homedir()}${path.slice(1)}` : path
}

async function readConfigFile(key: string, path: string): Promise<string> {
  try {
    return await readFile(expandHome(path), 'utf8')
  } catch (error) {
    throw new ConfigError(
      `backends.xcpng.${key}: cannot read '${path}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      {
        cause: error,
      },
    )
  }
}

/** The XAPI TLS policy of a config (reads `ca_file`). */
export async function loadTlsPolicy(cfg: XcpngConfig): Promise<TlsPolicy> {
  const ca = cfg.ca ?? (cfg.caFile ? await readConfigFile('ca_file', cfg.caFile) : undefined)
  return { ca, fingerprints: cfg.fingerprints, insecure: cfg.insecure }
}

/** Reads key, CA and known_hosts files named by the config. */
export async function loadSecrets(cfg: XcpngConfig, env: NodeJS.ProcessEnv = process.env): Promise<LoadedSecrets> {
  const tls = await loadTlsPolicy(cfg)
  const privateKey =
    cfg.sshPrivateKey ?? (cfg.sshKeyPath ? await readConfigFile('ssh_key_path', cfg.sshKeyPath) : undefined)
  const agent = cfg.sshAgent ?? (privateKey ? undefined : env.SSH_AUTH_SOCK)
  if (!privateKey && !agent) {
    throw new ConfigError(
      'backends.xcpng: no SSH credentials: set ssh_key_path (or ssh_private_key), or ssh_agent / SSH_AUTH_SOCK',
    )
  }
  const knownHosts = cfg.knownHostsPath
    ? parseKnownHosts(await readConfigFile('known_hosts_path', cfg.knownHostsPath))
    : undefined
  return {
    tls,
    hostKeys: {
      fingerprints: cfg.sshHostKeys,
      ...(knownHosts ? { knownHosts } : {}),
      acceptNew: cfg.sshAcceptNewHostKey,
    },
    privateKey,
    agent,
  }
}

/** How this config starts the Lua driver on a guest (at provisioning and after every restart). */
export function driverOptions(cfg: XcpngConfig, logger: Logger): RemoteDriverOptions {
  return {
    lua: cfg.luaExecutable,
    sandbox: cfg.sandbox,
    grants: cfg.grants,
    env: rockPathEnv(cfg.luarocksTree),
    ...(cfg.memoryLimitBytes === undefined ? {} : { memoryLimitBytes: cfg.memoryLimitBytes }),
    logger,
  }
}
