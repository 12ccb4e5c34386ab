import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { descendantsOf, listProcesses } from './proc.js'

/** How to start a process in its own group. */
export interface GroupSpawnOptions {
  env: Record<string, string>
  cwd?: string
}

// Leaders of every process group this package started that may still be
// alive. Module-level on purpose: the exit hook must reach the groups of VM
// objects the host dropped without stopping them.
const liveGroups = new Set<number>()
let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // 'exit' handlers must be synchronous; process.kill is. This covers normal
  // exit, process.exit() and uncaught exceptions. A SIGKILL of Node itself
  // cannot be intercepted: idle drivers then exit on stdin EOF.
  process.on('exit', killAllGroups)
}

/** SIGKILLs every live process group this package started. Synchronous; safe to call twice. */
export function killAllGroups(): void {
  for (const pgid of [...liveGroups]) killGroup(pgid)
}

/** Leaders of the process groups started by this package that have not been reaped yet. */
export function liveProcessGroups(): number[] {
  return [...liveGroups]
}

/**
 * Starts `command` as the leader of a new process group (`detached: true`
 * is `setsid()`), with every stdio a pipe so the host's stdin, stdout and
 * stderr are never shared. argv only — no shell ever parses anything.
 */
export function spawnInGroup(
  command: string,
  args: readonly string[],
  options: GroupSpawnOptions,
): ChildProcessWithoutNullStreams {
  installExitHook()
  const child = spawn(command, args, {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: options.env,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    windowsHide: true,
  })
  const pid = child.pid
  if (pid !== undefined) {
    liveGroups.add(pid)
    // When the leader ends — for any reason — whatever it left running in
    // its group (`os.execute("sleep 60 &")`) goes with it. The kernel does
    // not reuse a pid while it still names a live process group, so the
    // group kill cannot hit a stranger.
    child.once('exit', () => {
      killGroup(pid)
      liveGroups.delete(pid)
    })
  }
  // A broken pipe to a dead interpreter is reported through 'exit'; without
  // these listeners it would become an uncaught exception in the host.
  child.stdin.on('error', () => {})
  child.stdout.on('error', () => {})
  child.stderr.on('error', () => {})
  return child
}

/**
 * SIGKILLs process group `pgid` — the interpreter and everything it started
 * (`os.execute("sleep 60")`, `io.popen`) — and, with `descendants`, every
 * process whose parent chain leads to the leader even if it moved to its own
 * group. Never throws.
 */
export function killGroup(pgid: number, options: { descendants?: boolean } = {}): void {
  if (!(pgid > 1)) return
  const strays = options.descendants ? safeDescendants(pgid) : []
  try {
    process.kill(-pgid, 'SIGKILL')
  } catch {
    // ESRCH: the group is already gone.
  }
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
}

function safeDescendants(pid: number): number[] {
  try {
    return descendantsOf(pid)
  } catch {
    return []
  }
}

/**
 * Resolves once no live process is left in group `pgid` (zombies awaiting
 * their reaper do not count), so a result reported after a kill can promise
 * that nothing of the execution still runs. Gives up after `timeoutMs`.
 */
export async function waitGroupGone(pgid: number, timeoutMs = 1_000): Promise<boolean> {
  const end = Date.now() + timeoutMs
  for (;;) {
    // One syscall answers the common case (the group is empty: ESRCH);
    // only when members remain is /proc read to tell live ones from zombies.
    try {
      process.kill(-pgid, 0)
    } catch {
      return true
    }
    const alive = listProcesses().some((p) => p.pgid === pgid && p.state !== 'Z' && p.state !== 'X')
    if (!alive) return true
    if (Date.now() > end) return false
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
