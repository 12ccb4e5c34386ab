/**
 * The simulator's XML-RPC codec. Responses are written exactly the way XAPI
 * writes them (ocaml-rpc `Xmlrpc.to_string`): compact, untyped strings,
 * int64 as untyped decimal text, `<i4>` only where XAPI uses int32, floats
 * with `%.16g`, dates as `YYYYMMDDTHH:MM:SSZ`. Requests are parsed with
 * their XML-RPC types kept, so the simulator can apply XAPI's coercion rules
 * and catch client bugs (an `<int>` where a float is expected, a string
 * where a bool is).
 */

/** An int64 value (XAPI: untyped decimal text on the wire). */
export class I64 {
  constructor(readonly value: bigint) {}
}
/** An int32 value (XAPI: `<i4>`, only in `event.from`'s `valid_ref_counts`). */
export class I32 {
  constructor(readonly value: number) {}
}
/** A float (`<double>`, `%.16g`). */
export class F64 {
  constructor(readonly value: number) {}
}

/** What the simulator stores and returns. */
export type SimValue = string | boolean | I64 | I32 | F64 | Date | SimValue[] | { [key: string]: SimValue }

/** Shorthands. */
export const i64 = (n: number | bigint): I64 => new I64(BigInt(n))
export const f64 = (n: number): F64 => new F64(n)

/** A request value with its XML-RPC type. */
export type WireValue =
  | { type: 'string'; value: string; tagged: boolean }
  | { type: 'int'; value: bigint; tag: 'int' | 'i4' | 'i8' }
  | { type: 'boolean'; value: boolean }
  | { type: 'double'; value: number }
  | { type: 'datetime'; value: string }
  | { type: 'base64'; value: string }
  | { type: 'nil' }
  | { type: 'array'; value: WireValue[] }
  | { type: 'struct'; value: Map<string, WireValue> }

/** A malformed request: XAPI answers with an HTML 500. */
export class WireParseError extends Error {}

function escapeText(text: string): string {
  // ocaml-rpc escapes & < > " and drops control characters other than TAB, LF, CR.
  let out = ''
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) continue
    out += ch === '&' ? '&amp;' : ch === '<' ? '&lt;' : ch === '>' ? '&gt;' : ch === '"' ? '&quot;' : ch
  }
  return out
}

/** C's `%.16g`. */
export function formatG16(x: number): string {
  if (Number.isNaN(x)) return 'nan'
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf'
  if (x === 0) return Object.is(x, -0) ? '-0' : '0'
  const exp = Math.floor(Math.log10(Math.abs(x)))
  if (exp < -4 || exp >= 16) {
    const [mant, e] = x.toExponential(15).split('e')
    const m = (mant ?? '').replace(/\.?0+$/, '')
    const n = Number(e)
    return `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`
  }
  const fixed = x.toFixed(Math.max(0, 15 - exp))
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed
}

/** XAPI's date format. */
export function formatDate(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}Z`
}

/** One `<value>…</value>` exactly as XAPI writes it. */
export function encodeValue(v: SimValue): string {
  if (typeof v === 'string') return `<value>${escapeText(v)}</value>`
  if (typeof v === 'boolean') return `<value><boolean>${v ? 1 : 0}</boolean></value>`
  if (v instanceof I64) return `<value>${v.value}</value>`
  if (v instanceof I32) return `<value><i4>${v.value}</i4></value>`
  if (v instanceof F64) return `<value><double>${formatG16(v.value)}</double></value>`
  if (v instanceof Date) return `<value><dateTime.iso8601>${formatDate(v)}</dateTime.iso8601></value>`
  if (Array.isArray(v)) return `<value><array><data>${v.map(encodeValue).join('')}</data></array></value>`
  let members = ''
  for (const [k, val] of Object.entries(v))
    members += `<member><name>${escapeText(k)}</name>${encodeValue(val)}</member>`
  return `<value><struct>${members}</struct></value>`
}

const HEAD = '<?xml version="1.0"?><methodResponse><params><param>'
const TAIL = '</param></params></methodResponse>'

/** A success envelope. */
export function encodeSuccess(value: SimValue): string {
  return `${HEAD}${encodeValue({ Status: 'Success', Value: value })}${TAIL}`
}

/** A reply without XAPI's envelope (what the XML-RPC layer's own `system.*` methods send). */
export function encodeBare(value: SimValue): string {
  return `${HEAD}${encodeValue(value)}${TAIL}`
}

/** A failure envelope: `ErrorDescription` is `[code, params…]`, all strings. */
export function encodeFailure(description: readonly string[]): string {
  return `${HEAD}${encodeValue({ Status: 'Failure', ErrorDescription: [...description] })}${TAIL}`
}

// ---- request parsing ------------------------------------------------------

type Token =
  | { kind: 'open'; name: string; selfClosing: boolean }
  | { kind: 'close'; name: string }
  | { kind: 'text'; text: string }

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e === 'amp') return '&'
    if (e === 'lt') return '<'
    if (e === 'gt') return '>'
    if (e === 'quot') return '"'
    if (e === 'apos') return "'"
    const code = e.startsWith('#x') ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10)
    return String.fromCodePoint(code)
  })
}

function tokenize(xml: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < xml.length) {
    if (xml.startsWith('<?', i)) {
      const end = xml.indexOf('?>', i)
      if (end < 0) throw new WireParseError('unterminated processing instruction')
      i = end + 2
    } else if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i)
      if (end < 0) throw new WireParseError('unterminated comment')
      i = end + 3
    } else if (xml.startsWith('<![CDATA[', i)) {
      const end = xml.indexOf(']]>', i)
      if (end < 0) throw new WireParseError('unterminated CDATA')
      tokens.push({ kind: 'text', text: xml.slice(i + 9, end) })
      i = end + 3
    } else if (xml[i] === '<') {
      const end = xml.indexOf('>', i)
      if (end < 0) throw new WireParseError('unterminated tag')
      const body = xml.slice(i + 1, end).trim()
      if (body.startsWith('/')) tokens.push({ kind: 'close', name: body.slice(1).trim() })
      else {
        const selfClosing = body.endsWith('/')
        const name = (selfClosing ? body.slice(0, -1) : body).trim().split(/\s+/)[0] ?? ''
        if (!/^[A-Za-z][\w.:-]*$/.test(name)) throw new WireParseError(`bad tag <${body}>`)
        tokens.push({ kind: 'open', name, selfClosing })
      }
      i = end + 1
    } else {
      const end = xml.indexOf('<', i)
      const raw = xml.slice(i, end < 0 ? xml.length : end)
      tokens.push({ kind: 'text', text: decodeEntities(raw) })
      i = end < 0 ? xml.length : end
    }
  }
  return tokens
}

class Reader {
  #i = 0
  constructor(readonly tokens: Token[]) {}
  skipSpace(): void {
    while (this.peek()?.kind === 'text' && (this.peek() as { text: string }).text.trim() === '') this.#i++
  }
  peek(): Token | undefined {
    return this.tokens[this.#i]
  }
  next(): Token {
    const t = this.tokens[this.#i++]
    if (!t) throw new WireParseError('unexpected end of document')
    return t
  }
  open(name: string): boolean {
    this.skipSpace()
    const t = this.next()
    if (t.kind !== 'open' || t.name !== name) throw new WireParseError(`expected <${name}>`)
    return t.selfClosing
  }
  close(name: string): void {
    this.skipSpace()
    const t = this.next()
    if (t.kind !== 'close' || t.name !== name) throw new WireParseError(`expected </${name}>`)
  }
  text(): string {
    let out = ''
    while (this.peek()?.kind === 'text') out += (this.next() as { text: string }).text
    return out
  }
  isOpen(name: string): boolean {
    this.skipSpace()
    const t = this.peek()
    return t?.kind === 'open' && t.name === name
  }
}

function parseValue(r: Reader): WireValue {
  if (r.open('value')) return { type: 'string', value: '', tagged: false }
  const leading = r.text()
  const t = r.peek()
  if (t?.kind === 'close' && t.name === 'value') {
    r.next()
    return { type: 'string', value: leading, tagged: false }
  }
  if (leading.trim() !== '') throw new WireParseError('text mixed with a typed value')
  const open = r.next()
  if (open.kind !== 'open') throw new WireParseError('expected a value type')
  let v: WireValue
  const scalar = (): string => {
    if (open.selfClosing) return ''
    const text = r.text()
    r.close(open.name)
    return text
  }
  switch (open.name) {
    case 'string':
      v = { type: 'string', value: scalar(), tagged: true }
      break
    case 'int':
    case 'i4':
    case 'i8': {
      const text = scalar().trim()
      if (!/^[+-]?\d+$/.test(text)) throw new WireParseError(`bad integer ${text}`)
      v = { type: 'int', value: BigInt(text), tag: open.name }
      break
    }
    case 'boolean':
      // ocaml-rpc: "1" is true, anything else false.
      v = { type: 'boolean', value: scalar().trim() === '1' }
      break
    case 'double': {
      const text = scalar().trim()
      const n = Number(text)
      if (text === '' || Number.isNaN(n)) throw new WireParseError(`bad double ${text}`)
      v = { type: 'double', value: n }
      break
    }
    case 'dateTime.iso8601':
      v = { type: 'datetime', value: scalar().trim() }
      break
    case 'base64':
      v = { type: 'base64', value: scalar().trim() }
      break
    case 'nil':
      if (!open.selfClosing) r.close('nil')
      v = { type: 'nil' }
      break
    case 'array': {
      const items: WireValue[] = []
      if (!open.selfClosing) {
        if (!r.open('data')) {
          while (r.isOpen('value')) items.push(parseValue(r))
          r.close('data')
        }
        r.close('array')
      }
      v = { type: 'array', value: items }
      break
    }
    case 'struct': {
      const members = new Map<string, WireValue>()
      if (!open.selfClosing) {
        while (r.isOpen('member')) {
          r.open('member')
          r.open('name')
          const name = r.text()
          r.close('name')
          members.set(name, parseValue(r))
          r.close('member')
        }
        r.close('struct')
      }
      v = { type: 'struct', value: members }
      break
    }
    default:
      throw new WireParseError(`unknown value type <${open.name}>`)
  }
  r.close('value')
  return v
}

/** Parses a `<methodCall>`; throws {@link WireParseError} on anything malformed. */
export function parseMethodCall(xml: string): { method: string; params: WireValue[] } {
  const r = new Reader(tokenize(xml))
  r.open('methodCall')
  r.open('methodName')
  const method = r.text().trim()
  r.close('methodName')
  const params: WireValue[] = []
  if (r.isOpen('params')) {
    if (!r.open('params')) {
      while (r.isOpen('param')) {
        r.open('param')
        params.push(parseValue(r))
        r.close('param')
      }
      r.close('params')
    }
  }
  r.close('methodCall')
  r.skipSpace()
  if (r.peek()) throw new WireParseError('trailing content after </methodCall>')
  if (method === '') throw new WireParseError('empty method name')
  return { method, params }
}

/** Converts a request value to plain data (for struct params such as `VIF.create`'s record). */
export function plain(v: WireValue): unknown {
  switch (v.type) {
    case 'string':
    case 'boolean':
    case 'double':
    case 'datetime':
    case 'base64':
      return v.value
    case 'int':
      return v.value
    case 'nil':
      return null
    case 'array':
      return v.value.map(plain)
    case 'struct':
      return Object.fromEntries([...v.value].map(([k, x]) => [k, plain(x)]))
  }
}
