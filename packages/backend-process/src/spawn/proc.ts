import { readdirSync, readFileSync } from 'node:fs'

/** One row of `/proc/<pid>/stat`. */
export interface ProcEntry {
  pid: number
  ppid: number
  pgid: number
  /** Executable name as the kernel shows it (at most 15 characters). */
  comm: string
  /** Process state letter (`R`, `S`, `Z`, ...). */
  state: string
}

/** Parses `/proc/<pid>/stat`; the name may contain spaces and parentheses, so split at the last `)`. */
export function parseStat(text: string): ProcEntry | undefined {
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  if (open < 0 || close < open) return undefined
  const rest = text.slice(close + 2).split(' ')
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '',
    ppid: Number(rest[1]),
    pgid: Number(rest[2]),
  }
}

/** Every process visible in `/proc` (empty where there is no `/proc`). */
export function listProcesses(): ProcEntry[] {
  let names: string[]
  try {
    names = readdirSync('/proc')
  } catch {
    return []
  }
  const out: ProcEntry[] = []
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue
    try {
      const entry = parseStat(readFileSync(`/proc/${name}/stat`, 'utf8'))
      if (entry) out.push(entry)
    } catch {
      // The process ended between readdir and read.
    }
  }
  return out
}

/**
 * Pids of every descendant of `root` (children, grandchildren, ...), found
 * through parent links. This catches children that left the process group
 * (`setsid`) as long as their parent chain still leads to `root`.
 */
export function descendantsOf(root: number, processes: ProcEntry[] = listProcesses()): number[] {
  const children = new Map<number, number[]>()
  for (const p of processes) {
    const list = children.get(p.ppid)
    if (list) list.push(p.pid)
    else children.set(p.ppid, [p.pid])
  }
  const out: number[] = []
  const stack = [...(children.get(root) ?? [])]
  while (stack.length) {
    const pid = stack.pop() as number
    if (out.includes(pid)) continue
    out.push(pid)
    stack.push(...(children.get(pid) ?? []))
  }
  return out
}

/** `VmSize` of a process in bytes (its address space, what RLIMIT_AS caps), or undefined. */
export function addressSpaceBytes(pid: number): number | undefined {
  try {
    const m = /^VmSize:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m?.[1] ? Number(m[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

/** `VmRSS` of a process in bytes, or undefined. */
export function residentBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m?.[1] ? Number(m[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}
