/**
 * The simulator driven by a second, independent XML-RPC client written here
 * from the XAPI documentation (the wire-protocol page: XML-RPC over HTTPS
 * POST, every reply a struct `{Status, Value | ErrorDescription}`, int64 as
 * decimal text, the session ref first) and the XML-RPC spec — not from the
 * backend's client or the simulator's codec. Our client is checked against
 * the simulator elsewhere; this checks the simulator's wire format from the
 * other side, so the two cannot agree on a mistake.
 */
import https from 'node:https'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SIM_PASSWORD, startSim } from './fixture.js'
import type { XapiSim } from './server.js'

// ---- a minimal XML-RPC client ---------------------------------------------

type Value = string | number | boolean | Date | Value[] | { [k: string]: Value }

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** XML-RPC spec encoding; int64 goes as a string, as the XAPI docs say clients should. */
function encode(v: Value): string {
  if (typeof v === 'string') return `<value><string>${xmlEscape(v)}</string></value>`
  if (typeof v === 'boolean') return `<value><boolean>${v ? 1 : 0}</boolean></value>`
  if (typeof v === 'number') return `<value><double>${v}</double></value>`
  if (v instanceof Date) throw new Error('not needed')
  if (Array.isArray(v)) return `<value><array><data>${v.map(encode).join('')}</data></array></value>`
  const members = Object.entries(v).map(([k, x]) => `<member><name>${xmlEscape(k)}</name>${encode(x)}</member>`)
  return `<value><struct>${members.join('')}</struct></value>`
}

interface Node {
  tag: string
  children: Node[]
  text: string
}

/** Parses tags and text (XAPI replies have no attributes, comments or CDATA). */
function parseXml(xml: string): Node {
  const root: Node = { tag: '#root', children: [], text: '' }
  const stack = [root]
  const re = /<\?[^>]*\?>|<(\/?)([A-Za-z][\w.]*)\s*(\/?)>|([^<]+)/g
  for (const m of xml.matchAll(re)) {
    const top = stack[stack.length - 1] as Node
    if (m[4] !== undefined) {
      top.text += m[4]
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, '&')
    } else if (m[2] !== undefined) {
      if (m[1] === '/') {
        if (top.tag !== m[2]) throw new Error(`mismatched </${m[2]}>`)
        stack.pop()
      } else {
        const node: Node = { tag: m[2], children: [], text: '' }
        top.children.push(node)
        if (m[3] !== '/') stack.push(node)
      }
    }
  }
  return root
}

/** Decodes a `<value>` node per the XML-RPC spec: a value without a type tag is a string. */
function decode(value: Node): Value {
  const typed = value.children[0]
  if (!typed) return value.text
  switch (typed.tag) {
    case 'string':
      return typed.text
    case 'i4':
    case 'int':
      return Number(typed.text)
    case 'boolean':
      return typed.text === '1'
    case 'double':
      return Number(typed.text)
    case 'dateTime.iso8601': {
      const m = /^(\d{4})(\d{2})(\d{2})T(\d{2}):(\d{2}):(\d{2})Z?$/.exec(typed.text)
      if (!m) throw new Error(`bad dateTime ${typed.text}`)
      return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!))
    }
    case 'array':
      return (typed.children[0]?.children ?? []).map(decode)
    case 'struct':
      return Object.fromEntries(
        typed.children.map((member) => {
          const name = member.children.find((c) => c.tag === 'name')?.text ?? ''
          return [name, decode(member.children.find((c) => c.tag === 'value') as Node)]
        }),
      )
    default:
      throw new Error(`unexpected type <${typed.tag}>`)
  }
}

interface Reply {
  status: number
  contentType: string
  body: string
}

function post(sim: XapiSim, body: string): Promise<Reply> {
  const url = new URL(sim.url)
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: url.hostname,
        port: url.port,
        path: '/',
        method: 'POST',
        headers: { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) },
        ca: sim.certPem,
        agent: false,
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body: text }),
        )
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

/** The single `<param><value>` of a methodResponse, decoded. */
async function rawCall(sim: XapiSim, method: string, params: Value[]): Promise<Value> {
  const body = `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params
    .map((p) => `<param>${encode(p)}</param>`)
    .join('')}</params></methodCall>`
  const reply = await post(sim, body)
  expect(reply.status).toBe(200)
  expect(reply.contentType).toMatch(/^text\/xml/)
  const response = parseXml(reply.body).children.find((n) => n.tag === 'methodResponse') as Node
  const param = response.children[0]?.children[0]
  expect(response.children[0]?.tag, 'XAPI never answers with <fault>').toBe('params')
  return decode(param?.children[0] as Node)
}

class XapiFailure extends Error {
  constructor(readonly description: string[]) {
    super(description.join(' '))
  }
}

/** A XAPI call: unwraps `{Status, Value}` or throws the `ErrorDescription`. */
async function xapi(sim: XapiSim, method: string, params: Value[]): Promise<Value> {
  const r = (await rawCall(sim, method, params)) as Record<string, Value>
  expect(Object.keys(r).sort()).toEqual(r.Status === 'Success' ? ['Status', 'Value'] : ['ErrorDescription', 'Status'])
  if (r.Status === 'Success') return r.Value as Value
  const description = r.ErrorDescription as Value[]
  for (const d of description) expect(typeof d).toBe('string')
  throw new XapiFailure(description as string[])
}

async function failure(p: Promise<unknown>): Promise<string[]> {
  try {
    await p
  } catch (error) {
    if (error instanceof XapiFailure) return error.description
    throw error
  }
  throw new Error('expected a XAPI failure')
}

// ---- the checks --------------------------------------------------------------

/** Destroys a VM and its own disks (not the template's shared ISO). */
async function destroyWithDisks(vm: string): Promise<void> {
  const record = (await xapi(sim, 'VM.get_record', [session, vm])) as Record<string, Value>
  const disks: string[] = []
  for (const vbd of record.VBDs as string[]) {
    const r = (await xapi(sim, 'VBD.get_record', [session, vbd])) as Record<string, Value>
    if (r.type === 'Disk') disks.push(r.VDI as string)
  }
  await xapi(sim, 'VM.destroy', [session, vm])
  for (const vdi of disks) await xapi(sim, 'VDI.destroy', [session, vdi])
}

let sim: XapiSim
let session: string
beforeAll(async () => {
  sim = await startSim()
  session = (await xapi(sim, 'session.login_with_password', [
    'root',
    SIM_PASSWORD,
    '2.21',
    'independent-client',
  ])) as string
})
afterAll(async () => {
  await xapi(sim, 'session.logout', [session]).catch(() => {})
  try {
    expect(sim.leaks()).toEqual([])
  } finally {
    await sim.close()
  }
})

describe('the simulator, seen by an independent XML-RPC client', () => {
  it('logs in with 2 or 4 parameters and refuses bad credentials with SESSION_AUTHENTICATION_FAILED [user, msg]', async () => {
    expect(session).toMatch(/^OpaqueRef:[0-9a-f-]{36}$/)
    const two = (await xapi(sim, 'session.login_with_password', ['root', SIM_PASSWORD])) as string
    await xapi(sim, 'session.logout', [two])
    const bad = await failure(xapi(sim, 'session.login_with_password', ['root', 'wrong']))
    expect(bad[0]).toBe('SESSION_AUTHENTICATION_FAILED')
    expect(bad).toHaveLength(3)
  })

  it('serves records with XAPI types: int64 as decimal text, bools typed, maps as structs, refs as OpaqueRef', async () => {
    const [template] = (await xapi(sim, 'VM.get_by_name_label', [session, 'debian-lua'])) as string[]
    const vm = (await xapi(sim, 'VM.get_record', [session, template as string])) as Record<string, Value>
    for (const f of [
      'memory_static_max',
      'memory_dynamic_min',
      'memory_target',
      'VCPUs_max',
      'domid',
      'user_version',
    ]) {
      expect(vm[f], f).toMatch(/^-?\d+$/)
    }
    expect(vm.is_a_template).toBe(true)
    expect(typeof vm.platform).toBe('object')
    expect((vm.other_config as Record<string, Value>).mac_seed).toMatch(/^[0-9a-f-]{36}$/)
    expect(vm.guest_metrics).toBe('OpaqueRef:NULL')
    const [pool] = (await xapi(sim, 'pool.get_all', [session])) as string[]
    const p = (await xapi(sim, 'pool.get_record', [session, pool as string])) as Record<string, Value>
    expect(p.ha_enabled).toBe(false)
    expect(p.restrictions).toMatchObject({ restrict_dmc: expect.stringMatching(/^(true|false)$/) })
    expect(p.cpu_info).toMatchObject({ cpu_count: expect.stringMatching(/^\d+$/) })
    const host = (await xapi(sim, 'host.get_record', [session, p.master as string])) as Record<string, Value>
    expect(host.API_version_major).toBe('2')
    expect(host.cpu_info).toMatchObject({ socket_count: expect.stringMatching(/^\d+$/) })
  })

  it('runs an Async clone as a task whose result is a value fragment, and destroys what it made', async () => {
    const [template] = (await xapi(sim, 'VM.get_by_name_label', [session, 'debian-lua'])) as string[]
    const task = (await xapi(sim, 'Async.VM.clone', [session, template as string, 'independent'])) as string
    let record: Record<string, Value> = {}
    for (let i = 0; i < 200; i++) {
      record = (await xapi(sim, 'task.get_record', [session, task])) as Record<string, Value>
      if (record.status !== 'pending') break
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(record.status).toBe('success')
    expect(typeof record.progress).toBe('number')
    expect(record.created).toBeInstanceOf(Date)
    const fragment = parseXml(String(record.result)).children[0] as Node
    const clone = decode(fragment) as string
    expect(clone).toMatch(/^OpaqueRef:/)
    await xapi(sim, 'task.destroy', [session, task])
    const vm = (await xapi(sim, 'VM.get_record', [session, clone])) as Record<string, Value>
    const seed = (vm.other_config as Record<string, Value>).mac_seed
    expect(seed).toMatch(/^[0-9a-f-]{36}$/)
    await destroyWithDisks(clone)
  })

  it('answers errors with XAPI shapes', async () => {
    const [template] = (await xapi(sim, 'VM.get_by_name_label', [session, 'debian-lua'])) as string[]
    expect(await failure(xapi(sim, 'VM.start', [session, template as string, false, false]))).toEqual([
      'VM_IS_TEMPLATE',
      template,
      'start',
    ])
    expect(await failure(xapi(sim, 'VM.get_record', [session, 'OpaqueRef:nope']))).toEqual([
      'HANDLE_INVALID',
      'VM',
      'OpaqueRef:nope',
    ])
    expect(await failure(xapi(sim, 'VM.get_record', [session]))).toEqual([
      'MESSAGE_PARAMETER_COUNT_MISMATCH',
      'VM.get_record',
      '1',
      '0',
    ])
    expect(await failure(xapi(sim, 'VM.no_such_method', [session]))).toEqual([
      'MESSAGE_METHOD_UNKNOWN',
      'VM.no_such_method',
    ])
    expect(await failure(xapi(sim, 'pool.get_all', ['OpaqueRef:stale']))).toEqual([
      'SESSION_INVALID',
      'OpaqueRef:stale',
    ])
    const noAsync = await failure(xapi(sim, 'Async.VM.add_tags', [session, template as string, 'x']))
    expect(noAsync[0]).toBe('Fault')
    expect(noAsync[1]).toMatch(/No async mode for this operation/)
  })

  it('event.from: %020d tokens, <i4> ref counts, and an unknown class matches nothing', async () => {
    const r = (await xapi(sim, 'event.from', [session, ['vm', 'no_such_class'], '', 0.1])) as Record<string, Value>
    expect(r.token).toMatch(/^\d{20},\d{20}$/)
    expect(typeof (r.valid_ref_counts as Record<string, Value>).vm).toBe('number')
    const again = (await xapi(sim, 'event.from', [session, ['no_such_class'], r.token as string, 0.1])) as Record<
      string,
      Value
    >
    expect(again.events).toEqual([])
  })

  it('system.listMethods answers a bare array, outside the Status/Value envelope', async () => {
    const methods = await rawCall(sim, 'system.listMethods', [])
    expect(Array.isArray(methods)).toBe(true)
    expect(methods as string[]).toContain('VM.clone')
  })

  it('malformed XML gets HTTP 500 with an HTML body, not an XML-RPC reply', async () => {
    const reply = await post(sim, '<methodCall><methodName>pool.get_all</methodName><params>')
    expect(reply.status).toBe(500)
    expect(reply.contentType).toMatch(/text\/html/)
  })
})

describe('rules a real host (xapi v26.4) enforces', () => {
  const vmByName = async (name: string) =>
    ((await xapi(sim, 'VM.get_by_name_label', [session, name])) as string[])[0] as string

  it('VM.provision on a VM that is not a template: PROVISION_ONLY_ALLOWED_ON_TEMPLATE', async () => {
    const vm = await vmByName('lab-runner')
    expect(await failure(xapi(sim, 'VM.provision', [session, vm]))).toEqual(['PROVISION_ONLY_ALLOWED_ON_TEMPLATE'])
  })

  it('a VIF with an empty MAC gets one derived from the VM’s mac_seed; without a seed it is refused', async () => {
    const template = await vmByName('debian-lua')
    const clone = (await xapi(sim, 'VM.clone', [session, template, 'mac-seed'])) as string
    await xapi(sim, 'VM.provision', [session, clone])
    const [net] = (await xapi(sim, 'network.get_by_name_label', [session, 'Private'])) as string[]
    const vif = {
      device: '1',
      network: net as string,
      VM: clone,
      MAC: '',
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    }
    const ref = (await xapi(sim, 'VIF.create', [session, vif])) as string
    const record = (await xapi(sim, 'VIF.get_record', [session, ref])) as Record<string, Value>
    expect(record.MAC).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/)
    expect(record.MTU, 'the MTU comes from the network').toBe('1500')
    await xapi(sim, 'VIF.destroy', [session, ref])
    await xapi(sim, 'VM.remove_from_other_config', [session, clone, 'mac_seed'])
    const refused = await failure(xapi(sim, 'VIF.create', [session, vif]))
    expect(refused[0]).toBe('INTERNAL_ERROR')
    expect(refused[1]).toMatch(/mac_seed/)
    await destroyWithDisks(clone)
  })

  it('task.destroy on a pending task is accepted and takes effect when the task completes', async () => {
    sim.inject('VM.clone', { kind: 'task-latency', ms: 300 })
    const template = await vmByName('debian-lua')
    const task = (await xapi(sim, 'Async.VM.clone', [session, template, 'deferred'])) as string
    await xapi(sim, 'task.destroy', [session, task])
    expect(((await xapi(sim, 'task.get_record', [session, task])) as Record<string, Value>).status).toBe('pending')
    for (let i = 0; i < 100 && sim.db.has('task', task); i++) await new Promise((r) => setTimeout(r, 20))
    expect(sim.db.has('task', task)).toBe(false)
    // The clone it made is ours to remove.
    const [clone] = (await xapi(sim, 'VM.get_by_name_label', [session, 'deferred'])) as string[]
    await destroyWithDisks(clone as string)
  })
})
