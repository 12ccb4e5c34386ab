/**
 * A reader for the data subset of Lua that luarocks manifests and
 * rockspecs are written in: assignments (`name = ...`, `local name = ...`,
 * `a.b = ...`) of expressions made of literals, table constructors, names
 * assigned before, and Lua's operators (`..`, `==`, `and`/`or`, arithmetic:
 * the `local v = "1.0"  version = v .. "-1"` and `x == "dev" and "master"
 * or x` idioms of hand-written rockspecs).
 *
 * Manifests and rockspecs come from rock servers, i.e. from the network:
 * they are parsed, never run — not in the user's VM, not anywhere. Function
 * calls, function definitions and loops are refused with a message;
 * luarocks writes manifests as plain tables, and pure-Lua rockspecs keep to
 * the subset in practice (the rockspecs that define functions are those of
 * C libraries with per-platform builds).
 *
 * Without loops, everything the reader does is paid for by source text,
 * except what operators do: `s = s .. s` doubles a string per 9 bytes and
 * `#s` scans it. So the reader runs under hard budgets (limits.ts): source
 * length, the length of each string `..` builds and of all of them, tables
 * and entries created, nesting, and work units (one per expression or
 * entry, one per character an operator scans). Every budget is checked
 * before the work it pays for, and the caller's `stop` (the install's
 * deadline and AbortSignal) is called every {@link CHECK_EVERY_WORK} units,
 * so a hostile file costs at most a bounded multiple of its size and never
 * runs past the deadline. A table can be placed in only one table (data is
 * a tree; no sharing, no cycles), so whoever walks the result does at most
 * one step per node.
 *
 * The reader is a generator that pauses every {@link YIELD_EVERY_WORK}
 * units: {@link readLuaAssignmentsAsync} (manifests, up to megabytes) gives
 * the event loop a turn every {@link READ_SLICE_MS} ms, and
 * {@link readLuaAssignments} runs straight through (rockspecs, whose
 * budgets keep that short).
 */
import { CHECK_EVERY_WORK, LUA_DATA_LIMITS, type LuaDataLimits, READ_SLICE_MS, YIELD_EVERY_WORK } from './limits.js'

/** A Lua value as read: tables become {@link LuaTable}s. */
export type LuaData = string | number | boolean | LuaTable | undefined

/** A Lua table: positional items (`{ "a", "b" }`, `[1] = ...`) and named fields. */
export class LuaTable {
  /** Items 1..n, at indexes 0..n-1. */
  readonly items: LuaData[] = []
  // Made on the first named field: most tables of a manifest have none.
  #fields: Map<string, LuaData> | undefined
  /** The table this one was stored in, if any (the reader keeps data a tree). */
  parent: LuaTable | undefined

  /** String (and non-sequence numeric) keys. */
  get fields(): ReadonlyMap<string, LuaData> {
    return this.#fields ?? NO_FIELDS
  }

  /** The value at `key` (a field name, or a 1-based index). */
  get(key: string | number): LuaData {
    if (typeof key === 'number' && Number.isInteger(key) && key >= 1 && key <= this.items.length) {
      return this.items[key - 1]
    }
    return this.fields.get(String(key))
  }

  /** Stores `value` at `key` as Lua would (nil removes; `n + 1` extends the sequence). */
  set(key: string | number, value: LuaData): void {
    if (typeof key === 'number' && Number.isInteger(key) && key >= 1 && key <= this.items.length + 1) {
      if (key === this.items.length + 1) {
        if (value === undefined) return
        this.items.push(value)
        // `{ [2] = b, a }`: the 2 waiting in the fields joins the sequence.
        const fields = this.#fields
        if (!fields?.size) return
        for (let next = String(this.items.length + 1); fields.has(next); next = String(this.items.length + 1)) {
          this.items.push(fields.get(next))
          fields.delete(next)
        }
      } else {
        this.items[key - 1] = value
      }
      return
    }
    if (value === undefined) {
      this.#fields?.delete(String(key))
      return
    }
    this.#fields ??= new Map()
    this.#fields.set(String(key), value)
  }
}

const NO_FIELDS: ReadonlyMap<string, LuaData> = new Map()

/** Thrown for text outside the subset or malformed; the message says where. */
export class LuaDataError extends Error {
  override readonly name = 'LuaDataError'
}

/** Thrown when a file exceeds one of the reader's budgets; `budget` names it (`maxNodes`, ...). */
export class LuaDataLimitError extends LuaDataError {
  /**
   * @param budget - the {@link LuaDataLimits} key that was exceeded
   * @param message - what was read and what it tried
   */
  constructor(
    readonly budget: keyof LuaDataLimits,
    message: string,
  ) {
    super(message)
  }
}

/** How a read is bounded besides the file's own budgets. */
export interface ReadOptions {
  /** Budgets (default {@link LUA_DATA_LIMITS}). */
  limits?: Readonly<LuaDataLimits>
  /**
   * Called every few thousand work units; throws to stop the read (the
   * install's deadline passed, or its AbortSignal fired). Stretches of the
   * read run without a turn of the event loop, where no timer can fire: the
   * callback checks the clock itself.
   */
  stop?: () => void
}

// Character codes used by the scanner.
enum C {
  Tab = 9,
  LF = 10,
  VT = 11,
  FF = 12,
  CR = 13,
  Space = 32,
  Quote = 34,
  Apos = 39,
  LParen = 40,
  RParen = 41,
  Comma = 44,
  Minus = 45,
  Dot = 46,
  Zero = 48,
  Nine = 57,
  Semi = 59,
  Eq = 61,
  LBracket = 91,
  Backslash = 92,
  RBracket = 93,
  LBrace = 123,
  RBrace = 125,
}

/**
 * Reads a chunk of assignments (`name = value`, `local name = value`,
 * `a.b = value`) and returns the globals it assigned. `what` names the text
 * in error messages (e.g. the manifest's URL). Throws {@link LuaDataError}
 * (a {@link LuaDataLimitError} past a budget), or what `options.stop` throws.
 */
export function readLuaAssignments(text: string, what: string, options: ReadOptions = {}): Map<string, LuaData> {
  const limits = options.limits ?? LUA_DATA_LIMITS
  checkSource(text, what, limits)
  const steps = new Reader(text, what, limits, options.stop).chunk()
  for (;;) {
    const step = steps.next()
    if (step.done) return step.value
  }
}

/**
 * {@link readLuaAssignments} in slices of about {@link READ_SLICE_MS} ms,
 * giving the event loop a turn between them: a manifest of megabytes is
 * read without stalling the host's other work (timers, I/O, other VMs).
 */
export async function readLuaAssignmentsAsync(
  text: string,
  what: string,
  options: ReadOptions = {},
): Promise<Map<string, LuaData>> {
  const limits = options.limits ?? LUA_DATA_LIMITS
  checkSource(text, what, limits)
  const steps = new Reader(text, what, limits, options.stop).chunk()
  let sliceStart = performance.now()
  for (;;) {
    const step = steps.next()
    if (step.done) return step.value
    if (performance.now() - sliceStart >= READ_SLICE_MS) {
      await new Promise((resolve) => setTimeout(resolve, 0))
      sliceStart = performance.now()
    }
  }
}

function checkSource(text: string, what: string, limits: Readonly<LuaDataLimits>): void {
  if (text.length > limits.maxSourceLength) {
    throw new LuaDataLimitError(
      'maxSourceLength',
      `${what}: is ${text.length} characters long, over the ${limits.maxSourceLength}-character limit`,
    )
  }
}

/** A step of the reader: it pauses (yields) every {@link YIELD_EVERY_WORK} work units and returns `T`. */
type Steps<T> = Generator<void, T, void>

class Reader {
  readonly #s: string
  readonly #what: string
  readonly #limits: Readonly<LuaDataLimits>
  readonly #stop: (() => void) | undefined
  #i = 0
  readonly #globals = new Map<string, LuaData>()
  readonly #locals = new Map<string, LuaData>()
  #work = 0
  readonly #maxWork: number
  #nextCheck = CHECK_EVERY_WORK
  #nextYield = YIELD_EVERY_WORK
  #nodes = 0
  #built = 0

  constructor(text: string, what: string, limits: Readonly<LuaDataLimits>, stop: (() => void) | undefined) {
    // A leading shebang line is legal in a Lua chunk.
    this.#s = text.startsWith('#') ? text.replace(/^#[^\n]*/, '') : text
    this.#what = what
    this.#limits = limits
    this.#stop = stop
    this.#maxWork = limits.baseWork + limits.workPerSourceChar * text.length
  }

  /** Pays `n` work units; past the budget the read ends, and every so often the caller may stop it. */
  #tick(n: number): void {
    this.#work += n
    if (this.#work < this.#nextCheck) return
    if (this.#work > this.#maxWork) {
      this.#limit('baseWork', `needs more than ${this.#maxWork} work units (operators on long strings?)`)
    }
    this.#nextCheck = this.#work + CHECK_EVERY_WORK
    this.#stop?.()
  }

  /** Counts `n` new tables or entries. */
  #node(n = 1): void {
    this.#nodes += n
    if (this.#nodes > this.#limits.maxNodes) {
      this.#limit('maxNodes', `creates more than ${this.#limits.maxNodes} tables and table entries`)
    }
  }

  #limit(budget: keyof LuaDataLimits, message: string): never {
    throw new LuaDataLimitError(budget, `${this.#what}:${this.#line(this.#i)}: ${message} (budget ${budget})`)
  }

  /**
   * Stores `value` in `table` at `key`. A table value must not be in a
   * table already, nor be `table` or one of its ancestors: the result stays
   * a tree, so walking it costs one step per node, whatever the file does.
   */
  #place(table: LuaTable, key: string | number, value: LuaData): Fault | undefined {
    this.#tick(1)
    this.#node()
    if (value instanceof LuaTable) {
      if (value.parent) return this.#fault('a table can be stored in only one table here (data is a tree)')
      let depth = 0
      for (let t: LuaTable | undefined = table; t; t = t.parent) {
        if (t === value) return this.#fault('a table cannot be stored inside itself')
        if (++depth > this.#limits.maxDepth)
          this.#limit('maxDepth', `nests tables deeper than ${this.#limits.maxDepth}`)
      }
      this.#tick(depth)
      value.parent = table
    }
    table.set(key, value)
    return undefined
  }

  /** A string an operator is about to build: its length is checked before it exists. */
  #build(length: number): void {
    if (length > this.#limits.maxStringLength) {
      this.#limit('maxStringLength', `builds a string of ${length} characters, over ${this.#limits.maxStringLength}`)
    }
    this.#built += length
    if (this.#built > this.#limits.maxBuiltLength) {
      this.#limit('maxBuiltLength', `builds more than ${this.#limits.maxBuiltLength} characters of strings with ..`)
    }
    this.#tick(1)
  }

  #line(at: number): number {
    let line = 1
    for (let k = this.#s.indexOf('\n'); k >= 0 && k < at; k = this.#s.indexOf('\n', k + 1)) line++
    return line
  }

  *chunk(): Steps<Map<string, LuaData>> {
    for (;;) {
      this.#skip()
      if (this.#i >= this.#s.length) return this.#globals
      if (this.#peek(C.Semi)) {
        this.#i++
        continue
      }
      yield* this.#statement()
    }
  }

  *#statement(): Steps<void> {
    const start = this.#i
    const first = this.#name()
    if (first === 'local') {
      const names = [this.#localName()]
      this.#skip()
      while (this.#peek(C.Comma)) {
        this.#i++
        names.push(this.#localName())
        this.#skip()
      }
      let values: LuaData[] = []
      if (this.#peek(C.Eq) && !this.#peekAt(1, C.Eq)) {
        this.#i++
        values = yield* this.#exprList()
      }
      for (const [k, n] of names.entries()) this.#locals.set(n, values[k])
      return
    }
    if (KEYWORDS.has(first)) this.#fail(`'${first}' statements are not supported`, start)
    // a, a.b.c or a["b"] as the target
    const path: Array<string | number> = []
    for (;;) {
      this.#skip()
      if (this.#peek(C.Dot) && !this.#peekAt(1, C.Dot)) {
        this.#i++
        path.push(this.#name())
      } else if (this.#peek(C.LBracket) && this.#longBracketLevel() === undefined) {
        this.#i++
        const key = this.#stored(yield* this.#expr(0))
        this.#expect(C.RBracket, ']')
        if (typeof key !== 'string' && typeof key !== 'number') this.#fail('table keys must be strings or numbers')
        path.push(key)
      } else break
    }
    this.#skip()
    if (!this.#peek(C.Eq) || this.#peekAt(1, C.Eq)) {
      this.#fail(
        this.#peek(C.LParen) || this.#peek(C.LBrace) || this.#peekQuote()
          ? 'function calls are not supported (this file is read as data, never run)'
          : "expected '='",
      )
    }
    this.#i++
    // `x = a, b`: Lua drops the extra values (they are still checked).
    const [value] = yield* this.#exprList()
    if (path.length === 0) {
      if (this.#locals.has(first)) this.#locals.set(first, value)
      else if (value === undefined) this.#globals.delete(first)
      else this.#globals.set(first, value)
      return
    }
    let target = this.#lookup(first)
    for (const key of path.slice(0, -1)) {
      if (!(target instanceof LuaTable)) this.#fail(`cannot index a ${luaType(target)} value`, start)
      target = target.get(key)
    }
    if (!(target instanceof LuaTable)) this.#fail(`cannot index a ${luaType(target)} value`, start)
    this.#stored(this.#place(target, path[path.length - 1] as string | number, value))
  }

  #localName(): string {
    const start = this.#i
    const name = this.#name()
    if (KEYWORDS.has(name)) this.#fail(`'local ${name}' is not supported`, start)
    return name
  }

  *#exprList(): Steps<LuaData[]> {
    const values = [this.#stored(yield* this.#expr(0))]
    this.#skip()
    while (this.#peek(C.Comma)) {
      this.#i++
      values.push(this.#stored(yield* this.#expr(0)))
      this.#skip()
    }
    return values
  }

  /** A value about to be stored (assigned, or a table key): a fault becomes the error Lua would raise. */
  #stored(value: Val): LuaData {
    if (value instanceof Fault) throw new LuaDataError(`${this.#what}:${this.#line(value.at)}: ${value.message}`)
    return value
  }

  // The line is found only if the fault is raised: a file can make many faults.
  #fault(message: string): Fault {
    return new Fault(message, this.#i)
  }

  /**
   * An expression, by Lua's operator precedence (`limit` is the priority of
   * the operator on the left). Operands are evaluated eagerly — they cannot
   * have side effects — and errors become {@link Fault}s, so `x and x.y`
   * with a nil `x` is nil, as in Lua, rather than an error.
   */
  *#expr(depth: number, limit = 0): Steps<Val> {
    if (depth > this.#limits.maxDepth) this.#limit('maxDepth', `nests expressions deeper than ${this.#limits.maxDepth}`)
    this.#tick(1)
    if (this.#work >= this.#nextYield) {
      this.#nextYield = this.#work + YIELD_EVERY_WORK
      yield
    }
    this.#skip()
    let value: Val
    const unary = this.#unaryOp()
    if (unary) {
      this.#i += unary.length
      value = this.#unary(unary, yield* this.#expr(depth + 1, UNARY_PRIORITY))
    } else {
      value = yield* this.#simple(depth + 1)
    }
    for (;;) {
      this.#skip()
      const op = this.#binaryOp()
      const priority = op ? BINARY[op] : undefined
      if (!op || !priority || priority[0] <= limit) return value
      this.#i += op.length
      value = this.#binary(op, value, yield* this.#expr(depth + 1, priority[1]))
    }
  }

  #unaryOp(): string | undefined {
    if (this.#peek(C.Minus)) return '-'
    if (this.#s[this.#i] === '#') return '#'
    if (this.#s.startsWith('not', this.#i) && !isNameChar(this.#s.charCodeAt(this.#i + 3))) return 'not'
    if (this.#s[this.#i] === '~' && this.#s[this.#i + 1] !== '=') this.#fail('bitwise operators are not supported')
    return undefined
  }

  #binaryOp(): string | undefined {
    const s = this.#s
    const i = this.#i
    // Most expressions end at `,`, `}` or a name: answer those without slicing.
    const first = s.charCodeAt(i)
    if (first === C.Comma || first === C.RBrace || first === C.RBracket || first === C.Semi || Number.isNaN(first)) {
      return undefined
    }
    const two = s.slice(i, i + 2)
    if (two === '..') return s[i + 2] === '.' ? undefined : '..'
    if (two === '==' || two === '~=' || two === '<=' || two === '>=' || two === '//') return two
    if (two === '<<' || two === '>>') this.#fail('bitwise operators are not supported')
    const one = s[i] ?? ''
    if ('+-*/%^<>'.includes(one) && one !== '') return one
    if (one === '&' || one === '|' || one === '~') this.#fail('bitwise operators are not supported')
    if (s.startsWith('and', i) && !isNameChar(s.charCodeAt(i + 3))) return 'and'
    if (s.startsWith('or', i) && !isNameChar(s.charCodeAt(i + 2))) return 'or'
    return undefined
  }

  #unary(op: string, v: Val): Val {
    if (v instanceof Fault) return v
    if (op === 'not') return !truthy(v)
    if (op === '#') {
      if (typeof v === 'string') {
        this.#tick(v.length)
        return utf8Length(v)
      }
      if (v instanceof LuaTable) return v.items.length
      return this.#fault(`attempt to get length of a ${luaType(v)} value`)
    }
    const n = toNumber(v)
    return n === undefined ? this.#fault(`attempt to perform arithmetic on a ${luaType(v)} value`) : -n
  }

  #binary(op: string, a: Val, b: Val): Val {
    // `and`/`or` pick an operand, so a fault in the other one does not matter.
    if (op === 'and') return a instanceof Fault || !truthy(a) ? a : b
    if (op === 'or') return a instanceof Fault || truthy(a) ? a : b
    if (a instanceof Fault) return a
    if (b instanceof Fault) return b
    // Comparing or converting strings scans them (and flattens what `..` built);
    // `..` itself only links its operands, and pays through #build.
    if (op !== '..') this.#tick((typeof a === 'string' ? a.length : 0) + (typeof b === 'string' ? b.length : 0))
    switch (op) {
      case '==':
        return a === b
      case '~=':
        return a !== b
      case '<':
      case '<=':
      case '>':
      case '>=': {
        if (!((typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string'))) {
          return this.#fault(`attempt to compare ${luaType(a)} with ${luaType(b)}`)
        }
        if (op === '<') return a < b
        if (op === '<=') return a <= b
        if (op === '>') return a > b
        return a >= b
      }
      case '..': {
        const x = concatText(a)
        const y = concatText(b)
        if (x === undefined || y === undefined) {
          return this.#fault(`attempt to concatenate a ${luaType(x === undefined ? a : b)} value`)
        }
        this.#build(x.length + y.length)
        return x + y
      }
    }
    const x = toNumber(a)
    const y = toNumber(b)
    if (x === undefined || y === undefined) {
      return this.#fault(`attempt to perform arithmetic on a ${luaType(x === undefined ? a : b)} value`)
    }
    switch (op) {
      case '+':
        return x + y
      case '-':
        return x - y
      case '*':
        return x * y
      case '/':
        return x / y
      case '//':
        return Math.floor(x / y)
      case '%':
        return x - Math.floor(x / y) * y
      default:
        return x ** y
    }
  }

  /** Literals, table constructors, `( expr )` and names with `.x` / `[k]` suffixes. */
  *#simple(depth: number): Steps<Val> {
    this.#skip()
    const code = this.#s.charCodeAt(this.#i)
    if (code === C.Quote || code === C.Apos) return this.#quoted(code)
    if (code === C.LBracket && this.#longBracketLevel() !== undefined) return this.#longString()
    if (code === C.LBrace) return yield* this.#table(depth + 1)
    if ((code >= C.Zero && code <= C.Nine) || (code === C.Dot && isDigit(this.#s.charCodeAt(this.#i + 1)))) {
      return this.#number()
    }
    let value: Val
    if (code === C.LParen) {
      this.#i++
      value = yield* this.#expr(depth + 1)
      this.#expect(C.RParen, ')')
    } else {
      const start = this.#i
      const name = this.#name()
      if (name === 'nil') return undefined
      if (name === 'true') return true
      if (name === 'false') return false
      if (name === 'function') this.#fail('functions are not supported (this file is read as data, never run)', start)
      if (KEYWORDS.has(name)) this.#fail(`'${name}' is not supported here`, start)
      value = this.#lookup(name)
    }
    for (;;) {
      this.#skip()
      let key: Val
      if (this.#peek(C.Dot) && !this.#peekAt(1, C.Dot)) {
        this.#i++
        key = this.#name()
      } else if (this.#peek(C.LBracket) && this.#longBracketLevel() === undefined) {
        this.#i++
        key = yield* this.#expr(depth + 1)
        this.#expect(C.RBracket, ']')
      } else if (this.#peek(C.LParen) || this.#peekQuote() || this.#peek(C.LBrace) || this.#peekColon()) {
        this.#fail('function calls are not supported (this file is read as data, never run)')
      } else {
        return value
      }
      if (value instanceof Fault) continue
      if (key instanceof Fault) value = key
      else if (!(value instanceof LuaTable)) value = this.#fault(`attempt to index a ${luaType(value)} value`)
      else value = typeof key === 'string' || typeof key === 'number' ? value.get(key) : undefined
    }
  }

  /**
   * A string literal that is a whole key or item (`["1.0-1"]`, `arch =
   * "src",`), read without the expression machinery: most of a manifest is
   * these. Undefined (nothing consumed) when what follows is anything else.
   */
  #plainString(close: number): string | undefined {
    this.#skip()
    const quote = this.#s.charCodeAt(this.#i)
    if (quote !== C.Quote && quote !== C.Apos) return undefined
    const start = this.#i
    this.#tick(1)
    const text = this.#quoted(quote)
    this.#skip()
    const next = this.#s.charCodeAt(this.#i)
    if (next === close || next === C.Comma || next === C.Semi) return text
    this.#i = start
    return undefined
  }

  #lookup(name: string): LuaData {
    if (this.#locals.has(name)) return this.#locals.get(name)
    // An unknown global is nil, as in Lua.
    return this.#globals.get(name)
  }

  *#table(depth: number): Steps<LuaTable | Fault> {
    if (depth > this.#limits.maxDepth) this.#limit('maxDepth', `nests tables deeper than ${this.#limits.maxDepth}`)
    this.#i++ // {
    this.#node()
    const table = new LuaTable()
    // The first fault is the table's value, but only once the whole constructor was read.
    let fault: Fault | undefined
    let next = 1
    for (;;) {
      this.#skip()
      if (this.#peek(C.RBrace)) {
        this.#i++
        return fault ?? table
      }
      let key: Val
      if (this.#peek(C.LBracket) && this.#longBracketLevel() === undefined) {
        this.#i++
        key = this.#plainString(C.RBracket) ?? (yield* this.#expr(depth + 1))
        this.#expect(C.RBracket, ']')
        this.#expect(C.Eq, '=')
      } else if (this.#atFieldName()) {
        key = this.#name()
        this.#expect(C.Eq, '=')
      } else {
        key = next++
      }
      const value = this.#plainString(C.RBrace) ?? (yield* this.#expr(depth + 1))
      if (fault) {
        // Past the first fault the entries are still read (and checked), not stored.
      } else if (key instanceof Fault) fault = key
      else if (value instanceof Fault) fault = value
      else if (typeof key !== 'string' && typeof key !== 'number') {
        fault = this.#fault('table keys must be strings or numbers here')
      } else fault = this.#place(table, key, value)
      this.#skip()
      if (this.#peek(C.Comma) || this.#peek(C.Semi)) this.#i++
      else if (!this.#peek(C.RBrace)) this.#fail("expected ',' or '}' in a table")
    }
  }

  /** `name =` (not `name ==`, not a bare name used as a value). */
  #atFieldName(): boolean {
    FIELD.lastIndex = this.#i
    return FIELD.test(this.#s)
  }

  #name(): string {
    this.#skip()
    NAME.lastIndex = this.#i
    const found = NAME.exec(this.#s)
    if (!found) this.#fail('expected a name')
    this.#i += found[0].length
    return found[0]
  }

  #number(): number {
    NUMBER.lastIndex = this.#i
    const found = NUMBER.exec(this.#s)
    if (!found) this.#fail('malformed number')
    this.#i += found[0].length
    return Number(found[0])
  }

  #quoted(quote: number): string {
    const s = this.#s
    let i = this.#i + 1
    let out = ''
    for (;;) {
      // Plain runs are sliced whole: building a string a character at a time is most of a manifest's garbage.
      const run = i
      let c = s.charCodeAt(i)
      while (i < s.length && c !== quote && c !== C.Backslash && c !== C.LF && c !== C.CR) c = s.charCodeAt(++i)
      if (i > run) out += s.slice(run, i)
      if (i >= s.length) this.#fail('unfinished string')
      if (c === quote) break
      if (c === C.LF || c === C.CR) this.#fail('unfinished string')
      const e = s[i + 1]
      i += 2
      switch (e) {
        case 'n':
          out += '\n'
          break
        case 't':
          out += '\t'
          break
        case 'r':
          out += '\r'
          break
        case 'a':
          out += '\x07'
          break
        case 'b':
          out += '\b'
          break
        case 'f':
          out += '\f'
          break
        case 'v':
          out += '\v'
          break
        case '\\':
        case '"':
        case "'":
          out += e
          break
        case '\n':
        case '\r':
          out += '\n'
          if ((s[i] === '\n' || s[i] === '\r') && s[i] !== e) i++
          break
        case 'x': {
          const hex = s.slice(i, i + 2)
          if (!/^[0-9A-Fa-f]{2}$/.test(hex)) this.#fail('bad \\x escape')
          out += String.fromCharCode(Number.parseInt(hex, 16))
          i += 2
          break
        }
        case 'z':
          while (i < s.length && isSpace(s.charCodeAt(i))) i++
          break
        case 'u': {
          const m = /^\{([0-9A-Fa-f]{1,8})\}/.exec(s.slice(i, i + 10))
          if (!m?.[1]) this.#fail('bad \\u escape')
          const cp = Number.parseInt(m[1], 16)
          if (cp > 0x10ffff) this.#fail('bad \\u escape')
          out += String.fromCodePoint(cp)
          i += m[0].length
          break
        }
        default: {
          const m = /^[0-9]{1,3}/.exec(s.slice(i - 1, i + 2))
          if (!m) this.#fail(`bad escape '\\${e ?? ''}'`)
          const code = Number(m[0])
          if (code > 255) this.#fail('bad decimal escape')
          out += String.fromCharCode(code)
          i += m[0].length - 1
        }
      }
    }
    this.#i = i + 1
    return out
  }

  /** `[[`, `[=[` ...: the level (number of `=`), or undefined when not a long bracket here. */
  #longBracketLevel(at = this.#i): number | undefined {
    const s = this.#s
    if (s.charCodeAt(at) !== C.LBracket) return undefined
    let k = at + 1
    while (s.charCodeAt(k) === C.Eq) k++
    return s.charCodeAt(k) === C.LBracket ? k - at - 1 : undefined
  }

  #longString(): string {
    const level = this.#longBracketLevel() ?? 0
    const open = this.#i + level + 2
    const close = `]${'='.repeat(level)}]`
    const end = this.#s.indexOf(close, open)
    if (end < 0) this.#fail('unfinished long string')
    let text = this.#s.slice(open, end)
    // Lua drops a newline right after the opening bracket.
    if (text.startsWith('\r\n')) text = text.slice(2)
    else if (text.startsWith('\n') || text.startsWith('\r')) text = text.slice(1)
    this.#i = end + close.length
    return text
  }

  /** Skips white space and comments. */
  #skip(): void {
    const s = this.#s
    for (;;) {
      while (this.#i < s.length && isSpace(s.charCodeAt(this.#i))) this.#i++
      if (s.charCodeAt(this.#i) === C.Minus && s.charCodeAt(this.#i + 1) === C.Minus) {
        const level = this.#longBracketLevel(this.#i + 2)
        if (level !== undefined) {
          const close = `]${'='.repeat(level)}]`
          const end = s.indexOf(close, this.#i + 4 + level)
          if (end < 0) this.#fail('unfinished long comment')
          this.#i = end + close.length
        } else {
          const end = s.indexOf('\n', this.#i)
          this.#i = end < 0 ? s.length : end + 1
        }
        continue
      }
      return
    }
  }

  #peek(code: number): boolean {
    return this.#s.charCodeAt(this.#i) === code
  }

  #peekAt(offset: number, code: number): boolean {
    return this.#s.charCodeAt(this.#i + offset) === code
  }

  #peekQuote(): boolean {
    return this.#peek(C.Quote) || this.#peek(C.Apos)
  }

  #peekColon(): boolean {
    return this.#s[this.#i] === ':'
  }

  #expect(code: number, text: string): void {
    this.#skip()
    if (!this.#peek(code)) this.#fail(`expected '${text}'`)
    this.#i++
  }

  #fail(message: string, at = this.#i): never {
    throw new LuaDataError(`${this.#what}:${this.#line(at)}: ${message}`)
  }
}

// Sticky patterns, made once: the reader runs them at every token.
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y
const FIELD = /[A-Za-z_][A-Za-z0-9_]*\s*=(?!=)/y
const NUMBER = /0[xX][0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y
// A whole (trimmed) string that reads as a number. No part can match the
// same characters two ways, so a long non-number fails in linear time.
const NUMERIC = /^(?:0[xX][0-9A-Fa-f]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)$/

const KEYWORDS = new Set([
  'and',
  'break',
  'do',
  'else',
  'elseif',
  'end',
  'for',
  'function',
  'goto',
  'if',
  'in',
  'not',
  'or',
  'repeat',
  'return',
  'then',
  'until',
  'while',
])

/** Why an expression has no value (what Lua would raise), kept until the value is used. */
class Fault {
  constructor(
    readonly message: string,
    /** Offset in the source. */
    readonly at: number,
  ) {}
}

/** A value while an expression is evaluated. */
type Val = LuaData | Fault

const UNARY_PRIORITY = 12
// Lua 5.4's [left, right] priorities (lparser.c); bitwise operators are refused.
const BINARY: Readonly<Record<string, readonly [number, number]>> = {
  or: [1, 1],
  and: [2, 2],
  '<': [3, 3],
  '>': [3, 3],
  '<=': [3, 3],
  '>=': [3, 3],
  '~=': [3, 3],
  '==': [3, 3],
  '..': [9, 8],
  '+': [10, 10],
  '-': [10, 10],
  '*': [11, 11],
  '/': [11, 11],
  '//': [11, 11],
  '%': [11, 11],
  '^': [14, 13],
}

function truthy(value: LuaData): boolean {
  return value !== undefined && value !== false
}

// Lua 5.3+ would print an integral float as "1.0"; the reader does not track
// integer vs float, and versions are written as strings anyway.
function concatText(value: LuaData): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'number') return String(value)
  return undefined
}

// Strings that read as numbers take part in arithmetic, as in Lua.
function toNumber(value: LuaData): number | undefined {
  if (typeof value === 'number') return value
  if (typeof value === 'string') {
    // Trimmed by hand: Lua's white space is not JS's, and a regex `\s+$` is quadratic on long runs.
    let from = 0
    let to = value.length
    while (from < to && isSpace(value.charCodeAt(from))) from++
    while (to > from && isSpace(value.charCodeAt(to - 1))) to--
    const trimmed = value.slice(from, to)
    if (NUMERIC.test(trimmed)) return Number(trimmed)
  }
  return undefined
}

/** Bytes of `text` in UTF-8 (what Lua's `#` counts), without encoding it. */
function utf8Length(text: string): number {
  let n = text.length
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k)
    if (c >= 0xd800 && c <= 0xdbff && k + 1 < text.length) {
      const d = text.charCodeAt(k + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2 // 4 bytes for the pair's 2 units
        k++
        continue
      }
    }
    if (c >= 0x800) n += 2
    else if (c >= 0x80) n += 1
  }
  return n
}

function isNameChar(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95
}

function isSpace(code: number): boolean {
  return code === C.Space || code === C.Tab || code === C.LF || code === C.CR || code === C.VT || code === C.FF
}

function isDigit(code: number): boolean {
  return code >= C.Zero && code <= C.Nine
}

function luaType(value: Val): string {
  if (value === undefined) return 'nil'
  if (value instanceof LuaTable) return 'table'
  return typeof value
}

/** The table at `key` of `table`, or undefined when it is absent or not a table. */
export function tableAt(table: LuaTable | Map<string, LuaData> | undefined, key: string): LuaTable | undefined {
  const v = table?.get(key)
  return v instanceof LuaTable ? v : undefined
}

/** The string at `key` of `table`, or undefined when it is absent or not a string. */
export function stringAt(table: LuaTable | Map<string, LuaData> | undefined, key: string): string | undefined {
  const v = table?.get(key)
  return typeof v === 'string' ? v : undefined
}

/** `text` cut for an error message: values from rock servers can be megabytes long. */
export function preview(text: string, max = 120): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`
}
