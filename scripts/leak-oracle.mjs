// The leak oracle: finds what tests started and left behind — Lua
// interpreters running our driver, test sshds and ssh-agents, tmux test
// sessions, headless Chromium of the browser test, the listening sockets
// those processes still hold, and temp entries (`luavm-*`, `bioxen-luavm-*`,
// `xapi-sim-*`) — made since a given time. scripts/test.sh runs it after the
// whole suite and counts a leak as a failure.
//
//   node scripts/leak-oracle.mjs <since-ms-epoch>
//
// Tests use it too (`findLeaks(since, { root: process.pid, tmp })`): on a
// machine shared with other test runs, `root` limits the process checks to
// the caller's own descendants and `tmp` points the temp check at a private
// directory, so another run's live work is not taken for this one's leak.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const CLOCK_TICKS = 100 // USER_HZ on Linux
const bootTime = Number(/btime (\d+)/.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? 0)

// Processes tests may start, recognised by their command line.
const OURS = [
  ['lua driver', /^(\S*\/)?(lua5\.\d|luajit|lua)\0-e\0.*luavm/s],
  ['test sshd', /sshd\0-D\0-e\0-f\0.*luavm/s],
  ['test ssh-agent', /ssh-agent\0-D\0-a\0[^\0]*luavm/s],
  ['tmux test session', /tmux.*luavm-test-/s],
  // playwright starts Chromium (and its zygote/renderers) with the test's
  // luavm-chromium-* profile on the command line.
  ['headless chromium', /chrom(e|ium)[^\0]*\0.*luavm-chromium-/s],
]

// Temp entries tests and the SDK create: test dirs (luavm-*), the SDK's own
// (bioxen-luavm-vm-* environments, bioxen-luavm-run-* scratch, the
// bioxen-luavm-worker-*.cjs bundle of the wasm dev worker) and the XAPI
// simulator's certificates.
const TEMP_PREFIXES = ['luavm-', 'bioxen-luavm-', 'xapi-sim-']

function processStart(pid) {
  // Field 22 of /proc/<pid>/stat, counted after the parenthesised command name.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (bootTime + Number(fields[19]) / CLOCK_TICKS) * 1000
}

function parentOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
}

/** Pids below `root` (children, grandchildren, ...), from /proc parent links. */
export function descendantsOf(root) {
  const children = new Map()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const ppid = parentOf(name)
      if (!children.has(ppid)) children.set(ppid, [])
      children.get(ppid).push(Number(name))
    } catch {
      // The process ended while we looked.
    }
  }
  const out = []
  const todo = [...(children.get(root) ?? [])]
  while (todo.length) {
    const pid = todo.pop()
    out.push(pid)
    todo.push(...(children.get(pid) ?? []))
  }
  return out
}

// Listening TCP sockets, inode → "address:port", from /proc/net/tcp{,6}.
function listeningSockets() {
  const out = new Map()
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10 || f[3] !== '0A') continue // 0A = LISTEN
      const [ip, port] = f[1].split(':')
      out.set(f[9], `${ip.length === 8 ? ipv4(ip) : `[${ip}]`}:${Number.parseInt(port, 16)}`)
    }
  }
  return out
}

function ipv4(hex) {
  // Little-endian on x86/arm: 0100007F is 127.0.0.1.
  return [6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join('.')
}

function socketsOf(pid, listening) {
  const out = []
  let fds
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return out
  }
  for (const fd of fds) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1]
      if (inode && listening.has(inode)) out.push(listening.get(inode))
    } catch {
      // Closed meanwhile.
    }
  }
  return out
}

/**
 * What looks like ours and was made since `since` (ms epoch): `[{ kind, what }]`.
 *
 * @param {number} since
 * @param {{ root?: number, tmp?: string }} [options] - `root`: only look at
 *   descendants of this pid; `tmp`: the temp directory to scan (default `os.tmpdir()`)
 */
export function findLeaks(since, options = {}) {
  const leaks = []
  const pids =
    options.root === undefined
      ? readdirSync('/proc').filter((p) => /^\d+$/.test(p))
      : descendantsOf(options.root).map(String)
  let listening
  for (const pid of pids) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      const match = OURS.find(([, re]) => re.test(cmdline))
      if (match && processStart(pid) >= since - 1000) {
        leaks.push({ kind: match[0], what: `pid ${pid}: ${cmdline.replace(/\0/g, ' ').slice(0, 120)}` })
        // A lingering server keeps its port: name it, so the report says what still answers.
        listening ??= listeningSockets()
        for (const address of socketsOf(pid, listening)) {
          leaks.push({ kind: 'listening socket', what: `${address} held by pid ${pid} (${match[0]})` })
        }
      }
    } catch {
      // The process ended while we looked.
    }
  }
  const tmp = options.tmp ?? tmpdir()
  let names = []
  try {
    names = readdirSync(tmp)
  } catch {
    // No temp directory (removed private dir): nothing left in it.
  }
  for (const name of names) {
    if (!TEMP_PREFIXES.some((p) => name.startsWith(p))) continue
    try {
      // File times come from the kernel's coarse clock, which can trail Date.now() by a few ms.
      if (statSync(join(tmp, name)).mtimeMs >= since - 1000) leaks.push({ kind: 'temp entry', what: join(tmp, name) })
    } catch {
      // Removed meanwhile.
    }
  }
  return leaks
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const since = Number(process.argv[2])
  if (!Number.isFinite(since)) {
    console.error('usage: node scripts/leak-oracle.mjs <since-ms-epoch>')
    process.exit(2)
  }
  // Give exit handlers of the last workers a moment to reap their children.
  let leaks = findLeaks(since)
  for (let i = 0; i < 30 && leaks.length; i++) {
    await new Promise((r) => setTimeout(r, 100))
    leaks = findLeaks(since)
  }
  if (leaks.length) {
    console.error(`the test run left ${leaks.length} thing(s) behind:`)
    for (const l of leaks) console.error(`  - ${l.kind}: ${l.what}`)
    process.exit(1)
  }
  console.error('leak oracle: nothing left behind')
}
