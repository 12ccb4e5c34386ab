import { spawn } from 'node:child_process'
import { BOOTSTRAP_LUA, DriverConnection } from '@bioxen-luavm/core'
import { SshConnection } from '../packages/backend-xcpng/src/ssh/connection.js'
import { HostKeyVerifier } from '../packages/backend-xcpng/src/ssh/host-key.js'
import { RemoteDriver } from '../packages/backend-xcpng/src/ssh/remote-driver.js'
import { startSshd } from '../test/harness/sshd.js'

type Exec = (code: string) => Promise<unknown>

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number
  return { min: s[0] as number, median: at(0.5), p90: at(0.9), max: s[s.length - 1] as number }
}

async function measure(exec: Exec, n: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint()
    await exec('return 1 + 1')
    out.push(Number(process.hrtime.bigint() - t) / 1000)
  }
  return out
}

function localPipe(): Promise<{ exec: Exec; close(): void }> {
  const child = spawn('lua5.4', ['-e', BOOTSTRAP_LUA], { stdio: ['pipe', 'pipe', 'inherit'] })
  const driver = new DriverConnection({ write: (bytes) => child.stdin.write(bytes) })
  child.stdout.on('data', (chunk: Buffer) => driver.receive(chunk))
  child.on('close', () => driver.close('exited'))
  return driver.init({ sandbox: true }).then(() => ({
    exec: (code) => driver.exec(code, {}),
    close: () => child.kill('SIGKILL'),
  }))
}

const us = (x: number) => `${x.toFixed(1)} µs`

export async function main(argv: string[]): Promise<void> {
  const arg = (name: string, d: number) => {
    const i = argv.indexOf(`--${name}`)
    return i >= 0 ? Number(argv[i + 1]) : d
  }
  const rounds = arg('rounds', 5)
  const n = arg('n', 1000)
  const sshd = await startSshd()
  let conn: SshConnection | undefined
  let pipe: Awaited<ReturnType<typeof localPipe>> | undefined
  try {
    conn = await SshConnection.connect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      privateKey: sshd.privateKey,
      hostKey: new HostKeyVerifier({ fingerprints: [sshd.hostKeyFingerprint] }, sshd.host, sshd.port),
    })
    const remote = await RemoteDriver.start(conn)
    pipe = await localPipe()
    const ssh: Exec = (code) => remote.exec(code, {})
    await measure(ssh, 200)
    await measure(pipe.exec, 200)
    const ratios: number[] = []
    const all = { ssh: [] as number[], pipe: [] as number[] }
    console.log(`return 1 + 1, ${rounds} rounds x ${n} executions, interleaved (node ${process.version})`)
    for (let r = 1; r <= rounds; r++) {
      const p = await measure(pipe.exec, n)
      const s = await measure(ssh, n)
      all.pipe.push(...p)
      all.ssh.push(...s)
      const ratio = stats(s).median / stats(p).median
      ratios.push(ratio)
      console.log(
        `round ${r}: pipe median ${us(stats(p).median)}, ssh median ${us(stats(s).median)}, ratio ${ratio.toFixed(2)}x`,
      )
    }
    const sp = stats(all.pipe)
    const ss = stats(all.ssh)
    console.log(`pipe: min ${us(sp.min)} / median ${us(sp.median)} / p90 ${us(sp.p90)} / max ${us(sp.max)}`)
    console.log(`ssh:  min ${us(ss.min)} / median ${us(ss.median)} / p90 ${us(ss.p90)} / max ${us(ss.max)}`)
    const median = stats(ratios).median
    console.log(
      `ratio ssh/pipe (median of rounds): ${median.toFixed(2)}x (per round ${ratios.map((x) => x.toFixed(2)).join(', ')}); goal <= 3x: ${median <= 3 ? 'met' : 'NOT met'}`,
    )
    // A per-execution memory cap that differs from the one in force costs
    // one `prlimit --pid` on a second channel (lifting it, one more).
    const changes: number[] = []
    for (let i = 0; i < 40; i++) {
      const t = process.hrtime.bigint()
      await remote.limitMemory(i % 2 === 0 ? 32 * 1024 * 1024 : undefined)
      changes.push(Number(process.hrtime.bigint() - t) / 1000)
    }
    const change = stats(changes).median
    console.log(
      `memory cap change (prlimit --pid over a second channel): median ${(change / 1000).toFixed(2)} ms, ${(change / ss.median).toFixed(0)}x an execution; none while the cap stays the same`,
    )
    await remote.quit()
  } finally {
    pipe?.close()
    conn?.close()
    await sshd.stop()
  }
}

await main(process.argv.slice(2))
