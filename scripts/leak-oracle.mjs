// The leak oracle: finds what tests started and left behind — Lua
// interpreters running our driver, test sshds, tmux test sessions, and
// `luavm-*` temp entries — made since a given time. scripts/test.sh runs
// it after the whole suite and counts a leak as a failure.
//
//   node scripts/leak-oracle.mjs <since-ms-epoch>
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const CLOCK_TICKS = 100 // USER_HZ on Linux
const bootTime = Number(/btime (\d+)/.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? 0)

// Processes tests may start, recognised by their command line.
const OURS = [
  ['lua driver', /^(\S*\/)?(lua5\.\d|luajit|lua)\0-e\0.*luavm/s],
  ['test sshd', /sshd\0-D\0-e\0-f\0.*luavm/s],
  ['tmux test session', /tmux.*luavm-test-/s],
]

function processStart(pid) {
  // Field 22 of /proc/<pid>/stat, counted after the parenthesised command name.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (bootTime + Number(fields[19]) / CLOCK_TICKS) * 1000
}

/** What looks like ours and was made since `since` (ms epoch): `[{ kind, what }]`. */
export function findLeaks(since) {
  const leaks = []
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      const match = OURS.find(([, re]) => re.test(cmdline))
      if (match && processStart(pid) >= since - 1000) {
        leaks.push({ kind: match[0], what: `pid ${pid}: ${cmdline.replace(/\0/g, ' ').slice(0, 120)}` })
      }
    } catch {
      // The process ended while we looked.
    }
  }
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith('luavm-')) continue
    try {
      if (statSync(join(tmpdir(), name)).mtimeMs >= since)
        leaks.push({ kind: 'temp entry', what: join(tmpdir(), name) })
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
