/**
 * XAPI simulator: an HTTPS XML-RPC server on 127.0.0.1 speaking XAPI's wire
 * format, with XAPI's dispatch order (method → parameter count → types →
 * session), Async tasks, `event.from`, a guest agent that reports an IP,
 * fault injection, and a `leaks()` oracle listing what a client created and
 * did not clean up. Test code only; never shipped.
 */

import { randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import type http from 'node:http'
import https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { type SimCertificate, simCertificate } from './cert.js'
import { CLASSES, NULL_REF, SimDb, type SimEvent, SimFailure, type SimRecord } from './db.js'
import { type CallContext, METHODS, type MethodSpec, type ParamType, ROLE_OF, ROLES } from './methods.js'
import { guestMetricsFields, type Seeded, seed } from './seed.js'
import {
  encodeBare,
  encodeFailure,
  encodeSuccess,
  encodeValue,
  F64,
  f64,
  I32,
  i64,
  parseMethodCall,
  plain,
  type SimValue,
  type WireValue,
} from './wire.js'

/** How the simulated guest agent reports addresses. */
export type GuestMode =
  | 'normal' // `<dev>/ip` and `<dev>/ipv4/0`
  | 'never' // no agent: guest metrics never appear
  | 'legacy-only' // only `<dev>/ip`
  | 'ipv4-only' // only `<dev>/ipv4/0`
  | 'ipv6-only' // only `<dev>/ipv6/0`
  | 'empty-then-ip' // metrics first without networks, the IP arrives later
  | 'no-addresses' // metrics that never list an address (an agent too old for enX0 names)

/** Runtime knobs (mutable during a test). */
export interface SimKnobs {
  /**
   * Dynamic memory control at start (XCP-ng pools have it; a pool whose
   * licence sets `restrictions.restrict_dmc` does not, and then memory must
   * be pinned). The pool record's `restrictions` carry it from then on.
   */
  dmc: boolean
  hostFreeMemory: bigint
  cleanShutdown: 'ok' | 'hang' | 'lacks-feature' | 'timeout'
  /** The next N `VDI.destroy` calls fail with VDI_IN_USE. */
  vdiInUseOnce: number
  /** Reject `<int>` where a float is expected (old ocaml-rpc). */
  strictFloats: boolean
  guest: {
    mode: GuestMode
    delayMs: number
    ip: string
    /** IPv6 addresses the agent reports, in order (`<dev>/ipv6/<i>`): link-local first, as real guests do. */
    ipv6: string[]
    /**
     * Stands in for the guest kernel's `/sys/hypervisor/uuid`: on every
     * VM.start the simulator writes the VM's uuid (or, with `identity:
     * 'other'`, another VM's) to this file, which the test sshd's "guest"
     * then shows to the backend (`guest_uuid_path`).
     */
    uuidFile?: string | undefined
    identity: 'self' | 'other'
  }
  /** Default duration of Async tasks. */
  taskLatencyMs: number
  /** The first session to exceed this many calls expires (SESSION_INVALID); then the knob clears. */
  sessionCallLimit: number | undefined
}

/** What a fault does to matching calls. */
export type FaultAction =
  | { kind: 'fail'; description: string[] } // Failure envelope instead of running
  | { kind: 'reset'; when: 'before' | 'after' } // TCP reset before or after running the call
  | { kind: 'http500' } // XAPI's HTML error page
  | { kind: 'hang' } // never answer
  | { kind: 'junk' } // 200 with a body that is not XML-RPC
  | { kind: 'partial' } // half a reply, then the socket dies
  | { kind: 'task-fail'; errorInfo: string[] } // the Async task fails
  | { kind: 'task-latency'; ms: number } // the Async task runs slowly, reporting progress
  | { kind: 'latency'; ms: number } // the call itself is slow

interface FaultRule {
  method: string
  times: number
  action: FaultAction
}

/** Options of {@link XapiSim.start}. */
export interface XapiSimOptions {
  host?: string
  port?: number
  username?: string
  password?: string
  /** Act as a pool member: every login and call answers HOST_IS_SLAVE [this]. */
  slaveOf?: string
  /** Extra pool members (their addresses), listed in `host` records for failover. */
  members?: string[]
  /** RBAC users besides root: password and role names (`vm-admin`, `vm-power-admin`, …). */
  users?: Record<string, { password: string; roles: string[] }>
  cert?: SimCertificate
  knobs?: Partial<SimKnobs>
}

const MAX_BODY = 300 * 1024
const HTML_500 = (detail: string) =>
  `<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; please wait a while and try again. If the problem persists, please contact your support representative.<h1> Additional information </h1>${detail}</body></html>`

/** Sends a TCP RST. TLS sockets cannot reset themselves; their TCP socket can. */
function reset(socket: Socket): void {
  const raw = (socket as Socket & { _parent?: Socket })._parent ?? socket
  try {
    raw.resetAndDestroy()
  } catch {
    socket.destroy()
  }
}

/** A running simulator. */
export class XapiSim {
  readonly db = new SimDb()
  readonly seeded: Seeded
  readonly knobs: SimKnobs
  /** Every method called, in order (Async ones with their prefix). */
  readonly calls: string[] = []
  /** The last 100 raw request bodies, to check what a client put on the wire. */
  readonly requests: string[] = []
  /** VMs whose simulated OS runs a guest agent. */
  readonly agentVms = new Set<string>()
  readonly #options: XapiSimOptions
  readonly #rules: FaultRule[] = []
  readonly #tracked = new Map<string, string>()
  readonly #seededRefs: Array<[string, string]>
  readonly #delivered = new Set<string>()
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #taskControllers = new Map<string, AbortController>()
  readonly #sessionCalls = new Map<string, number>()
  readonly #pending = new Map<string, number>()
  readonly #peak = new Map<string, number>()
  readonly #sockets = new Set<Socket>()
  readonly #closing = new AbortController()
  #server: http.Server | undefined
  #domid = 10
  #cert: SimCertificate | undefined

  private constructor(options: XapiSimOptions) {
    this.#options = options
    this.knobs = {
      dmc: false,
      hostFreeMemory: 64n * 1024n ** 3n,
      cleanShutdown: 'ok',
      vdiInUseOnce: 0,
      strictFloats: false,
      guest: { mode: 'normal', delayMs: 30, ip: '127.0.0.1', ipv6: ['fe80::1'], identity: 'self' },
      taskLatencyMs: 5,
      sessionCallLimit: undefined,
      ...options.knobs,
    }
    this.seeded = seed(this.db, this.knobs.guest.ip, this.knobs.dmc)
    if (options.host) this.db.update('host', this.seeded.host, { address: options.host })
    for (const address of options.members ?? [])
      this.db.create('host', {
        ...this.db.snapshot('host', this.seeded.host),
        uuid: randomUUID(),
        name_label: address,
        hostname: address,
        address,
      })
    // Built-in roles, plus any other role a test user holds (a role the SDK cannot rank).
    const custom = Object.values(options.users ?? {}).flatMap((u) => u.roles.filter((r) => !ROLES.includes(r)))
    for (const role of new Set([...ROLES, ...custom]))
      this.db.create('role', {
        name_label: role,
        name_description: `the ${role} role`,
        subroles: [],
        is_internal: false,
      })
    this.agentVms.add(this.seeded.template)
    this.agentVms.add(this.seeded.existingVm)
    this.#seededRefs = []
    for (const [cls, table] of this.db.tables) for (const ref of table.keys()) this.#seededRefs.push([cls, ref])
  }

  /** Starts a simulator on `host:port` (127.0.0.1, a free port by default). */
  static async start(options: XapiSimOptions = {}): Promise<XapiSim> {
    const sim = new XapiSim(options)
    sim.#cert = options.cert ?? (await simCertificate())
    const server = https.createServer({ key: sim.#cert.key, cert: sim.#cert.cert }, (req, res) => {
      void sim.#handle(req, res)
    })
    server.on('connection', (socket: Socket) => {
      sim.#sockets.add(socket)
      socket.on('close', () => sim.#sockets.delete(socket))
    })
    // Tests abort and reset connections on purpose; those are not server errors.
    server.on('clientError', (_e, socket) => socket.destroy())
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve())
    })
    sim.#server = server
    return sim
  }

  /** `https://host:port/` */
  get url(): string {
    const a = (this.#server as http.Server).address() as AddressInfo
    return `https://${this.#options.host ?? '127.0.0.1'}:${a.port}/`
  }

  get port(): number {
    return ((this.#server as http.Server).address() as AddressInfo).port
  }

  /** SHA-256 fingerprint of the served certificate. */
  get fingerprint(): string {
    return (this.#cert as SimCertificate).fingerprint
  }

  /** The served certificate (PEM), usable as a CA. */
  get certPem(): string {
    return (this.#cert as SimCertificate).cert
  }

  /** Applies `action` to the next `times` calls of `method` (`VM.clone` also matches `Async.VM.clone`). */
  inject(method: string, action: FaultAction, times = 1): void {
    this.#rules.push({ method, times, action })
  }

  /** The most `Async.<method>` tasks that were pending at the same time. */
  peakPending(method: string): number {
    return this.#peak.get(method) ?? 0
  }

  /** Drops every pending fault rule. */
  clearFaults(): void {
    this.#rules.length = 0
  }

  /**
   * What a client created and did not clean up: VMs, VDIs, VBDs, VIFs and
   * guest metrics it caused to exist, sessions and tasks it was told about
   * and never logged out / destroyed, and seeded objects it destroyed (a
   * template's disk, a shared ISO). Empty means clean.
   */
  leaks(): string[] {
    const out: string[] = []
    for (const [ref, cls] of this.#tracked) {
      if (!this.db.has(cls, ref)) continue
      if ((cls === 'task' || cls === 'session') && !this.#delivered.has(ref)) continue
      const r = this.db.get(cls, ref)
      out.push(
        `${cls} ${ref}${r.name_label ? ` (${String(r.name_label)})` : ''}${cls === 'task' ? ` [${String(r.status)}]` : ''}`,
      )
    }
    for (const [cls, ref] of this.#seededRefs) if (!this.db.has(cls, ref)) out.push(`DESTROYED seeded ${cls} ${ref}`)
    return out
  }

  /** Records `ref` as created by a client call (for {@link leaks}). */
  track(cls: string, ref: string): void {
    this.#tracked.set(ref, cls)
  }

  /** Records and returns a login. */
  login(user: string, password: string, originator: string): string {
    if (this.#options.slaveOf) throw new SimFailure(['HOST_IS_SLAVE', this.#options.slaveOf])
    const rbac = this.#options.users?.[user]
    let subject = NULL_REF
    if (rbac && rbac.password === password) {
      const roles = [...this.db.table('role')]
        .filter(([, r]) => rbac.roles.includes(String(r.name_label)))
        .map(([ref]) => ref)
      subject = this.db.create('subject', {
        subject_identifier: `S-sim-${user}`,
        other_config: { subject_name: user },
        roles,
      })
      this.track('subject', subject)
      this.#delivered.add(subject)
    } else if (user !== (this.#options.username ?? 'root') || password !== (this.#options.password ?? 'sim-password')) {
      throw new SimFailure(['SESSION_AUTHENTICATION_FAILED', user, 'Authentication failure'])
    }
    const ref = this.db.create('session', {
      this_host: this.seeded.host,
      this_user: NULL_REF,
      originator,
      last_active: new Date(),
      subject,
      is_local_superuser: subject === NULL_REF,
      auth_user_name: user,
    })
    this.track('session', ref)
    return ref
  }

  logout(ref: string): void {
    if (!this.db.has('session', ref)) return
    const subject = String(this.db.get('session', ref).subject)
    this.db.destroy('session', ref)
    if (this.db.has('subject', subject)) this.db.destroy('subject', subject)
  }

  /** RBAC: `RBAC_PERMISSION_DENIED` unless the session's roles include `role` or a stronger one. */
  checkRole(session: string, method: string, role: string): void {
    const subject = String(this.db.get('session', session).subject)
    if (subject === NULL_REF) return
    const held = (this.db.get('subject', subject).roles as string[]).map((r) =>
      String(this.db.get('role', r).name_label),
    )
    const best = Math.max(-1, ...held.map((r) => ROLES.indexOf(r)))
    if (best < ROLES.indexOf(role)) {
      throw new SimFailure(['RBAC_PERMISSION_DENIED', method.toLowerCase(), 'No permission in user session'])
    }
  }

  /** Writes what the booted VM's kernel would show as its uuid (see `knobs.guest.uuidFile`). */
  presentIdentity(vm: string): void {
    const file = this.knobs.guest.uuidFile
    if (!file) return
    const uuid = this.knobs.guest.identity === 'self' ? this.db.get('VM', vm).uuid : randomUUID()
    writeFileSync(file, `${uuid}\n`)
  }

  /** Tasks destroyed while pending: XAPI destroys them once they complete. */
  readonly destroyWhenDone = new Set<string>()

  /** Makes a session invalid, as if it had expired. */
  expireSession(ref: string): void {
    if (this.db.has('session', ref)) this.db.destroy('session', ref)
    this.#tracked.delete(ref)
  }

  /** Live sessions (refs). */
  sessions(): string[] {
    return [...this.db.table('session').keys()]
  }

  nextDomid(): number {
    return this.#domid++
  }

  /** Starts the guest agent of a booted VM, per `knobs.guest`. */
  scheduleGuestAgent(vm: string): void {
    if (!this.agentVms.has(vm)) return
    const { mode, delayMs, ip, ipv6 } = this.knobs.guest
    if (mode === 'never') return
    const networks = (): Record<string, string> => {
      const out: Record<string, string> = {}
      for (const vif of this.db.get('VM', vm).VIFs as string[]) {
        const dev = String(this.db.get('VIF', vif).device)
        if (mode === 'normal' || mode === 'legacy-only' || mode === 'empty-then-ip') out[`${dev}/ip`] = ip
        if (mode === 'normal' || mode === 'ipv4-only' || mode === 'empty-then-ip') out[`${dev}/ipv4/0`] = ip
        if (mode === 'ipv6-only' || mode === 'normal') {
          for (const [i, a] of ipv6.entries()) out[`${dev}/ipv6/${i}`] = a
        }
      }
      return out
    }
    this.#later(vm, delayMs, () => {
      if (!this.db.has('VM', vm) || this.db.get('VM', vm).power_state !== 'Running') return
      const gm = this.db.create(
        'VM_guest_metrics',
        guestMetricsFields(mode === 'empty-then-ip' || mode === 'no-addresses' ? {} : networks()),
      )
      this.track('VM_guest_metrics', gm)
      this.db.update('VM', vm, { guest_metrics: gm })
      if (mode === 'empty-then-ip') {
        this.#later(vm, delayMs, () => {
          if (this.db.has('VM_guest_metrics', gm))
            this.db.update('VM_guest_metrics', gm, { networks: networks(), last_updated: new Date() })
        })
      }
    })
  }

  readonly #vmTimers = new Map<string, Set<NodeJS.Timeout>>()

  #later(vm: string, ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t)
      this.#vmTimers.get(vm)?.delete(t)
      fn()
    }, ms)
    this.#timers.add(t)
    const set = this.#vmTimers.get(vm) ?? new Set()
    set.add(t)
    this.#vmTimers.set(vm, set)
  }

  cancelGuestAgent(vm: string): void {
    for (const t of this.#vmTimers.get(vm) ?? []) {
      clearTimeout(t)
      this.#timers.delete(t)
    }
    this.#vmTimers.delete(vm)
  }

  cancelTask(ref: string): void {
    const t = this.db.get('task', ref)
    if (t.status !== 'pending') throw new SimFailure(['OPERATION_NOT_ALLOWED', `task is ${String(t.status)}`])
    this.db.update('task', ref, { status: 'cancelling', allowed_operations: [] })
    this.#taskControllers.get(ref)?.abort()
  }

  /** `%020d,%020d` as XAPI formats event tokens. */
  token(generation: bigint): string {
    return `${String(generation).padStart(20, '0')},${'0'.padStart(20, '0')}`
  }

  /** `event.from`: blocks until a subscribed object changes or `timeoutS` passes. */
  async eventFrom(classes: string[], token: string, timeoutS: number, signal: AbortSignal): Promise<SimValue> {
    // xapi v26.4: a class it does not know parses and matches nothing.
    const subs = classes.map((c) => {
      const [cls, ref] = c.split('/', 2) as [string, string | undefined]
      return { cls: cls.toLowerCase(), ref }
    })
    const matches = (cls: string, ref: string) =>
      subs.some((s) => (s.cls === '*' || s.cls === cls.toLowerCase()) && (s.ref === undefined || s.ref === ref))
    const counts = (): SimValue => {
      const out: Record<string, SimValue> = {}
      for (const [cls, table] of this.db.tables) {
        if (subs.some((s) => s.cls === '*' || s.cls === cls.toLowerCase())) out[cls.toLowerCase()] = new I32(table.size)
      }
      return out
    }
    const fmt = (e: SimEvent): SimValue => ({
      id: i64(e.id),
      timestamp: (e.timestamp / 1000).toFixed(6),
      class: e.cls.toLowerCase(),
      operation: e.op,
      ref: e.ref,
      ...(e.snapshot ? { snapshot: e.snapshot as SimValue } : {}),
    })
    if (token === '') {
      const events: SimValue[] = []
      for (const [cls, table] of this.db.tables) {
        for (const [ref, r] of table) {
          if (matches(cls, ref))
            events.push(
              fmt({ id: this.db.generation, cls, op: 'add', ref, snapshot: r as SimRecord, timestamp: Date.now() }),
            )
        }
      }
      return { events, valid_ref_counts: counts(), token: this.token(this.db.generation) }
    }
    const m = /^(\d{20}),(\d{20})$/.exec(token)
    if (!m) throw new SimFailure(['EVENT_FROM_TOKEN_PARSE_FAILURE', token])
    const since = BigInt(m[1] ?? '0')
    const oldest = this.db.events[0]?.id
    if (oldest !== undefined && oldest > since + 1n) throw new SimFailure(['EVENTS_LOST'])
    const deadline = Date.now() + timeoutS * 1000
    for (;;) {
      const found = this.db.events.filter((e) => e.id > since && matches(e.cls, e.ref))
      if (found.length > 0)
        return { events: found.map(fmt), valid_ref_counts: counts(), token: this.token(this.db.generation) }
      const remaining = deadline - Date.now()
      if (remaining <= 0 || signal.aborted || this.#closing.signal.aborted) {
        return { events: [], valid_ref_counts: counts(), token: this.token(this.db.generation) }
      }
      await this.db.waitForChange(this.db.generation, remaining, AbortSignal.any([signal, this.#closing.signal]))
    }
  }

  /** Stops the server, its timers and tasks, and drops every connection. */
  async close(): Promise<void> {
    this.#closing.abort()
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    for (const c of this.#taskControllers.values()) c.abort()
    this.db.wakeAll()
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()))
  }

  // ---- HTTP ---------------------------------------------------------------

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      res
        .writeHead(404, { 'content-type': 'text/html', connection: 'close' })
        .end('<html><body><h1>404 Not Found</h1></body></html>')
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of req) {
      size += (chunk as Buffer).length
      if (size > MAX_BODY) {
        this.#html500(res, 'Http.Too_large')
        return
      }
      chunks.push(chunk as Buffer)
    }
    let call: { method: string; params: WireValue[] }
    const text = Buffer.concat(chunks).toString('utf8')
    this.requests.push(text)
    if (this.requests.length > 100) this.requests.shift()
    try {
      call = parseMethodCall(text)
    } catch (error) {
      this.#html500(res, `Xmlrpc.Parse_error(&quot;${(error as Error).message}&quot;)`)
      return
    }
    this.calls.push(call.method)
    const rule = this.#take(call.method, ['reset', 'http500', 'hang', 'junk', 'partial'])
    const action = rule?.action
    if (action?.kind === 'reset' && action.when === 'before') {
      reset(req.socket)
      return
    }
    if (action?.kind === 'http500') {
      this.#html500(res, 'Internal_error')
      return
    }
    if (action?.kind === 'hang') return
    if (action?.kind === 'junk') {
      res.writeHead(200, { 'content-type': 'text/xml' }).end('this is not XML-RPC')
      return
    }
    const abort = new AbortController()
    res.on('close', () => {
      if (!res.writableFinished) abort.abort()
    })
    const ctx: CallContext & { created?: string } = { session: undefined, signal: abort.signal, progress: () => {} }
    let body: string
    try {
      const value = await this.#dispatch(call.method, call.params, ctx)
      // system.listMethods is answered by the XML-RPC layer: a bare array, no Status/Value.
      body = call.method === 'system.listMethods' ? encodeBare(value) : encodeSuccess(value)
    } catch (error) {
      if (!(error instanceof SimFailure)) {
        body = encodeFailure(['INTERNAL_ERROR', String((error as Error).message ?? error)])
      } else {
        body = encodeFailure(error.description)
      }
    }
    if (action?.kind === 'reset') {
      reset(req.socket)
      return
    }
    if (action?.kind === 'partial') {
      res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) })
      res.write(body.slice(0, Math.floor(body.length / 2)))
      setTimeout(() => reset(req.socket), 10)
      return
    }
    res.writeHead(200, {
      'content-type': 'text/xml',
      'access-control-allow-origin': '*',
      'content-length': Buffer.byteLength(body),
    })
    res.end(body, () => {
      if (ctx.created) this.#delivered.add(ctx.created)
    })
  }

  #html500(res: http.ServerResponse, detail: string): void {
    res.writeHead(500, { 'content-type': 'text/html', connection: 'close' }).end(HTML_500(detail))
  }

  #take(method: string, kinds: readonly FaultAction['kind'][]): FaultRule | undefined {
    const inner = method.startsWith('Async.') ? method.slice(6) : method
    const rule = this.#rules.find(
      (r) => r.times > 0 && (r.method === method || r.method === inner) && kinds.includes(r.action.kind),
    )
    if (rule) rule.times--
    return rule
  }

  // ---- dispatch -----------------------------------------------------------

  async #dispatch(method: string, params: WireValue[], ctx: CallContext & { created?: string }): Promise<SimValue> {
    const isAsync = method.startsWith('Async.')
    const inner = isAsync ? method.slice(6) : method
    const spec = METHODS[inner] ?? this.#generic(inner)
    if (!spec) throw new SimFailure(['MESSAGE_METHOD_UNKNOWN', method])
    // gen_api.ml's answer for a method without an async form.
    if (isAsync && !spec.async) throw new SimFailure(['Fault', `No async mode for this operation (rpc: ${method})`])
    const sessionful = spec.session !== false
    const received = params.length - (sessionful ? 1 : 0)
    const max = spec.params.length
    const min = max - (spec.optional ?? 0)
    if (received < min || received > max) {
      throw new SimFailure(['MESSAGE_PARAMETER_COUNT_MISMATCH', method, String(min), String(received)])
    }
    const args = params.slice(sessionful ? 1 : 0).map((p, i) => this.#coerce(p, spec.params[i] as ParamType))
    if (sessionful) {
      const ref = this.#coerce(params[0] as WireValue, 'string') as string
      if (this.#options.slaveOf) throw new SimFailure(['HOST_IS_SLAVE', this.#options.slaveOf])
      if (!this.db.has('session', ref)) throw new SimFailure(['SESSION_INVALID', ref])
      const n = (this.#sessionCalls.get(ref) ?? 0) + 1
      this.#sessionCalls.set(ref, n)
      if (this.knobs.sessionCallLimit !== undefined && n > this.knobs.sessionCallLimit && inner !== 'session.logout') {
        // One expiry per setting, like a single idle timeout.
        this.knobs.sessionCallLimit = undefined
        this.expireSession(ref)
        throw new SimFailure(['SESSION_INVALID', ref])
      }
      this.db.update('session', ref, { last_active: new Date() })
      ctx.session = ref
      const role = ROLE_OF[inner]
      if (role) this.checkRole(ref, inner, role)
    }
    const fail = this.#take(method, ['fail'])
    if (fail?.action.kind === 'fail') throw new SimFailure(fail.action.description)
    const slow = this.#take(method, ['latency'])
    if (slow?.action.kind === 'latency') await this.#sleep(slow.action.ms, ctx.signal)
    if (isAsync) {
      const task = this.#startTask(inner, spec, args, ctx.session)
      ctx.created = task
      return task
    }
    const value = await spec.run(this, args, ctx)
    if (inner === 'session.login_with_password') ctx.created = value as string
    return value
  }

  #coerce(v: WireValue, type: ParamType): unknown {
    const expected = (what: string) => new SimFailure(['INTERNAL_ERROR', `Expected ${what}, got ${v.type}`])
    switch (type) {
      case 'string':
        if (v.type !== 'string') throw expected('string')
        return v.value
      case 'int':
        if (v.type === 'int') return v.value
        if (v.type === 'string' && /^-?\d+$/.test(v.value.trim())) return BigInt(v.value.trim())
        throw expected('int64')
      case 'float':
        if (v.type === 'double') return v.value
        if (v.type === 'string' && v.value.trim() !== '' && !Number.isNaN(Number(v.value))) return Number(v.value)
        if (v.type === 'int' && !this.knobs.strictFloats) return Number(v.value)
        throw expected('float')
      case 'bool':
        if (v.type !== 'boolean') throw expected('bool')
        return v.value
      case 'set':
        if (v.type !== 'array') throw expected('set')
        return v.value.map((x) => this.#coerce(x, 'string'))
      case 'map':
      case 'record':
        if (v.type !== 'struct') throw expected('struct')
        return plain(v)
    }
  }

  #generic(inner: string): MethodSpec | undefined {
    const m =
      /^([A-Za-z_]+)\.(get_all|get_all_records|get_record|get_by_uuid|get_by_name_label|get_([A-Za-z_0-9]+))$/.exec(
        inner,
      )
    if (!m || !CLASSES.includes(m[1] as (typeof CLASSES)[number]) || m[1] === 'session') return undefined
    const cls = m[1] as string
    const op = m[2] as string
    const table = () => this.db.table(cls)
    switch (op) {
      case 'get_all':
        return { params: [], run: () => [...table().keys()] }
      case 'get_all_records':
        return {
          params: [],
          run: () =>
            Object.fromEntries([...table().keys()].map((ref) => [ref, this.db.snapshot(cls, ref) as SimValue])),
        }
      case 'get_record':
        return { params: ['string'], run: (sim, [ref]) => sim.db.snapshot(cls, String(ref)) as SimValue }
      case 'get_by_uuid':
        return { params: ['string'], run: (sim, [uuid]) => sim.db.byUuid(cls, String(uuid)) }
      case 'get_by_name_label':
        return {
          params: ['string'],
          run: (_sim, [label]) => [...table()].filter(([, r]) => r.name_label === String(label)).map(([ref]) => ref),
        }
      default: {
        const field = m[3] as string
        return {
          params: ['string'],
          run: (sim, [ref]) => {
            const r = sim.db.snapshot(cls, String(ref))
            if (!(field in r)) throw new SimFailure(['MESSAGE_METHOD_UNKNOWN', `${cls}.get_${field}`])
            return r[field] as SimValue
          },
        }
      }
    }
  }

  #startTask(method: string, spec: MethodSpec, args: unknown[], session: string | undefined): string {
    const ref = this.db.create('task', {
      name_label: `Async.${method}`,
      name_description: '',
      status: 'pending',
      progress: f64(0),
      result: '',
      error_info: [],
      created: new Date(),
      finished: new Date(0),
      allowed_operations: ['cancel'],
      other_config: {},
      subtask_of: NULL_REF,
      resident_on: this.seeded.host,
    })
    this.track('task', ref)
    const controller = new AbortController()
    this.#taskControllers.set(ref, controller)
    const latencyRule = this.#take(method, ['task-latency'])
    const failRule = this.#take(method, ['task-fail'])
    const latency = latencyRule?.action.kind === 'task-latency' ? latencyRule.action.ms : this.knobs.taskLatencyMs
    const active = (this.#pending.get(method) ?? 0) + 1
    this.#pending.set(method, active)
    this.#peak.set(method, Math.max(active, this.#peak.get(method) ?? 0))
    const finish = (patch: Record<string, SimValue>) => {
      this.#pending.set(method, (this.#pending.get(method) ?? 1) - 1)
      this.#taskControllers.delete(ref)
      if (this.db.has('task', ref))
        this.db.update('task', ref, { ...patch, finished: new Date(), allowed_operations: [] })
      if (this.destroyWhenDone.delete(ref) && this.db.has('task', ref)) this.db.destroy('task', ref)
    }
    const progress = (p: number) => {
      if (this.db.has('task', ref)) this.db.update('task', ref, { progress: new F64(p) })
    }
    void (async () => {
      try {
        const steps = 4
        for (let i = 1; i <= steps; i++) {
          await this.#sleep(latency / steps, controller.signal)
          if (controller.signal.aborted) break
          if (i < steps) progress(i / steps)
        }
        if (controller.signal.aborted) {
          finish({ status: 'cancelled', error_info: ['TASK_CANCELLED', ref] })
          return
        }
        if (failRule?.action.kind === 'task-fail') {
          finish({ status: 'failure', error_info: failRule.action.errorInfo })
          return
        }
        const value = await spec.run(this, args, { session, signal: controller.signal, progress })
        if (controller.signal.aborted && this.db.get('task', ref).status === 'cancelling') {
          finish({ status: 'cancelled', error_info: ['TASK_CANCELLED', ref] })
          return
        }
        finish({ status: 'success', progress: f64(1), result: encodeValue(value) })
      } catch (error) {
        if (controller.signal.aborted && this.db.has('task', ref) && this.db.get('task', ref).status === 'cancelling') {
          finish({ status: 'cancelled', error_info: ['TASK_CANCELLED', ref] })
        } else {
          finish({
            status: 'failure',
            error_info: error instanceof SimFailure ? error.description : ['INTERNAL_ERROR', String(error)],
          })
        }
      }
    })()
    return ref
  }

  #sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (ms <= 0 || signal.aborted) {
        setImmediate(resolve)
        return
      }
      const t = setTimeout(() => {
        this.#timers.delete(t)
        resolve()
      }, ms)
      this.#timers.add(t)
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t)
          this.#timers.delete(t)
          resolve()
        },
        { once: true },
      )
    })
  }
}
