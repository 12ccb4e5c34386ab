/**
 * The simulator's object database: tables of records by class, references
 * `OpaqueRef:<uuid>`, back-references, and the event log `event.from` reads.
 */
import { randomUUID } from 'node:crypto'
import type { SimValue } from './wire.js'

/** A record: field → value. Every record has `uuid`. */
export type SimRecord = { uuid: string; [field: string]: SimValue }

/** An XAPI failure raised by simulator code; becomes a Failure envelope. */
export class SimFailure extends Error {
  constructor(readonly description: string[]) {
    super(description.join(' '))
  }
}

/** One entry of the event log. */
export interface SimEvent {
  id: bigint
  cls: string
  op: 'add' | 'mod' | 'del'
  ref: string
  snapshot?: SimRecord
  timestamp: number
}

/** XAPI class names the simulator knows. */
export const CLASSES = [
  'VM',
  'VM_guest_metrics',
  'VBD',
  'VDI',
  'VIF',
  'network',
  'SR',
  'pool',
  'host',
  'task',
  'session',
  'subject',
  'role',
] as const
export type SimClass = (typeof CLASSES)[number]

export const NULL_REF = 'OpaqueRef:NULL'

function clone<T extends SimValue | SimRecord>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => clone(x)) as T
  if (v && typeof v === 'object' && v.constructor === Object) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x as SimValue)])) as T
  }
  return v
}

/**
 * Tables plus an event log. Every create/modify/delete bumps the
 * generation and wakes `event.from` waiters.
 */
export class SimDb {
  readonly tables = new Map<string, Map<string, SimRecord>>()
  readonly events: SimEvent[] = []
  #generation = 0n
  #waiters = new Set<() => void>()

  constructor() {
    for (const c of CLASSES) this.tables.set(c, new Map())
  }

  get generation(): bigint {
    return this.#generation
  }

  table(cls: string): Map<string, SimRecord> {
    const t = this.tables.get(cls)
    if (!t) throw new SimFailure(['MESSAGE_METHOD_UNKNOWN', cls])
    return t
  }

  create(cls: SimClass, fields: Omit<SimRecord, 'uuid'> & { uuid?: string }): string {
    const uuid = fields.uuid ?? randomUUID()
    const ref = `OpaqueRef:${randomUUID()}`
    this.table(cls).set(ref, { ...fields, uuid } as SimRecord)
    this.#emit(cls, 'add', ref)
    return ref
  }

  has(cls: string, ref: string): boolean {
    return this.tables.get(cls)?.has(ref) ?? false
  }

  /** The record, or `HANDLE_INVALID [class, ref]` as XAPI raises it. */
  get(cls: string, ref: string): SimRecord {
    const r = this.tables.get(cls)?.get(ref)
    if (!r) throw new SimFailure(['HANDLE_INVALID', cls, ref])
    return r
  }

  /** A deep copy, safe to hand out. */
  snapshot(cls: string, ref: string): SimRecord {
    return clone(this.get(cls, ref))
  }

  update(cls: SimClass, ref: string, patch: Record<string, SimValue>): void {
    const r = this.get(cls, ref)
    Object.assign(r, patch)
    this.#emit(cls, 'mod', ref)
  }

  destroy(cls: SimClass, ref: string): void {
    this.get(cls, ref)
    this.table(cls).delete(ref)
    this.#emit(cls, 'del', ref)
  }

  /** Adds `ref` to a list field of another object (a back-reference). */
  link(cls: SimClass, ref: string, field: string, value: string): void {
    if (!this.has(cls, ref)) return
    const r = this.get(cls, ref)
    const list = (r[field] as string[] | undefined) ?? []
    if (!list.includes(value)) this.update(cls, ref, { [field]: [...list, value] })
  }

  unlink(cls: SimClass, ref: string, field: string, value: string): void {
    if (!this.has(cls, ref)) return
    const r = this.get(cls, ref)
    const list = (r[field] as string[] | undefined) ?? []
    if (list.includes(value)) this.update(cls, ref, { [field]: list.filter((x) => x !== value) })
  }

  byUuid(cls: string, uuid: string): string {
    for (const [ref, r] of this.table(cls)) if (r.uuid === uuid) return ref
    throw new SimFailure(['UUID_INVALID', cls, uuid])
  }

  /** Like {@link byUuid} but with the caller's error (XAPI's provision raises `UUID_INVALID ["sr", x]`). */
  byUuidOr(cls: string, uuid: string, error: () => SimFailure): string {
    for (const [ref, r] of this.table(cls)) if (r.uuid === uuid) return ref
    throw error()
  }

  /** Waits until the generation passes `after`, or `ms` elapse. */
  waitForChange(after: bigint, ms: number, signal: AbortSignal): Promise<void> {
    if (this.#generation > after) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#waiters.delete(done)
        signal.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.#waiters.add(done)
      signal.addEventListener('abort', done, { once: true })
    })
  }

  /** Wakes every waiter (on shutdown). */
  wakeAll(): void {
    for (const w of [...this.#waiters]) w()
  }

  #emit(cls: string, op: SimEvent['op'], ref: string): void {
    this.#generation++
    const snapshot = op === 'del' ? undefined : clone(this.get(cls, ref))
    this.events.push({ id: this.#generation, cls, op, ref, ...(snapshot ? { snapshot } : {}), timestamp: Date.now() })
    // Keep the log bounded; event.from with an older token gets EVENTS_LOST.
    if (this.events.length > 5000) this.events.splice(0, this.events.length - 5000)
    for (const w of [...this.#waiters]) w()
  }
}
