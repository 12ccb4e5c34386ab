import { mkdir, open, readFile, rm, rmdir, stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { PackageError } from '@bioxen-luavm/core'

/** Who holds an environment's lock; written into the lock file. */
interface LockOwner {
  pid: number
  host: string
  since: number
}

/** Options of {@link withEnvironmentLock}. */
export interface EnvironmentLockOptions {
  signal?: AbortSignal | undefined
  /** Give up waiting for another process after this long (default 10 minutes). */
  waitMs?: number
}

const POLL_MS = 100
const DEFAULT_WAIT_MS = 600_000
const HALF_WRITTEN_MS = 5_000

/**
 * Runs `work` holding `<root>/.locks/<name>`, a lock file created with
 * O_EXCL, so two processes (two CLIs, a CLI and a test) never install into
 * one environment or rewrite its manifest at once. A lock left by a process
 * that died on this host is taken over; one held by a live process is
 * waited for. Environment names cannot start with a dot, so `.locks` is
 * never an environment.
 */
export async function withEnvironmentLock<T>(
  root: string,
  name: string,
  work: () => Promise<T>,
  options: EnvironmentLockOptions = {},
): Promise<T> {
  const dir = join(root, '.locks')
  const file = join(dir, name)
  const deadline = Date.now() + (options.waitMs ?? DEFAULT_WAIT_MS)
  for (;;) {
    options.signal?.throwIfAborted()
    if (await tryCreate(file)) break
    const text = await readFile(file, 'utf8').catch(ifGone(undefined))
    if (text === undefined) continue // released meanwhile
    const owner = parseOwner(text)
    // Unreadable for a moment is normal: the owner writes it right after creating it.
    const stale = owner ? isDead(owner) : await olderThan(file, HALF_WRITTEN_MS)
    if (stale) {
      // Left by a process that died (or died mid-write): take it over, but
      // only if nobody replaced it since it was read.
      if ((await readFile(file, 'utf8').catch(ifGone(undefined))) === text) await rm(file, { force: true })
      continue
    }
    if (owner && Date.now() > deadline) {
      throw new PackageError(
        `environment '${name}' is locked by process ${owner.pid} on ${owner.host} since ${new Date(owner.since).toISOString()}; ` +
          `if that process is gone, delete ${file}`,
        { details: { name, lock: file, owner } },
      )
    }
    await sleep(POLL_MS, options.signal)
  }
  try {
    return await work()
  } finally {
    await rm(file, { force: true })
    // Leave no empty .locks behind; another process still holding a lock keeps it.
    await rmdir(dir).catch(() => {})
  }
}

async function tryCreate(file: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(file, 'wx', 0o644)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'ENOENT') throw error
    // Another process removed the empty .locks just now.
    await mkdir(dirname(file), { recursive: true, mode: 0o755 })
    return tryCreate(file)
  }
  try {
    const owner: LockOwner = { pid: process.pid, host: hostname(), since: Date.now() }
    await handle.writeFile(JSON.stringify(owner))
  } finally {
    await handle.close()
  }
  return true
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as Partial<LockOwner>
    const valid = typeof owner.pid === 'number' && typeof owner.host === 'string' && typeof owner.since === 'number'
    return valid ? (owner as LockOwner) : undefined
  } catch {
    return undefined
  }
}

/** A rejection handler: a missing file gives `value`, any other error stays an error. */
function ifGone<T>(value: T): (error: NodeJS.ErrnoException) => T {
  return (error) => {
    if (error.code === 'ENOENT') return value
    throw error
  }
}

async function olderThan(file: string, ms: number): Promise<boolean> {
  const info = await stat(file).catch(() => undefined)
  return info !== undefined && Date.now() - info.mtimeMs > ms
}

/** Only a lock from this host can be judged by its pid; another host's lock is trusted until it goes. */
function isDead(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false
  try {
    process.kill(owner.pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms)
    function done() {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }
    function onAbort() {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
