import fc from 'fast-check'

/**
 * A generator of random but valid Lua programs whose output is
 * deterministic, for differential fuzzing of the backends (native lua5.4,
 * wasm, fengari). Programs are ASTs built from fast-check arbitraries, so a
 * disagreement shrinks to a small program; `render` turns one into source.
 *
 * Deterministic means: no `pairs` order, no table/function addresses, no
 * clocks or `math.random`, sort comparators that are strict orders, loops
 * with small bounds. Errors are fine — they are deterministic too, and each
 * statement runs under `pcall` (a few do not, to cover uncaught errors) —
 * so division by zero, bad `string.format` arguments or malformed patterns
 * compare their messages.
 *
 * Every statement prints a line starting with its tag (`s3`), so the first
 * differing line of two runs names the statement, and its features say
 * what it exercised (the fengari classifier reads them).
 */

/** What a piece of code exercises. */
export type Feature =
  | 'bigint' // integer literals or results beyond 32 bits, math.maxinteger/mininteger
  | 'bitwise'
  | 'idiv'
  | 'mod'
  | 'float'
  | 'special-float' // inf, nan, -0.0, subnormals, huge magnitudes
  | 'libm' // sin/cos/exp/log/pow: results come from the C library
  | 'strarith' // arithmetic on numeric strings
  | 'concat-number'
  | 'tostring'
  | 'tonumber'
  | 'math.type'
  | 'format'
  | 'format-d'
  | 'format-q'
  | 'format-a'
  | 'format-float'
  | 'pattern'
  | 'gsub'
  | 'gmatch'
  | 'table'
  | 'sort'
  | 'closure'
  | 'vararg'
  | 'coroutine'
  | 'error'
  | 'utf8'
  | 'loop'
  | 'for-overflow'
  | 'string'
  | 'fmod'

/** A piece of Lua: literal text and sub-pieces, plus what it exercises. */
export interface Code {
  parts: Array<string | Code>
  f: Feature[]
}

/** One top-level statement; `TAG` in its text becomes its tag literal. */
export interface Statement {
  kind: string
  code: Code
}

/** How a program ends after its statements. */
export type Tail =
  | { kind: 'return'; values: Code[] }
  | { kind: 'error'; value: Code }
  | { kind: 'runtime-error'; code: Code }
  | { kind: 'syntax-error'; text: string }

/** A generated program. */
export interface Program {
  /** Literal values of the locals every statement may read (see {@link PRELUDE_NAMES}). */
  prelude: Code[]
  body: Statement[]
  tail: Tail
}

/** Placeholder for a statement's tag inside its code. */
export const TAG = '\u0000TAG\u0000'

/** The locals of the prelude, by type. */
export const PRELUDE_NAMES = {
  int: ['i1', 'i2', 'i3'],
  float: ['f1', 'f2'],
  str: ['s1', 's2'],
  intList: ['t1'],
  strList: ['t2'],
} as const

// ---- building code ---------------------------------------------------------

const code = (parts: Array<string | Code>, f: Feature[] = []): Code => ({ parts, f })
const bin = (a: Code, op: string, b: Code): Code => code(['(', a, ` ${op} `, b, ')'], opFeatures(op))
const call = (fn: string, args: Code[], f: Feature[] = []): Code =>
  code([`${fn}(`, ...args.flatMap((a, i) => (i ? [', ', a] : [a])), ')'], f)
/** A call truncated to its first value. */
const first = (c: Code): Code => code(['(', c, ')'])

function opFeatures(op: string): Feature[] {
  switch (op) {
    case '//':
      return ['idiv']
    case '%':
      return ['mod']
    case '&':
    case '|':
    case '~':
    case '<<':
    case '>>':
      return ['bitwise']
    case '^':
      return ['libm', 'float']
    case '/':
      return ['float']
    case '..':
      return ['string']
    default:
      return []
  }
}

/** Lua source of a program. */
export function render(p: Program): string {
  const [i1, i2, i3, f1, f2, s1, s2, t1, t2] = p.prelude.map(text)
  const lines = [
    `local i1, i2, i3 = ${i1}, ${i2}, ${i3}`,
    `local f1, f2 = ${f1}, ${f2}`,
    `local s1, s2 = ${s1}, ${s2}`,
    `local t1, t2 = ${t1}, ${t2}`,
  ]
  p.body.forEach((s, i) => {
    lines.push(text(s.code).split(TAG).join(`"s${i}"`))
  })
  const t = p.tail
  if (t.kind === 'return') lines.push(`return ${t.values.map(text).join(', ')}`)
  else if (t.kind === 'error') lines.push(`error(${text(t.value)})`)
  else if (t.kind === 'runtime-error') lines.push(text(t.code))
  else lines.push(t.text)
  return `${lines.join('\n')}\n`
}

/** The text of a piece of code. */
export function text(c: Code): string {
  return c.parts.map((p) => (typeof p === 'string' ? p : text(p))).join('')
}

/** Every feature a whole program exercises (prelude, statements and tail). */
export function programFeatures(p: Program): Set<Feature> {
  const out = new Set<Feature>()
  const t = p.tail
  const parts: Code[] = [
    ...p.prelude,
    ...p.body.map((s) => s.code),
    ...(t.kind === 'return' ? t.values : t.kind === 'error' ? [t.value] : t.kind === 'runtime-error' ? [t.code] : []),
  ]
  for (const c of parts) for (const f of features(c)) out.add(f)
  return out
}

/** Every feature a piece of code (or a statement) exercises. */
export function features(c: Code): Set<Feature> {
  const out = new Set<Feature>(c.f)
  for (const p of c.parts) if (typeof p !== 'string') for (const f of features(p)) out.add(f)
  return out
}

// ---- literals ----------------------------------------------------------------

const MAXI = 2n ** 63n - 1n
const MINI = -(2n ** 63n)

function intLiteral(v: bigint): Code {
  // -2^31 fits 32 bits, but its literal (2^31, negated) does not: fengari reads it as a float.
  const big = v >= 2n ** 31n || v <= -(2n ** 31n)
  const f: Feature[] = big ? ['bigint'] : []
  if (v === MINI) return code(['math.mininteger'], ['bigint'])
  if (v === MAXI) return code(['math.maxinteger'], ['bigint'])
  return code([v < 0n ? `(${v})` : String(v)], f)
}

function floatLiteral(x: number): Code {
  if (Number.isNaN(x)) return code(['(0/0)'], ['special-float', 'float'])
  if (x === Number.POSITIVE_INFINITY) return code(['math.huge'], ['special-float', 'float'])
  if (x === Number.NEGATIVE_INFINITY) return code(['(-math.huge)'], ['special-float', 'float'])
  if (Object.is(x, -0)) return code(['(-0.0)'], ['special-float', 'float'])
  let s = String(Math.abs(x))
  if (!/[.e]/.test(s)) s += '.0'
  const special = Math.abs(x) >= 1e15 || (x !== 0 && Math.abs(x) < 1e-5)
  const f: Feature[] = special ? ['float', 'special-float'] : ['float']
  // Integral floats beyond ±2^31 convert to integers on 64-bit Luas only (math.tointeger, %d, bitwise ops).
  if (Math.abs(x) >= 2 ** 31) f.push('bigint')
  return code([x < 0 ? `(-${s})` : s], f)
}

/** A Lua string literal holding exactly the bytes of `s` (UTF-8 for non-ASCII). */
export function luaString(s: string): string {
  let out = '"'
  for (const byte of Buffer.from(s, 'utf8')) {
    if (byte === 0x22) out += '\\"'
    else if (byte === 0x5c) out += '\\\\'
    else if (byte === 0x0a) out += '\\n'
    else if (byte === 0x09) out += '\\t'
    else if (byte < 0x20 || byte >= 0x7f) out += `\\${byte}`
    else out += String.fromCharCode(byte)
  }
  return `${out}"`
}

const smallInt = fc.integer({ min: -12, max: 12 })

const intAtom: fc.Arbitrary<Code> = fc.oneof(
  { arbitrary: smallInt.map((n) => intLiteral(BigInt(n))), weight: 6 },
  {
    arbitrary: fc
      .constantFrom(
        100n,
        255n,
        256n,
        1000n,
        65535n,
        2n ** 31n - 1n,
        -(2n ** 31n),
        2n ** 31n,
        2n ** 32n,
        2n ** 53n + 1n,
        MAXI,
        MINI,
      )
      .map(intLiteral),
    weight: 2,
  },
  { arbitrary: fc.bigInt({ min: MINI, max: MAXI }).map(intLiteral), weight: 1 },
  { arbitrary: fc.constantFrom(...PRELUDE_NAMES.int).map((n) => code([n])), weight: 5 },
)

const floatAtom: fc.Arbitrary<Code> = fc.oneof(
  { arbitrary: fc.integer({ min: -64, max: 64 }).map((n) => floatLiteral(n / 4)), weight: 5 },
  {
    arbitrary: fc
      .constantFrom(
        0.1,
        0.5,
        1e15,
        1e16,
        2 ** 53,
        2 ** 63,
        1e100,
        -0,
        1 / 3,
        5e-324,
        1.7976931348623157e308,
        123456789.125,
        1e-7,
        2 ** 31,
      )
      .map(floatLiteral),
    weight: 2,
  },
  {
    arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e300, max: 1e300 }).map(floatLiteral),
    weight: 1,
  },
  {
    arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY).map(floatLiteral),
    weight: 1,
  },
  { arbitrary: fc.constant(code(['math.pi'], ['float'])), weight: 1 },
  { arbitrary: fc.constantFrom(...PRELUDE_NAMES.float).map((n) => code([n], ['float'])), weight: 5 },
)

/** Subjects for strings and patterns: a small alphabet, so patterns find things. */
const SUBJECT_CHARS = 'aabbxyzAB019 ,.-_()%[]'.split('')

const strAtom: fc.Arbitrary<Code> = fc.oneof(
  {
    arbitrary: fc
      .constantFrom(
        '',
        'abc',
        'Hello World',
        'a,b,,c',
        '  padded  ',
        '123',
        '-7',
        '0x1F',
        '1e3',
        '3.5',
        ' 42 ',
        'x\u0000y',
        'tab\tnew\nline',
        'quote"s\\',
        'ümlaut',
        '日本語',
        '%d items',
        '(x)',
        'banana',
        'key=value; k2=v2',
      )
      .map((s) => code([luaString(s)])),
    weight: 4,
  },
  {
    arbitrary: fc.string({ unit: fc.constantFrom(...SUBJECT_CHARS), maxLength: 12 }).map((s) => code([luaString(s)])),
    weight: 3,
  },
  { arbitrary: fc.constant(code(['"\\xff\\xfe\\x80"'], ['utf8'])), weight: 1 },
  { arbitrary: fc.constantFrom(...PRELUDE_NAMES.str).map((n) => code([n])), weight: 5 },
)

// ---- expressions ---------------------------------------------------------------

interface Exprs {
  int: Code
  flt: Code
  num: Code
  str: Code
  bool: Code
}

const depth = { depthSize: 'small', maxDepth: 3, withCrossShrink: true } as const

/** Typed expressions: int, float, number, string, boolean. Results may still be nil or an error (under pcall). */
export const expr = fc.letrec((looseTie) => {
  const tie = (key: keyof Exprs) => looseTie(key) as fc.Arbitrary<Code>
  const int = tie('int')
  const flt = tie('flt')
  const num = tie('num')
  const str = tie('str')
  const small = smallInt.map((n) => intLiteral(BigInt(n)))
  return {
    int: fc.oneof(
      depth,
      { arbitrary: intAtom, weight: 6 },
      {
        arbitrary: fc
          .tuple(int, fc.constantFrom('+', '-', '*', '//', '%', '&', '|', '~', '<<', '>>'), int)
          .map(([a, op, b]) => bin(a, op, b)),
        weight: 4,
      },
      {
        arbitrary: fc
          .tuple(fc.constantFrom('-', '~'), int)
          .map(([op, a]) => code(['(', op, ' ', a, ')'], op === '~' ? ['bitwise'] : [])),
        weight: 1,
      },
      { arbitrary: str.map((s) => code(['#', s])), weight: 1 },
      { arbitrary: fc.constant(code(['#t1'], ['table'])), weight: 1 },
      {
        arbitrary: fc.oneof(
          int.map((a) => call('math.abs', [a])),
          fc.tuple(int, int).map(([a, b]) => call('math.max', [a, b])),
          fc.tuple(int, int, int).map(([a, b, c]) => call('math.min', [a, b, c])),
          num.map((a) => call('math.tointeger', [a], ['math.type'])),
          num.map((a) => call('math.floor', [a])),
          num.map((a) => call('math.ceil', [a])),
          fc.tuple(int, int).map(([a, b]) => call('math.fmod', [a, b], ['fmod'])),
          fc.tuple(str, small).map(([s, i]) => first(call('string.byte', [s, i]))),
          str.map((s) => first(call('utf8.len', [s], ['utf8']))),
          small.map((i) => code(['t1[', i, ']'], ['table'])),
          fc.tuple(int, str).map(([a, s]) => call('select', [code(['"#"']), a, s, code(['nil'])], ['vararg'])),
        ),
        weight: 2,
      },
    ),
    flt: fc.oneof(
      depth,
      { arbitrary: floatAtom, weight: 6 },
      {
        arbitrary: fc
          .tuple(flt, fc.constantFrom('+', '-', '*', '/', '//', '%', '^'), num)
          .map(([a, op, b]) => code([bin(a, op, b)], ['float'])),
        weight: 4,
      },
      { arbitrary: fc.tuple(num, num).map(([a, b]) => bin(a, '/', b)), weight: 2 },
      { arbitrary: flt.map((a) => code(['(- ', a, ')'], ['float'])), weight: 1 },
      { arbitrary: int.map((a) => code(['(', a, ' + 0.0)'], ['float'])), weight: 1 },
      {
        arbitrary: fc.oneof(
          num.map((a) => call('math.sqrt', [a], ['float'])),
          fc
            .tuple(fc.constantFrom('math.sin', 'math.cos', 'math.exp', 'math.log'), num)
            .map(([fn, a]) => call(fn, [a], ['libm', 'float'])),
          fc.tuple(flt, num).map(([a, b]) => call('math.fmod', [a, b], ['fmod', 'float'])),
          flt.map((a) => call('math.abs', [a], ['float'])),
          small.map((k) => code(['(2^', k, ')'], ['float', 'libm'])),
          fc
            .constantFrom('"3.5"', '"1e3"', '"0x10p1"', '" 7.25 "', '"-0.0"', '".5"', '"5."')
            .map((s) => call('tonumber', [code([s])], ['tonumber', 'float'])),
        ),
        weight: 2,
      },
    ),
    num: fc.oneof(depth, int, flt),
    str: fc.oneof(
      depth,
      { arbitrary: strAtom, weight: 6 },
      { arbitrary: fc.tuple(str, str).map(([a, b]) => bin(a, '..', b)), weight: 2 },
      {
        arbitrary: fc
          .tuple(fc.boolean(), num, str)
          .map(([numFirst, n, s]) => code([numFirst ? bin(n, '..', s) : bin(s, '..', n)], ['concat-number'])),
        weight: 2,
      },
      { arbitrary: num.map((n) => call('tostring', [n], ['tostring'])), weight: 2 },
      { arbitrary: num.map((n) => call('math.type', [n], ['math.type'])), weight: 1 },
      {
        arbitrary: fc.oneof(
          fc
            .tuple(str, fc.integer({ min: -1, max: 4 }), fc.option(strAtom, { nil: undefined }))
            .map(([s, n, sep]) =>
              call('string.rep', sep ? [s, intLiteral(BigInt(n)), sep] : [s, intLiteral(BigInt(n))]),
            ),
          fc.tuple(str, small, small).map(([s, i, j]) => call('string.sub', [s, i, j])),
          fc.tuple(fc.constantFrom('upper', 'lower', 'reverse'), str).map(([m, s]) => call(`string.${m}`, [s])),
          fc.array(fc.integer({ min: -2, max: 258 }), { minLength: 1, maxLength: 4 }).map((bytes) =>
            call(
              'string.char',
              bytes.map((b) => intLiteral(BigInt(b))),
            ),
          ),
          fc
            .tuple(fc.constantFrom('t1', 't2'), strAtom)
            .map(([t, sep]) => call('table.concat', [code([t]), sep], ['table'])),
          fc
            .array(fc.oneof(fc.integer({ min: 0, max: 0x7ff }), fc.constantFrom(0x10ffff, 0x110000, 0x7fffffff)), {
              minLength: 1,
              maxLength: 3,
            })
            .map((cps) =>
              call(
                'utf8.char',
                cps.map((c) => intLiteral(BigInt(c))),
                ['utf8'],
              ),
            ),
          // %q of a number only appears in format statements, printed as is: its text
          // (hex floats) differs by C library for subnormals, and must not flow into
          // computations the comparison cannot normalize.
          str.map((s) => call('string.format', [code(['"%q"']), s], ['format', 'format-q'])),
        ),
        weight: 2,
      },
    ),
    bool: fc.oneof(
      depth,
      {
        arbitrary: fc
          .tuple(num, fc.constantFrom('<', '<=', '==', '~=', '>', '>='), num)
          .map(([a, op, b]) => bin(a, op, b)),
        weight: 3,
      },
      { arbitrary: fc.tuple(str, fc.constantFrom('<', '==', '>='), str).map(([a, op, b]) => bin(a, op, b)), weight: 2 },
      { arbitrary: fc.tuple(int, int).map(([a, b]) => call('math.ult', [a, b])), weight: 1 },
      { arbitrary: fc.constantFrom('true', 'false').map((b) => code([b])), weight: 1 },
      { arbitrary: tie('bool').map((b) => code(['(not ', b, ')'])), weight: 1 },
      {
        arbitrary: fc.tuple(tie('bool'), fc.constantFrom('and', 'or'), tie('bool')).map(([a, op, b]) => bin(a, op, b)),
        weight: 1,
      },
    ),
  } satisfies Record<keyof Exprs, fc.Arbitrary<Code>>
}) as { [K in keyof Exprs]: fc.Arbitrary<Code> }

/** Any typed expression. */
const anyExpr = fc.oneof(expr.int, expr.flt, expr.str, expr.bool)

// ---- patterns and formats ---------------------------------------------------

const patternItem = fc.oneof(
  {
    arbitrary: fc.tuple(
      fc.constantFrom(
        'a',
        'b',
        'x',
        '1',
        ' ',
        ',',
        '.',
        '%a',
        '%d',
        '%l',
        '%u',
        '%s',
        '%w',
        '%p',
        '%x',
        '%A',
        '%D',
        '%S',
        '%W',
        '%.',
        '%%',
        '%(',
        '[abc]',
        '[^a]',
        '[a-z]',
        '[%d,]',
        '[^%s]',
        '[%a_]',
      ),
      fc.constantFrom('', '', '', '*', '+', '-', '?'),
    ),
    weight: 8,
  },
  {
    arbitrary: fc
      .constantFrom('(%a+)', '(%d+)', '()', '(.)', '%b()', '%f[%w]', '%f[%W]', '(a*(b))', '%1')
      .map((s) => [s, ''] as [string, string]),
    weight: 2,
  },
  // Malformed on purpose: their error messages are compared too.
  {
    arbitrary: fc.constantFrom('[a', '%', '(%a', '%b', '%f', '%9', ')').map((s) => [s, ''] as [string, string]),
    weight: 1,
  },
)

/** A Lua pattern (a literal), sometimes anchored, rarely malformed. */
export const pattern: fc.Arbitrary<Code> = fc
  .tuple(fc.boolean(), fc.array(patternItem, { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([start, items, end]) =>
    code([luaString(`${start ? '^' : ''}${items.map(([a, q]) => a + q).join('')}${end ? '$' : ''}`)], ['pattern']),
  )

const subject = fc.oneof(
  {
    arbitrary: fc.string({ unit: fc.constantFrom(...SUBJECT_CHARS), maxLength: 16 }).map((s) => code([luaString(s)])),
    weight: 3,
  },
  { arbitrary: expr.str, weight: 1 },
)

type FormatArg = 'int' | 'num' | 'str' | 'any' | 'byte' | 'none'
const FORMAT_SPECS: ReadonlyArray<readonly [string, FormatArg, Feature[]]> = [
  ['%d', 'int', ['format-d']],
  ['%5d', 'int', ['format-d']],
  ['%-5d|', 'int', ['format-d']],
  ['%05d', 'int', ['format-d']],
  ['%+d', 'int', ['format-d']],
  ['%i', 'int', ['format-d']],
  ['%d', 'num', ['format-d']], // a float: fine when integral, an error otherwise
  ['%x', 'int', []],
  ['%X', 'int', []],
  ['%o', 'int', []],
  ['%c', 'byte', []],
  ['%s', 'any', ['tostring']],
  ['%10s|', 'any', ['tostring']],
  ['%-8s|', 'str', []],
  ['%.3s', 'str', []],
  ['%5.2f', 'num', ['format-float']],
  ['%.3f', 'num', ['format-float']],
  ['%f', 'num', ['format-float']],
  ['%e', 'num', ['format-float']],
  ['%.3e', 'num', ['format-float']],
  ['%g', 'num', ['format-float']],
  ['%.14g', 'num', ['format-float']],
  ['%10.4g', 'num', ['format-float']],
  ['%a', 'num', ['format-a']],
  ['%q', 'str', ['format-q']],
  ['%q', 'int', ['format-q']],
  ['%q', 'num', ['format-q']],
  ['%%', 'none', []],
]

const formatCall = fc
  .array(fc.constantFrom(...FORMAT_SPECS), { minLength: 1, maxLength: 3 })
  .chain((specs) => {
    const args = specs
      .filter(([, arg]) => arg !== 'none')
      .map(([, arg]) =>
        arg === 'int'
          ? expr.int
          : arg === 'num'
            ? expr.num
            : arg === 'str'
              ? expr.str
              : arg === 'byte'
                ? fc.integer({ min: 0, max: 255 }).map((b) => intLiteral(BigInt(b)))
                : anyExpr,
      )
    return fc.tuple(fc.constant(specs), fc.tuple(...args))
  })
  .map(([specs, args]) =>
    code(
      ['pcall(string.format, ', luaString(specs.map(([s]) => s).join(' ')), ...args.flatMap((a) => [', ', a]), ')'],
      ['format', ...specs.flatMap(([, , f]) => f)],
    ),
  )

// ---- statements ----------------------------------------------------------------

const stmt = (kind: string, parts: Array<string | Code>, f: Feature[] = []): Statement => ({
  kind,
  code: code(parts, f),
})
const pcallPrint = (kind: string, body: Array<string | Code>, f: Feature[] = []): Statement =>
  stmt(kind, [`print(${TAG}, pcall(function() `, ...body, ' end))'], f)

const listOf = (e: fc.Arbitrary<Code>, max = 5) =>
  fc
    .array(e, { minLength: 0, maxLength: max })
    .map((items) => code(['{', ...items.flatMap((x, i) => (i ? [', ', x] : [x])), '}']))

/** Comparators that are strict orders (so sort's result is defined), with the element type they take. */
const COMPARATORS = {
  num: [
    'nil',
    'function(a, b) return a > b end',
    'function(a, b) return math.abs(a) < math.abs(b) or (math.abs(a) == math.abs(b) and a < b) end',
  ],
  str: [
    'nil',
    'function(a, b) return a > b end',
    'function(a, b) if #a ~= #b then return #a < #b end return a < b end',
  ],
}

const statements: Record<string, fc.Arbitrary<Statement>> = {
  values: fc
    .array(anyExpr, { minLength: 1, maxLength: 3 })
    .map((es) => pcallPrint('values', ['return ', ...es.flatMap((e, i) => (i ? [', ', e] : [e]))])),
  direct: anyExpr.map((e) => stmt('direct', [`print(${TAG}, `, e, ')'])),
  format: formatCall.map((c) => stmt('format', [`print(${TAG}, `, c, ')'])),
  find: fc
    .tuple(subject, pattern, fc.option(fc.integer({ min: -4, max: 6 }), { nil: undefined }), fc.boolean())
    .map(([s, p, init, plain]) =>
      stmt('find', [
        `print(${TAG}, pcall(string.find, `,
        s,
        ', ',
        p,
        init === undefined ? '' : `, ${init}${plain ? ', true' : ''}`,
        '))',
      ]),
    ),
  match: fc
    .tuple(subject, pattern)
    .map(([s, p]) => stmt('match', [`print(${TAG}, pcall(string.match, `, s, ', ', p, '))'])),
  gsub: fc
    .tuple(
      subject,
      pattern,
      fc.oneof(
        fc.constantFrom('"<%0>"', '"%1%1"', '"-"', '""', '"%%"', '"%2"').map((r) => code([r])),
        fc
          .constantFrom(
            'function(c) return c:upper() end',
            'function(c) return nil end',
            'function(c) return #c end',
            'function(a, b) return tostring(b) .. tostring(a) end',
          )
          .map((r) => code([r], ['closure'])),
        fc.constant(code(['{ a = "A", b = false, x = 10 }'])),
      ),
      fc.option(fc.integer({ min: -1, max: 3 }), { nil: undefined }),
    )
    .map(([s, p, r, n]) =>
      stmt(
        'gsub',
        [`print(${TAG}, pcall(string.gsub, `, s, ', ', p, ', ', r, n === undefined ? '' : `, ${n}`, '))'],
        ['gsub'],
      ),
    ),
  gmatch: fc
    .tuple(subject, pattern)
    .map(([s, p]) =>
      pcallPrint(
        'gmatch',
        [
          'local acc = {} for a, b in string.gmatch(',
          s,
          ', ',
          p,
          ') do acc[#acc + 1] = tostring(a) .. "/" .. tostring(b) if #acc > 40 then break end end return #acc, table.concat(acc, ",")',
        ],
        ['gmatch'],
      ),
    ),
  table: fc
    .oneof(
      fc.tuple(fc.constant('num'), listOf(expr.num), expr.num, fc.constantFrom(...COMPARATORS.num)),
      fc.tuple(fc.constant('str'), listOf(expr.str), expr.str, fc.constantFrom(...COMPARATORS.str)),
    )
    .chain(([type, list, extra, cmp]) =>
      fc
        .tuple(fc.integer({ min: -1, max: 6 }), fc.integer({ min: 0, max: 6 }), fc.boolean())
        .map(([pos, removeAt, removeLast]) =>
          pcallPrint(
            'table',
            [
              'local t = ',
              list,
              ' table.insert(t, ',
              extra,
              ') ',
              pos >= 0 ? `table.insert(t, ${pos}, t[1] or ${type === 'num' ? '0' : '""'}) ` : '',
              `local r = table.remove(t${removeLast ? '' : `, ${removeAt}`}) `,
              `table.sort(t, ${cmp}) `,
              'return r, #t, table.concat(t, ","), select("#", table.unpack(t))',
            ],
            ['table', 'sort'],
          ),
        ),
    ),
  closure: fc
    .tuple(expr.int, expr.int, expr.int, expr.int, fc.integer({ min: 1, max: 6 }))
    .map(([a, b, c, d, n]) =>
      pcallPrint(
        'closure',
        [
          'local function mk(n) local c = n return function(d) c = c + d return c end end ',
          'local p, q = mk(',
          a,
          '), mk(',
          b,
          ') ',
          `local fs = {} for i = 1, ${n} do fs[i] = function() return i * `,
          c,
          ' end end ',
          'return p(',
          d,
          '), p(1), q(-1), p(0), fs[1](), fs[#fs]()',
        ],
        ['closure'],
      ),
    ),
  vararg: fc
    .tuple(fc.array(fc.oneof(anyExpr, fc.constant(code(['nil']))), { maxLength: 5 }), fc.integer({ min: -3, max: 5 }))
    .map(([args, k]) =>
      pcallPrint(
        'vararg',
        [
          'local function va(...) local t = table.pack(...) ',
          `return select("#", ...), t.n, (select(${k}, ...)) end `,
          'local function count(...) return select("#", ...) end ',
          'return va(',
          ...args.flatMap((a, i) => (i ? [', ', a] : [a])),
          '), count(va()), count(table.unpack({1, 2, 3}))',
        ],
        ['vararg'],
      ),
    ),
  coroutine: fc
    .tuple(expr.int, fc.array(expr.num, { minLength: 1, maxLength: 4 }), fc.boolean(), anyExpr)
    .map(([start, sends, fail, err]) =>
      stmt(
        'coroutine',
        [
          'do local co = coroutine.create(function(a) local s = a ',
          'for i = 1, 3 do s = s + coroutine.yield(s, i) end ',
          fail ? ['error(', err, ') '] : '',
          'return "end", s end) ',
          `print(${TAG}, coroutine.resume(co, `,
          start,
          ')) ',
          ...sends.flatMap((v) => [`print(${TAG}, coroutine.status(co), coroutine.resume(co, `, v, ')) ']),
          `print(${TAG}, coroutine.status(co), coroutine.resume(co, 0)) `,
          `local gen = coroutine.wrap(function(n) for i = 1, n do coroutine.yield(i * 2) end end) `,
          `print(${TAG}, gen(3), gen(), gen(), coroutine.isyieldable()) end`,
        ].flat(),
        ['coroutine'],
      ),
    ),
  error: fc
    .oneof(
      anyExpr.map((e) => code(['pcall(error, ', e, ')'])),
      fc
        .tuple(anyExpr, fc.integer({ min: 0, max: 2 }))
        .map(([e, l]) => code(['pcall(function() error(', e, `, ${l}) end)`])),
      expr.int.map((e) => code(['select(2, pcall(function() error({ code = ', e, ' }) end)).code'])),
      fc
        .constantFrom(
          'pcall(function() local x return x.y end)',
          'pcall(function() local t = {} return t.a.b end)',
          'pcall(function() return #5 end)',
          'pcall(function() return 1 < "2" end)',
          'pcall(function() return {} < {} end)',
          'pcall(function() undefined_function() end)',
          'pcall(function() local s = "x" return s:nomethod() end)',
          'pcall(function() return ("x") + 1 end)',
          'pcall(function() return 2^53 | 0 end)',
          'pcall(function() return 1.5 // 0 end)',
          'pcall(function() return 1 % 0 end)',
          'pcall(function() return math.tointeger(2^63) end)',
          'pcall(string.rep)',
          'pcall(string.rep, "x", -1)',
          'pcall(string.char, 256)',
          'pcall(setmetatable, 1, {})',
          'pcall(math.floor, "x")',
          'pcall(tostring)',
          'pcall(error)',
          'pcall(select, 0)',
          'pcall(string.format, "%d", "x")',
          'pcall(string.format, "%y", 1)',
          'pcall(table.concat, {1, {}, 3})',
          'pcall(table.insert, {}, 5, 1)',
          'pcall(ipairs)',
          'pcall(function() coroutine.create(1) end)',
          'pcall(function() coroutine.wrap({}) end)',
          'pcall(function() coroutine.resume(1) end)',
          'pcall(coroutine.resume, coroutine.create(function() end), 1, 2)',
          'pcall(function() local co = coroutine.wrap(function() error("in co") end) co() end)',
          'pcall(function() local co = coroutine.wrap(function() return 1 end) co() co() end)',
          'pcall(function() setmetatable({}, 1) end)',
          'pcall(function() setmetatable(setmetatable({}, { __metatable = "locked" }), {}) end)',
          'pcall(function() return getmetatable("x").__index == string end)',
          'pcall(function() return tostring(setmetatable({}, { __tostring = function() return "T" end })) end)',
          'pcall(function() return tostring(setmetatable({}, { __name = "MyType" })):match("^MyType") end)',
          'pcall(function() return #setmetatable({}, { __len = function() return 7 end }) end)',
          'pcall(function() return setmetatable({}, { __add = function(a, b) return 99 end }) + 1 end)',
          'pcall(function() return setmetatable({}, { __concat = function(a, b) return "cat" end }) .. "x" end)',
          'pcall(function() return setmetatable({}, { __eq = function() return true end }) == setmetatable({}, { __eq = function() return true end }) end)',
          'pcall(function() return setmetatable({}, { __lt = function() return true end }) < {} end)',
          'pcall(function() return setmetatable({}, { __call = function(self, a) return a * 2 end })(21) end)',
          'pcall(function() return setmetatable({}, { __index = function(t, k) return k .. "!" end }).key end)',
          'pcall(load, "return 1 +")',
          'pcall(function() return load("return ...", "=c")(4, 5) end)',
          'pcall(function() return load("syntax error here", "=mychunk") end)',
          'pcall(function() return load(function() return nil end)() end)',
          'pcall(string.format, "%5.2q", "x")',
          'pcall(string.format, "%10q", 1)',
          'pcall(string.rep, "ab", 3, 1)',
          'pcall(table.unpack, {1, 2, 3}, -1, 1)',
          'pcall(table.concat, {1, 2, 3}, ", ", 2, 5)',
          'pcall(table.sort, {3, 1, "x"})',
          'pcall(math.random, 1, 0)',
          'pcall(utf8.codepoint, "\\xff")',
          'pcall(utf8.char, -1)',
          'pcall(string.byte, "abc", 0, 10)',
          'pcall(next, {}, "nope")',
          'pcall(rawlen, 5)',
          'pcall(rawequal, 1)',
          'pcall(select, -5, 1, 2)',
          'pcall(string.pack, "i4", 1)',
          'pcall(function() return 10 // 0.0, -10 // 0.0, 0/0 ~= 0/0, 3 % math.huge, -3 % math.huge end)',
          'pcall(function() return math.maxinteger + 0.0 == math.maxinteger, math.mininteger // -1, math.mininteger % -1 end)',
          'pcall(function() return 1e308 * 10, -1e308 * 10, 2^1024, math.abs(math.mininteger) end)',
          'xpcall(function() error("deep") end, function(m) return "handled: " .. m end)',
          'xpcall(function() local t = nil; return t[1] end, function(m) return (m:gsub("^.-:%d+: ", "")) end)',
        )
        .map((s) => code([s])),
    )
    .map((c) => stmt('error', [`print(${TAG}, `, c, ')'], ['error'])),
  arith: fc
    .tuple(
      fc.array(fc.oneof(expr.int, expr.flt), { minLength: 2, maxLength: 2 }),
      fc.constantFrom('//', '%', '/', '^', '*', '-'),
    )
    .map(([[a, b], op]) =>
      pcallPrint(
        'arith',
        [
          'local a, b = ',
          a as Code,
          ', ',
          b as Code,
          ` return a ${op} b, -a ${op} b, a ${op} -b, math.type(a ${op} b)`,
        ],
        [...opFeatures(op), 'math.type'],
      ),
    ),
  strarith: fc
    .tuple(
      fc.constantFrom('"10"', '"3"', '"-7"', '"0x10"', '"2.5"', '" 8 "', '"1e2"'),
      fc.constantFrom('+', '-', '*', '//', '%', '/'),
      fc.oneof(
        expr.int,
        fc.constantFrom('"4"', '"-2"', '"0.5"').map((s) => code([s])),
      ),
    )
    .map(([a, op, b]) =>
      pcallPrint('strarith', [`local r = ${a} ${op} `, b, ' return r, math.type(r)'], ['strarith', ...opFeatures(op)]),
    ),
  convert: expr.num.map((n) =>
    pcallPrint(
      'convert',
      [
        'local x = ',
        n,
        ' return x, tostring(x), math.type(x), x .. "", math.tointeger(x), tonumber(tostring(x)) == x, string.format("%.14g", x)',
      ],
      ['tostring', 'math.type', 'concat-number', 'format'],
    ),
  ),
  tonumber: fc
    .tuple(
      fc.constantFrom(
        '"42"',
        '"0x1A"',
        '" 10 "',
        '"1e2"',
        '"10"',
        '"zz"',
        '"7fffffffffffffff"',
        '"-0"',
        '"1.5e308"',
        '"9223372036854775808"',
      ),
      fc.option(fc.integer({ min: 2, max: 36 }), { nil: undefined }),
    )
    .map(([s, base]) =>
      stmt('tonumber', [`print(${TAG}, pcall(tonumber, ${s}${base === undefined ? '' : `, ${base}`}))`], ['tonumber']),
    ),
  loop: fc
    .tuple(
      fc.integer({ min: -3, max: 6 }),
      fc.integer({ min: -3, max: 8 }),
      fc.constantFrom('1', '2', '-1', '0.5', '-0.75', '3'),
      expr.num,
    )
    .map(([from, to, step, body]) =>
      pcallPrint(
        'loop',
        [
          `local acc, n = {}, 0 for i = ${from}, ${to}, ${step} do n = n + 1 acc[#acc + 1] = i if n > 30 then break end end `,
          'local w = 0 while w < 5 do w = w + 1 end ',
          'local r = 0 repeat r = r + 2 until r >= 7 ',
          'local s = 0 for _, v in ipairs({3, 4, 5}) do s = s + v end ',
          'local x = ',
          body,
          ' return n, table.concat(acc, " "), w, r, s, x',
        ],
        ['loop'],
      ),
    ),
  forOverflow: fc
    .constantFrom(
      'for i = math.maxinteger - 2, math.maxinteger do',
      'for i = math.mininteger + 2, math.mininteger, -1 do',
      'for i = 1, math.huge, 2^52 do',
      'for i = 2147483645, 2147483647 do',
      'for i = -2147483646, -2147483648, -1 do',
    )
    .map((head) =>
      pcallPrint(
        'forOverflow',
        [`local c, last = 0, nil ${head} c = c + 1 last = i if c > 5 then break end end return c, last`],
        ['loop', 'for-overflow', 'bigint'],
      ),
    ),
  bitwise: fc
    .tuple(expr.int, expr.int, fc.integer({ min: -2, max: 70 }))
    .map(([a, b, k]) =>
      pcallPrint(
        'bitwise',
        ['local a, b = ', a, ', ', b, ` return a & b, a | b, a ~ b, ~a, a << ${k}, a >> ${k}, 1 << ${k}, -1 >> ${k}`],
        ['bitwise'],
      ),
    ),
  utf8: expr.str.map((s) =>
    pcallPrint(
      'utf8',
      [
        'local s = ',
        s,
        ' local cps = {} for p, c in utf8.codes("aé😀") do cps[#cps + 1] = p .. ":" .. c end ',
        'return utf8.len(s), utf8.char(72, 228, 8364), table.concat(cps, ","), utf8.offset("aé😀", 3), ',
        'utf8.codepoint("aé😀", 1, -1), #utf8.charpattern',
      ],
      ['utf8'],
    ),
  ),
  mutate: fc
    .tuple(expr.int, expr.str)
    .map(([n, s]) =>
      stmt('mutate', [
        'do local ok, v = pcall(function() return ',
        n,
        ' end) if ok and math.type(v) == "integer" then i2 = v end ',
        'ok, v = pcall(function() return ',
        s,
        ' end) if ok and type(v) == "string" then s2 = v end ',
        `table.insert(t1, i2) print(${TAG}, i2, s2, #t1) end`,
      ]),
    ),
}

// Relative weights (fast-check wants integers).
const STATEMENT_WEIGHTS: Record<keyof typeof statements, number> = {
  values: 80,
  direct: 10,
  format: 40,
  find: 20,
  match: 20,
  gsub: 20,
  gmatch: 20,
  table: 30,
  closure: 10,
  vararg: 10,
  coroutine: 10,
  error: 30,
  arith: 30,
  strarith: 10,
  convert: 30,
  tonumber: 10,
  loop: 10,
  forOverflow: 3,
  bitwise: 20,
  utf8: 10,
  mutate: 10,
}

const statement: fc.Arbitrary<Statement> = fc.oneof(
  ...Object.entries(statements).map(([kind, arbitrary]) => ({
    arbitrary,
    weight: STATEMENT_WEIGHTS[kind as keyof typeof statements] as number,
  })),
)

const tail: fc.Arbitrary<Tail> = fc.oneof(
  {
    arbitrary: fc
      .array(fc.oneof(expr.int, expr.flt, expr.str, expr.bool, fc.constant(code(['nil']))), { maxLength: 4 })
      .map((values): Tail => ({ kind: 'return', values })),
    weight: 16,
  },
  { arbitrary: anyExpr.map((value): Tail => ({ kind: 'error', value })), weight: 1 },
  {
    arbitrary: fc
      .constantFrom(
        'local x = nil; x()',
        'error({ code = 1 })',
        'error(setmetatable({}, { __tostring = function() return "custom" end }))',
        'return 1 + {}',
      )
      .map((s): Tail => ({ kind: 'runtime-error', code: code([s]) })),
    weight: 1,
  },
  {
    arbitrary: fc
      .constantFrom(
        'local = 1',
        'if true then',
        'x = = 2',
        'return return',
        'for i = 1 do end',
        'local s = "unfinished',
        'goto nowhere',
        '::a:: ::a::',
      )
      .map((text): Tail => ({ kind: 'syntax-error', text })),
    weight: 1,
  },
)

/** A whole program: literal prelude, 1–14 statements, a tail. */
export const program: fc.Arbitrary<Program> = fc
  .tuple(
    fc.tuple(
      intAtom.filter((c) => !PRELUDE_NAMES.int.some((n) => text(c) === n)),
      intAtom.filter((c) => !PRELUDE_NAMES.int.some((n) => text(c) === n)),
      intAtom.filter((c) => !PRELUDE_NAMES.int.some((n) => text(c) === n)),
      floatAtom.filter((c) => !text(c).startsWith('f')),
      floatAtom.filter((c) => !text(c).startsWith('f')),
      strAtom.filter((c) => !text(c).startsWith('s')),
      strAtom.filter((c) => !text(c).startsWith('s')),
      fc.array(smallInt, { maxLength: 5 }).map((xs) => code([`{${xs.join(', ')}}`], ['table'])),
      fc
        .array(fc.constantFrom('b', 'a', 'cc', 'B', '', 'ab'), { maxLength: 5 })
        .map((xs) => code([`{${xs.map((x) => luaString(x)).join(', ')}}`], ['table'])),
    ),
    fc.array(statement, { minLength: 1, maxLength: 14 }),
    tail,
  )
  .map(([prelude, body, t]) => ({ prelude, body, tail: t }))
