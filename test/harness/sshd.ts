/**
 * A throwaway OpenSSH sshd on 127.0.0.1 for tests: its own ed25519 host key,
 * a generated client key, and (when running as root) a throwaway user with
 * a /bin/sh login shell — root's .bashrc on CI machines can take ~80 ms per
 * exec, which would dominate every measurement.
 *
 * Everything it creates (the daemon, its sessions, the user's processes,
 * the user, the temp dir) is removed by `stop()`. Every command runs from
 * an argv array; nothing goes through a shell on the host.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const SSHD = '/usr/sbin/sshd'

/** A running test sshd. */
export interface SshdHarness {
  host: string
  port: number
  /** The login user (a throwaway user when running as root). */
  user: string
  /** The user's uid, for process checks. */
  uid: number
  /** The user's home directory. */
  home: string
  /** Client private key (OpenSSH format) and its path. */
  privateKey: string
  privateKeyPath: string
  /** `SHA256:…` of the host key, as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string
  /** A known_hosts file listing the host key for `[127.0.0.1]:port`. */
  knownHostsPath: string
  /** PID of the listening daemon. */
  pid: number
  /** Kills every sshd process of this harness (daemon and sessions), leaving session children orphaned. */
  crash(): Promise<void>
  /**
   * PIDs of the test user's processes other than sshd's own session
   * processes — i.e. what guest commands left running (empty when not
   * running as root, as there is no separate user then).
   */
  userProcesses(): Promise<number[]>
  /** Stops everything and removes the user and files. Idempotent. */
  stop(): Promise<void>
}

/** Why the harness cannot run here, or undefined when it can. */
export function sshdUnavailableReason(): string | undefined {
  if (!existsSync(SSHD)) return `${SSHD} is missing: apt-get install openssh-server`
  if (!existsSync('/usr/bin/ssh-keygen')) return 'ssh-keygen is missing: apt-get install openssh-client'
  return undefined
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

async function procEntries(): Promise<number[]> {
  return (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map(Number)
}

async function readProc(pid: number, file: string): Promise<string | undefined> {
  try {
    return await readFile(`/proc/${pid}/${file}`, 'utf8')
  } catch {
    return undefined
  }
}

async function parentOf(pid: number): Promise<number | undefined> {
  const stat = await readProc(pid, 'stat')
  if (!stat) return undefined
  // The command name may contain spaces; fields resume after its ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(rest[1])
}

async function descendants(root: number): Promise<number[]> {
  const parents = new Map<number, number>()
  for (const pid of await procEntries()) {
    const ppid = await parentOf(pid)
    if (ppid !== undefined) parents.set(pid, ppid)
  }
  const out: number[] = []
  const walk = (p: number) => {
    for (const [child, parent] of parents) {
      if (parent === p) {
        out.push(child)
        walk(child)
      }
    }
  }
  walk(root)
  return out
}

async function uidOf(pid: number): Promise<number | undefined> {
  const status = await readProc(pid, 'status')
  const m = status && /^Uid:\s+(\d+)/m.exec(status)
  return m ? Number(m[1]) : undefined
}

// Zombies are already dead; in containers whose PID 1 does not reap, they linger.
async function isZombie(pid: number): Promise<boolean> {
  const stat = await readProc(pid, 'stat')
  return stat === undefined || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
}

function kill(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
}

async function waitGone(pids: number[], ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const alive = []
    for (const p of pids) if ((await readProc(p, 'stat')) !== undefined) alive.push(p)
    if (alive.length === 0) return
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Starts a throwaway sshd. Call `stop()` in teardown. */
export async function startSshd(options: { maxSessions?: number } = {}): Promise<SshdHarness> {
  const reason = sshdUnavailableReason()
  if (reason) throw new Error(`cannot start the test sshd: ${reason}`)
  const dir = await mkdtemp(join(tmpdir(), 'luavm-sshd-'))
  // sshd reads authorized_keys as the target user.
  await chmod(dir, 0o755)
  const isRoot = process.getuid?.() === 0
  let user = userInfo().username
  let createdUser = false
  let child: ChildProcess | undefined
  const cleanup = async () => {
    if (child?.pid) {
      const tree = await descendants(child.pid)
      kill(child.pid)
      for (const p of tree) kill(p)
      await waitGone([child.pid, ...tree])
    }
    if (createdUser) {
      const uid = Number((await run('id', ['-u', user])).stdout.trim())
      const left = []
      for (const p of await procEntries()) if ((await uidOf(p)) === uid) left.push(p)
      for (const p of left) kill(p)
      await waitGone(left)
      await run('userdel', ['-r', user]).catch(async () => {
        await new Promise((r) => setTimeout(r, 200))
        await run('userdel', ['-r', '-f', user])
      })
      createdUser = false
    }
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'luavm-test-host', '-f', join(dir, 'host_ed25519')])
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'luavm-test-client', '-f', join(dir, 'client_key')])
    const pub = await readFile(join(dir, 'client_key.pub'), 'utf8')
    await writeFile(join(dir, 'authorized_keys'), pub, { mode: 0o644 })
    await chmod(join(dir, 'authorized_keys'), 0o644)
    if (isRoot) {
      user = `luavmtest-${randomBytes(3).toString('hex')}`
      await run('useradd', ['-m', '-s', '/bin/sh', user])
      createdUser = true
      // sshd refuses locked accounts when PAM is off; '*' means "no password" instead.
      await run('usermod', ['-p', '*', user])
      await mkdir('/run/sshd', { recursive: true })
    }
    const uid = Number((await run('id', ['-u', user])).stdout.trim())
    const home = (await run('getent', ['passwd', user])).stdout.trim().split(':')[5] ?? ''
    const port = await freePort()
    const config = [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${join(dir, 'host_ed25519')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      `PidFile ${join(dir, 'sshd.pid')}`,
      `MaxSessions ${options.maxSessions ?? 100}`,
      'MaxStartups 100',
      `AllowUsers ${user}`,
      'LogLevel INFO',
      '',
    ].join('\n')
    const configPath = join(dir, 'sshd_config')
    await writeFile(configPath, config)
    await run(SSHD, ['-t', '-f', configPath])
    child = spawn(SSHD, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] })
    const started = child
    let log = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sshd did not start: ${log}`)), 10_000)
      started.stderr?.on('data', (chunk: Buffer) => {
        log += chunk.toString()
        if (log.includes('Server listening')) {
          clearTimeout(timer)
          resolve()
        }
      })
      started.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`sshd exited with ${code}: ${log}`))
      })
    })
    // Keep draining its log so the pipe never fills.
    started.stderr?.on('data', () => {})
    const hostPub = (await readFile(join(dir, 'host_ed25519.pub'), 'utf8')).trim().split(/\s+/)
    const blob = Buffer.from(hostPub[1] ?? '', 'base64')
    const hostKeyFingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
    const knownHostsPath = join(dir, 'known_hosts')
    await writeFile(knownHostsPath, `[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}\n`)
    const privateKeyPath = join(dir, 'client_key')
    const privateKey = await readFile(privateKeyPath, 'utf8')
    let stopped = false
    return {
      host: '127.0.0.1',
      port,
      user,
      uid,
      home,
      privateKey,
      privateKeyPath,
      hostKeyFingerprint,
      knownHostsPath,
      pid: started.pid as number,
      async crash() {
        const pid = started.pid as number
        const tree = await descendants(pid)
        const sshds = []
        for (const p of tree) if ((await readProc(p, 'comm'))?.trim() === 'sshd') sshds.push(p)
        kill(pid)
        for (const p of sshds) kill(p)
        await waitGone([pid, ...sshds])
      },
      async userProcesses() {
        if (!createdUser) return []
        const out = []
        for (const p of await procEntries()) {
          if ((await uidOf(p)) === uid && (await readProc(p, 'comm'))?.trim() !== 'sshd' && !(await isZombie(p)))
            out.push(p)
        }
        return out
      },
      async stop() {
        if (stopped) return
        stopped = true
        await cleanup()
      },
    }
  } catch (error) {
    await cleanup().catch(() => {})
    throw error
  }
}
