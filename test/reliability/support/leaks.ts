import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { descendantsOf, findLeaks, type Leak } from '../../../scripts/leak-oracle.mjs'
import { workersGone } from './worker-spy.js'

/**
 * Leak checks for one test file, precise on a machine shared with other
 * test runs: processes are looked for only below this process, and temp
 * entries in a private TMPDIR that this file owns (the SDK and the Lua
 * interpreters it starts — TMPDIR passes to them — write there).
 */
export interface LeakScope {
  /** When the scope began (ms epoch), for `findLeaks`. */
  since: number
  /** The private temp directory. */
  tmp: string
  /** Everything left behind right now: lua processes below us, temp entries, live worker threads. */
  check(options?: { settleMs?: number }): Promise<Leak[]>
  /** Restores TMPDIR and removes the private directory. */
  dispose(): void
}

/** Starts a leak scope: switches TMPDIR to a fresh private directory. */
export function leakScope(): LeakScope {
  const since = Date.now()
  const previous = process.env.TMPDIR
  // Not a luavm-* name: other runs' oracles must not mistake it for theirs.
  const tmp = mkdtempSync(join(tmpdir(), `bioxen-reliability-${process.pid}-`))
  process.env.TMPDIR = tmp
  const onExit = () => rmSync(tmp, { recursive: true, force: true })
  process.once('exit', onExit)
  return {
    since,
    tmp,
    async check({ settleMs = 3_000 } = {}) {
      // Process groups die a moment after SIGKILL; workers a moment after terminate().
      const end = Date.now() + settleMs
      let leaks = current(since, tmp)
      while (leaks.length && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 50))
        leaks = current(since, tmp)
      }
      const workers = await workersGone(Math.max(0, end - Date.now()))
      return [
        ...leaks,
        ...workers.map((w) => ({ kind: 'worker thread', what: `threadId ${w.threadId} still running` })),
      ]
    },
    dispose() {
      if (previous === undefined) delete process.env.TMPDIR
      else process.env.TMPDIR = previous
      process.off('exit', onExit)
      rmSync(tmp, { recursive: true, force: true })
    },
  }
}

function current(since: number, tmp: string): Leak[] {
  const leaks = findLeaks(since, { root: process.pid, tmp })
  // Every entry in the private dir is ours, whatever its name (findLeaks only knows our prefixes).
  for (const name of readdirSync(tmp)) {
    const path = join(tmp, name)
    if (leaks.some((l) => l.what === path)) continue
    leaks.push({ kind: 'temp entry', what: path })
  }
  // Any Lua interpreter below us counts, driver or not (a child of a chunk, a stray).
  for (const pid of descendantsOf(process.pid)) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      if (/(^|\/)(lua5\.\d|luajit|lua)$/.test(cmd[0] ?? '') && !leaks.some((l) => l.what.startsWith(`pid ${pid}:`))) {
        leaks.push({ kind: 'lua process', what: `pid ${pid}: ${cmd.join(' ').slice(0, 120)}` })
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return leaks
}

/** Lua interpreter pids below this process right now. */
export function luaChildren(): number[] {
  return descendantsOf(process.pid).filter((pid) => {
    try {
      return /(^|\/)(lua5\.\d|luajit|lua)$/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '')
    } catch {
      return false
    }
  })
}
