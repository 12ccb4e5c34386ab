/**
 * Shared setup for tests that run the xcpng backend end to end: an XAPI
 * simulator whose guests report 127.0.0.1, and a real sshd standing in for
 * the guest OS. `config()` builds a backend config for them.
 */

import { writeFileSync } from 'node:fs'
import { xcpngBackend } from '@bioxen-luavm/backend-xcpng'
import { BackendRegistry, createLogger, type LogRecord } from '@bioxen-luavm/core'
import { type SshdHarness, startSshd } from '../harness/sshd.js'
import { XapiSim, type XapiSimOptions } from './server.js'

export const SIM_PASSWORD = 'sim-password-9f8e7d'

/**
 * The test sshd's machine is no Xen guest, so by default there is nothing
 * that shows a VM uuid: the backend warns and skips the identity check.
 * Tests of that check point `guest_uuid_path` at `knobs.guest.uuidFile`.
 */
export const NO_GUEST_UUID = '/nonexistent/bioxen-sim/hypervisor-uuid'

/** A backend config pointing at `sim` and `sshd`. */
export function simConfig(
  sim: XapiSim,
  sshd: SshdHarness,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    ...xapiSettings(sim),
    ssh_user: sshd.user,
    ssh_private_key: sshd.privateKey,
    ssh_port: sshd.port,
    ssh_host_key: [sshd.hostKeyFingerprint],
    guest_uuid_path: NO_GUEST_UUID,
    boot_timeout_ms: 20_000,
    start_timeout_ms: 60_000,
    shutdown_timeout_ms: 5_000,
    ...overrides,
  }
}

/** The XAPI side of a config for `sim`: endpoint, credentials, pinned certificate, template. */
export function xapiSettings(sim: XapiSim): Record<string, unknown> {
  return {
    xapi_url: sim.url,
    username: 'root',
    password: SIM_PASSWORD,
    fingerprint: [sim.fingerprint],
    template_name: 'debian-lua',
  }
}

/**
 * Writes the original library's flat `xcpng_config.json` for `sim` (no
 * sshd: commands that only talk to XAPI) to `path`.
 */
export function writeFlatXcpngConfig(sim: XapiSim, path: string): string {
  writeFileSync(path, JSON.stringify({ ...xapiSettings(sim), ssh_user: 'lua' }))
  return path
}

/** A simulator with the test password. */
export function startSim(options: XapiSimOptions = {}): Promise<XapiSim> {
  return XapiSim.start({ password: SIM_PASSWORD, ...options })
}

/** A logger that keeps every record (debug and up). */
export function recordingLogger(): { logger: ReturnType<typeof createLogger>; logs: LogRecord[] } {
  const logs: LogRecord[] = []
  return { logs, logger: createLogger('test', { level: 'debug', sink: (r) => logs.push(r) }) }
}

/** A registry with only the xcpng backend. */
export function xcpngRegistry(): BackendRegistry {
  return new BackendRegistry().register(xcpngBackend)
}

export interface Env {
  sim: XapiSim
  sshd: SshdHarness
  registry: BackendRegistry
  /** Everything logged through `logger`. */
  logs: LogRecord[]
  logger: ReturnType<typeof createLogger>
  config(overrides?: Record<string, unknown>): Record<string, unknown>
  stop(): Promise<void>
}

/** One simulator and one sshd, for files whose tests share them. */
export async function startEnv(options: XapiSimOptions = {}): Promise<Env> {
  const sshd = await startSshd()
  let sim: XapiSim
  try {
    sim = await startSim(options)
  } catch (error) {
    await sshd.stop()
    throw error
  }
  const { logs, logger } = recordingLogger()
  return {
    sim,
    sshd,
    registry: xcpngRegistry(),
    logs,
    logger,
    config: (overrides = {}) => simConfig(sim, sshd, overrides),
    async stop() {
      await sim.close()
      await sshd.stop()
    },
  }
}
