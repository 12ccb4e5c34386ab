import { hostname } from 'node:os'
import { type Logger, silentLogger, validateSection } from '@bioxen-luavm/core'
import { loadTlsPolicy, resolveConfig } from './config.js'
import { OWNER_KEY, type OwnerTag, parseOwner } from './owner.js'
import { destroyVmAndDisks } from './provision/teardown.js'
import { runWorkflow } from './provision/undo.js'
import { xcpngConfigSchema } from './schema.js'
import { decodeVm } from './xapi/api.js'
import { XapiSession } from './xapi/session.js'

/** Options of {@link reapOrphans}. */
export interface ReapOptions {
  /** Only VMs created longer ago than this (default 1 h) — younger ones may still be starting. */
  olderThanMs?: number
  /** List what would be removed, remove nothing. */
  dryRun?: boolean
  /**
   * Also remove VMs whose owner was another machine, judged by age alone
   * (their process cannot be checked from here). Default true.
   */
  includeOtherHosts?: boolean
  logger?: Logger
  /** Deadline per VM removal (default 5 min). */
  timeoutMs?: number
}

/** One VM {@link reapOrphans} looked at. */
export interface ReapedVm {
  uuid: string
  name: string
  owner: OwnerTag
  ageMs: number
  action: 'destroyed' | 'would-destroy' | 'skipped' | 'failed'
  reason?: string
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Finds VMs tagged by this SDK (`other_config["bioxen-luavm:owner"]`) that
 * a crashed host process left behind, and destroys them with their disks
 * (never CD/ISO disks). A VM is an orphan when it is older than
 * `olderThanMs` and its owner process is gone: on this host that is
 * checked by pid; for other hosts only age counts (see
 * `includeOtherHosts`). VMs the SDK attached to but did not create carry no
 * tag and are never touched.
 */
export async function reapOrphans(client: XapiSession, options: ReapOptions = {}): Promise<ReapedVm[]> {
  const olderThanMs = options.olderThanMs ?? 3_600_000
  const logger = options.logger ?? silentLogger
  const me = hostname()
  const records = (await client.call('VM.get_all_records')) as Record<string, unknown>
  const out: ReapedVm[] = []
  for (const [ref, raw] of Object.entries(records)) {
    const vm = decodeVm(ref, raw)
    if (vm.isTemplate || vm.isSnapshot || vm.isControlDomain) continue
    const owner = parseOwner(vm.otherConfig[OWNER_KEY])
    if (!owner) continue
    const ageMs = Date.now() - owner.created
    const entry: ReapedVm = { uuid: vm.uuid, name: vm.nameLabel, owner, ageMs, action: 'skipped' }
    out.push(entry)
    if (ageMs < olderThanMs) {
      entry.reason = 'younger than olderThanMs'
      continue
    }
    if (owner.host === me && processAlive(owner.pid)) {
      entry.reason = `its owner process ${owner.pid} is still running`
      continue
    }
    if (owner.host !== me && options.includeOtherHosts === false) {
      entry.reason = `owned by another host (${owner.host})`
      continue
    }
    if (options.dryRun) {
      entry.action = 'would-destroy'
      continue
    }
    try {
      await runWorkflow(destroyVmAndDisks(client, ref), {
        what: `reaping VM ${vm.uuid}`,
        logger,
        timeoutMs: options.timeoutMs ?? 300_000,
        callTimeoutMs: 60_000,
      })
      entry.action = 'destroyed'
      logger.info('reaped an orphaned VM', { uuid: vm.uuid, name: vm.nameLabel, owner })
    } catch (error) {
      entry.action = 'failed'
      entry.reason = (error as Error).message
      logger.error('could not reap an orphaned VM', { uuid: vm.uuid, error: entry.reason })
    }
  }
  return out
}

/**
 * Opens an XAPI session from an `xcpng` config section (the same keys as
 * the backend: `xapi_url`, `username`, `password`, `fingerprint`/`ca`/
 * `insecure`). Call `logout()` when done.
 */
export async function connectXapi(
  config: Record<string, unknown>,
  options: { logger?: Logger; signal?: AbortSignal } = {},
): Promise<XapiSession> {
  // Only the XAPI half is needed: fill the SSH and template keys so the
  // shared validation passes.
  const section = validateSection(
    xcpngConfigSchema,
    { ssh_user: 'unused', template_name: 'unused', ...config },
    'backends.xcpng',
  )
  const cfg = resolveConfig(section)
  return XapiSession.open({
    url: cfg.xapiUrl,
    username: cfg.username,
    password: cfg.password,
    tls: await loadTlsPolicy(cfg),
    callTimeoutMs: cfg.callTimeoutMs,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  })
}
