/**
 * The CLI as a user's shell runs it: a child process from the sources
 * (`node scripts/run-ts.mjs packages/cli/src/bin.ts`), for what only a real
 * process has — an executable `#!` script found through PATH, and signals.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..', '..')
const dir = mkdtempSync(join(tmpdir(), 'luavm-cli-child-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

// `bioxen-luavm` on PATH, as an installed binary would be.
const binDir = join(dir, 'bin')
execFileSync('mkdir', [binDir])
writeFileSync(
  join(binDir, 'bioxen-luavm'),
  `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(root, 'scripts', 'run-ts.mjs'))} ${JSON.stringify(join(root, 'packages', 'cli', 'src', 'bin.ts'))} "$@"\n`,
)
chmodSync(join(binDir, 'bioxen-luavm'), 0o755)
const env = { ...process.env, PATH: `${binDir}:${process.env.PATH}`, XDG_CONFIG_HOME: join(dir, 'config') }

interface Exit {
  code: number | null
  stdout: string
  stderr: string
}

function collect(child: ChildProcess): Promise<Exit> {
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (t: string) => {
    stdout += t
  })
  child.stderr?.setEncoding('utf8').on('data', (t: string) => {
    stderr += t
  })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** The processes below `pid` the CLI started (not run-ts's esbuild service, which is the test harness's). */
function descendants(pid: number): number[] {
  let out = ''
  try {
    out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(pid)], { encoding: 'utf8' })
  } catch {
    return [] // ps exits 1 when there are none
  }
  const kids = out
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, comm]) => comm !== undefined && comm !== 'esbuild')
    .map(([p]) => Number(p))
  return kids.flatMap((k) => [k, ...descendants(k)])
}

describe('the CLI as a child process', () => {
  it('runs an executable #!/usr/bin/env -S bioxen-luavm run script with its arguments', async () => {
    const file = join(dir, 'hello')
    writeFileSync(file, '#!/usr/bin/env -S bioxen-luavm run\nprint("hello", ...)\nerror("line " .. 3)\n')
    chmodSync(file, 0o755)
    const r = await collect(spawn(file, ['a', 'b'], { env, stdio: ['ignore', 'pipe', 'pipe'] }))
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('hello\ta\tb\n')
    expect(r.stderr).toContain(`${file}:3: line 3`)
  })

  it('reads a program piped to `run` without -', async () => {
    const child = spawn('bioxen-luavm', ['run'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    child.stdin?.end('print(1 + 1)\n')
    expect(await collect(child)).toMatchObject({ code: 0, stdout: '2\n' })
  })

  // Ctrl-C: the execution is cancelled, the VM (and a process backend's Lua) is gone, exit 130.
  // The process backend streams the flushed "started" while the loop runs, so
  // the signal surely lands mid-execution (wasm delivers it only at the end).
  it.each(['process'])(
    'exits 130 on SIGINT during run (%s), leaving nothing behind',
    async (backend) => {
      const child = spawn(
        process.execPath,
        [
          join(root, 'scripts', 'run-ts.mjs'),
          join(root, 'packages', 'cli', 'src', 'bin.ts'),
          'run',
          '--backend',
          backend,
          '-e',
          'print("started") io.stdout:flush() while true do end',
        ],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      )
      const done = collect(child)
      await new Promise<void>((resolve) => {
        child.stdout?.on('data', (t: Buffer | string) => {
          if (String(t).includes('started')) resolve()
        })
      })
      const below = descendants(child.pid as number)
      if (backend === 'process') expect(below.length).toBeGreaterThan(0) // the native Lua
      child.kill('SIGINT')
      const r = await done
      expect(r.code).toBe(130)
      expect(r.stderr).toBe('stopped: the run was cancelled\n')
      for (const pid of below) expect(existsSync(`/proc/${pid}`)).toBe(false)
    },
    60_000,
  )
})
