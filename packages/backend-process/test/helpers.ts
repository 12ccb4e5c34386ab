import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { BackendRegistry, type BaseLuaVM, type ExecResult } from '@bioxen-luavm/core'
import { processBackend } from '../src/index.js'
import { which } from '../src/interpreters/detect.js'
import { descendantsOf, listProcesses } from '../src/spawn/proc.js'
import { liveProcessGroups } from '../src/spawn/process-group.js'

/** Interpreters the per-version suites run against; absent ones are skipped. */
export const INTERPRETERS = ['lua5.4', 'lua5.3', 'lua5.1', 'luajit'].filter((c) => which(c) !== undefined)

/** A registry with only the process backend. */
export function processRegistry(): BackendRegistry {
  return new BackendRegistry().register(processBackend)
}

/** Tracks the VMs a test file creates so `stopAll` leaves nothing running. */
export function vmTracker() {
  const registry = processRegistry()
  const vms: BaseLuaVM[] = []
  let n = 0
  return {
    registry,
    async create(config: Record<string, unknown> = {}): Promise<BaseLuaVM> {
      const vm = await registry.create('process', `test-vm-${++n}`, { luaExecutable: 'lua5.4', ...config })
      vms.push(vm)
      return vm
    },
    async stopAll(): Promise<void> {
      await Promise.allSettled(vms.splice(0).map((vm) => vm.stop({ force: true })))
    },
  }
}

/** Pids of processes below this test process (our interpreters and whatever they started). */
export function childPids(): number[] {
  return descendantsOf(process.pid)
}

/** Waits until no interpreter started by this test process is left, then returns what is left (for the assertion). */
export async function settledChildren(timeoutMs = 3_000): Promise<{ pids: number[]; groups: number[] }> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const pids = childPids()
    const groups = liveProcessGroups()
    if ((pids.length === 0 && groups.length === 0) || Date.now() > end) return { pids, groups }
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Processes anywhere on the machine whose command line contains `marker`. */
export function processesWithCmdline(marker: string): number[] {
  const out: number[] = []
  for (const p of listProcesses()) {
    try {
      if (readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(marker)) out.push(p.pid)
    } catch {
      // Gone already.
    }
  }
  return out
}

/** A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, read it, close). */
export function freePort(): Promise<number> {
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

/** Several distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < n) ports.add(await freePort())
  return [...ports]
}

/** A short description of a result for assertion messages. */
export function brief(r: ExecResult): string {
  return JSON.stringify({
    status: r.status,
    error: r.error,
    stdout: r.stdout.slice(0, 300),
    stderr: r.stderr.slice(0, 300),
  })
}

/** The pid of the interpreter that runs a chunk (non-sandbox VMs), read from /proc/self/stat. */
export const PID_LUA =
  'local f = io.open("/proc/self/stat") local pid = tonumber(f:read("*l"):match("^(%d+)")) f:close()'
