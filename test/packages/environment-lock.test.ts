/**
 * Two processes never change one environment at once: the lock file under
 * `<root>/.locks/` is honoured by every EnvironmentManager, a live holder
 * is waited for, and a lock left by a dead process is taken over.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { EnvironmentManager } from '@bioxen-luavm/backend-process'
import { PackageError } from '@bioxen-luavm/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { withEnvironmentLock } from '../../packages/backend-process/src/environments/lock.js'

const DEAD_PID = 2 ** 22 + 12345 // above Linux's pid_max default: never a live process

// Another process holding an environment's lock the way withEnvironmentLock
// does (O_EXCL file with its pid), until it is told to let go; it writes
// `released` just before removing the lock.
const HOLDER = `
const fs = require('node:fs'), os = require('node:os')
const [lock, released] = process.argv.slice(1)
fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), since: Date.now() }), { flag: 'wx' })
process.stdout.write('held\\n')
process.stdin.once('data', () => { fs.writeFileSync(released, ''); fs.rmSync(lock); process.exit(0) })
`

let root: string
let holder: ChildProcess | undefined

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'luavm-envlock-'))
  mkdirSync(join(root, '.locks'))
})
afterEach(() => {
  holder?.kill('SIGKILL')
  holder = undefined
  rmSync(root, { recursive: true, force: true })
})

async function holdInAnotherProcess(name: string): Promise<{ pid: number; release(): void; released: string }> {
  const released = join(root, 'released')
  const child = spawn(process.execPath, ['-e', HOLDER, join(root, '.locks', name), released], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  holder = child
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve())
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)))
  })
  return { pid: child.pid as number, release: () => child.stdin?.write('go\n'), released }
}

describe('environment lock across processes', () => {
  it('a live holder makes others wait — and report it by pid when they give up', async () => {
    const other = await holdInAnotherProcess('bio')
    const error = await withEnvironmentLock(root, 'bio', async () => 'ran', { waitMs: 300 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PackageError)
    expect((error as Error).message).toMatch(new RegExp(`locked by process ${other.pid} on ${hostname()}`))

    const manager = new EnvironmentManager({ root })
    const creating = manager.create('bio')
    other.release()
    await creating
    // The create could only run once the other process had let go.
    expect(existsSync(other.released)).toBe(true)
    expect((await manager.list()).map((e) => e.name)).toEqual(['bio'])
    expect(existsSync(join(root, '.locks', 'bio')), 'released after use').toBe(false)
  })

  it('a lock left by a dead process is taken over', async () => {
    const lock = join(root, '.locks', 'bio')
    writeFileSync(lock, JSON.stringify({ pid: DEAD_PID, host: hostname(), since: Date.now() - 60_000 }))
    await new EnvironmentManager({ root }).create('bio')
    expect(existsSync(lock)).toBe(false)
  })

  it('an unreadable lock is waited on while fresh, taken over once old', async () => {
    const lock = join(root, '.locks', 'bio')
    writeFileSync(lock, '')
    const abort = new AbortController()
    const waiting = withEnvironmentLock(root, 'bio', async () => 'ran', { signal: abort.signal })
    abort.abort(new Error('gave up'))
    await expect(waiting).rejects.toThrow('gave up')
    expect(existsSync(lock), 'a fresh, half-written lock is left alone').toBe(true)

    const old = new Date(Date.now() - 60_000)
    utimesSync(lock, old, old)
    expect(await withEnvironmentLock(root, 'bio', async () => 'ran')).toBe('ran')
    expect(existsSync(lock)).toBe(false)
  })

  it('another host’s lock is never judged by pid', async () => {
    writeFileSync(
      join(root, '.locks', 'bio'),
      JSON.stringify({ pid: DEAD_PID, host: 'elsewhere.example', since: Date.now() }),
    )
    await expect(withEnvironmentLock(root, 'bio', async () => 'ran', { waitMs: 200 })).rejects.toThrow(
      /locked by process \d+ on elsewhere\.example/,
    )
  })

  it('the lock directory is not an environment', async () => {
    const manager = new EnvironmentManager({ root })
    await manager.create('a')
    expect((await manager.list()).map((e) => e.name)).toEqual(['a'])
  })
})
