import type { BaseLuaVM, ExecResult, LuaValue } from '@bioxen-luavm/core'
import { type Code, type Feature, features, type Program, programFeatures, render, text } from './lua-gen.js'

/** What is compared between backends: everything the program observably did. */
export interface Outcome {
  status: ExecResult['status']
  stdout: string
  values: LuaValue[]
  error?: { kind: string; message: string; line?: number }
}

/** Options of every fuzz execution: the same limits on every backend, so limits cannot cause a difference. */
export const FUZZ_EXEC = { timeoutMs: 10_000, maxOutputBytes: 64 * 1024, chunkName: 'fuzz' } as const

/** Runs a program and keeps what is compared. */
export async function outcomeOf(vm: BaseLuaVM, source: string): Promise<Outcome> {
  const r = await vm.execute(source, FUZZ_EXEC)
  return {
    status: r.status,
    stdout: r.stdout,
    values: r.values,
    ...(r.error
      ? {
          error: {
            kind: r.error.kind,
            message: r.error.message,
            ...(r.error.line === undefined ? {} : { line: r.error.line }),
          },
        }
      : {}),
  }
}

/**
 * Differences between process (Debian's lua5.4 5.4.4 on glibc/x86-64) and
 * wasm (the 5.4 release wasmoon 1.16 bundles, on emscripten's musl) that are
 * not SDK bugs. Each is documented in docs/reliability.md and pinned by
 * test/reliability/differential-regressions.test.ts; {@link comparable}
 * rewrites both outcomes to one spelling before they are compared, so the
 * fuzzer keeps looking past them.
 */
export const KNOWN_DIFFERENCES: ReadonlyArray<{
  name: string
  pattern: RegExp
  replace: (match: string, ...groups: string[]) => string
  /** Only for programs that call the C math library (sin, cos, exp, log, ^). */
  libmOnly?: boolean
}> = [
  {
    name: 'table.remove blames argument #1 (5.4.4) or #2 (later 5.4) for a bad position',
    pattern: /bad argument #[12] to '(table\.)?remove' \(position out of bounds\)/g,
    replace: (_m, prefix = '') => `bad argument #? to '${prefix}remove' (position out of bounds)`,
  },
  {
    // lmathlib's fmod checks both arguments inside one C call expression, whose evaluation
    // order C leaves open: gcc (process) checks #2 first, clang/emscripten (wasm) #1.
    name: 'math.fmod with both arguments bad blames #2 (gcc) or #1 (clang)',
    pattern: /bad argument #[12] to '(math\.)?fmod' \(number expected/g,
    replace: (_m, prefix = '') => `bad argument #? to '${prefix}fmod' (number expected`,
  },
  {
    // x86-64 and WebAssembly propagate a different operand's NaN (so sign) when both are NaN.
    name: 'the sign of a NaN made from two NaNs (-nan vs nan)',
    pattern: /-(nan|NAN)\b/g,
    replace: (_m, nan = 'nan') => nan,
  },
  {
    // glibc writes subnormals as 0x0.0000000000001p-1022, musl as 0x1p-1074 (same value).
    name: '%a / %q spelling of subnormal floats',
    pattern: /(-?)0x([0-9a-fA-F]+)(?:\.([0-9a-fA-F]*))?p([+-]?\d+)/g,
    replace: (_m, sign = '', int = '0', frac = '', exp = '0') => `${sign}hex<${hexValue(int, frac, Number(exp))}>`,
  },
  {
    // glibc's and musl's sin/cos/exp/log/pow may differ in the last bit: cos(1000) is
    // 0.56237907629070294 on one and 0.56237907629070305 on the other.
    name: 'last-bit differences of libm results (sin, cos, exp, log, pow)',
    pattern: /-?\d+\.\d{11,}(?:e[+-]?\d+)?|-?\d(?:\.\d+)?e[+-]?\d+|hex<[^>]*>/g,
    replace: (m) => {
      const x = m.startsWith('hex<') ? Number(m.slice(4, -1)) : Number(m)
      return Number.isFinite(x) ? `~${x.toPrecision(11)}` : m
    },
    libmOnly: true,
  },
]

function hexValue(int: string, frac: string, exp: number): string {
  const mantissa = Number.parseInt(int, 16) + (frac ? Number.parseInt(frac, 16) / 16 ** frac.length : 0)
  return String(mantissa * 2 ** exp)
}

/** The text forms of an outcome that comparisons look at. */
function rewrite(o: Outcome, fix: (text: string) => string): Outcome {
  return {
    ...o,
    stdout: fix(o.stdout),
    values: JSON.parse(fix(JSON.stringify(o.values, (_k, v) => (typeof v === 'number' ? `#num:${v}` : v)))).map(
      function unnum(v: LuaValue): LuaValue {
        if (typeof v === 'string' && v.startsWith('#num:')) return v.slice(5)
        if (Array.isArray(v)) return v.map(unnum)
        if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unnum(x)]))
        return v
      },
    ) as LuaValue[],
    ...(o.error ? { error: { ...o.error, message: fix(o.error.message) } } : {}),
  }
}

/**
 * An outcome with every {@link KNOWN_DIFFERENCES} spelling unified
 * (`libm`: the program calls the C math library, so last-bit differences of
 * its floats are tolerated too). Numbers in `values` become their decimal
 * text, so the same rules apply to them.
 */
export function comparable(o: Outcome, libm = false, skip?: string): Outcome {
  return rewrite(o, (text) =>
    KNOWN_DIFFERENCES.filter((k) => (libm || !k.libmOnly) && k.name !== skip).reduce(
      (t, k) => t.replace(k.pattern, k.replace as (m: string, ...g: string[]) => string),
      text,
    ),
  )
}

/**
 * Which known differences separate `a` from `b`: `[]` when they are
 * identical, the names of the rules without which they would differ, or
 * undefined when they differ in some other way (a finding).
 */
export function knownDifferencesBetween(a: Outcome, b: Outcome, libm = false): string[] | undefined {
  if (!difference(a, b)) return []
  if (difference(comparable(a, libm), comparable(b, libm))) return undefined
  return KNOWN_DIFFERENCES.filter(
    (k) => (libm || !k.libmOnly) && difference(comparable(a, libm, k.name), comparable(b, libm, k.name)),
  ).map((k) => k.name)
}

/** A description of how two outcomes differ, or undefined when they are identical. */
export function difference(a: Outcome, b: Outcome): string | undefined {
  if (a.status !== b.status) return `status ${a.status} vs ${b.status}`
  if (a.stdout !== b.stdout) {
    const la = a.stdout.split('\n')
    const lb = b.stdout.split('\n')
    const i = la.findIndex((l, k) => l !== lb[k])
    const at = i === -1 ? la.length : i
    return `stdout line ${at + 1}: ${JSON.stringify(la[at])} vs ${JSON.stringify(lb[at])}`
  }
  if (JSON.stringify(a.values) !== JSON.stringify(b.values)) {
    return `values ${JSON.stringify(a.values)} vs ${JSON.stringify(b.values)}`
  }
  if (JSON.stringify(a.error) !== JSON.stringify(b.error)) {
    return `error ${JSON.stringify(a.error)} vs ${JSON.stringify(b.error)}`
  }
  return undefined
}

/** A readable report of one disagreement: the program and both outcomes. */
export function disagreement(source: string, names: [string, string], a: Outcome, b: Outcome): string {
  return [
    `${names[0]} and ${names[1]} disagree: ${difference(a, b)}`,
    '--- program ---',
    source,
    `--- ${names[0]} ---`,
    JSON.stringify(a, null, 1),
    `--- ${names[1]} ---`,
    JSON.stringify(b, null, 1),
  ].join('\n')
}

// ---- fengari --------------------------------------------------------------------

/**
 * Why fengari (Lua 5.3 in JavaScript, 32-bit integers) answers differently
 * from lua5.4. Native lua5.3 runs the same program as a third reference:
 * where fengari agrees with it, the difference is Lua 5.3 vs 5.4 (by
 * design); where it does not, fengari's own nature (32-bit integers, its
 * JavaScript number formatting) or a fengari bug explains it.
 */
export type FengariCategory =
  | 'lua-5.3' // fengari answers exactly like native lua5.3: a 5.3 vs 5.4 difference
  | 'int-width' // 32-bit integers: overflow, literals beyond ±2^31 become floats, shifts, %x of negatives
  | 'float-format' // fengari's number→text: NaN, Infinity, 1e+15 as 1000000000000000.0, -0.0, %f/%g
  | 'error-text' // the same failure, worded differently (or a JavaScript error text)
  | 'fengari-bug' // a known deviation from Lua 5.3 itself (see FENGARI_BUGS)
  | 'table-border' // `#t` of a table with nil holes: any border is valid, implementations pick differently
  | 'unclassified'

/** One classified difference between lua5.4 and fengari. */
export interface FengariDifference {
  category: FengariCategory
  /** For fengari-bug: which one. */
  bug?: string
  /** The tag of the first differing statement (`s3`), or `tail`. */
  at: string
  detail: string
}

/**
 * Deviations of fengari 0.1.5 from Lua 5.3 itself, found by this fuzzer and
 * checked against native lua5.3 (docs/reliability.md lists them with
 * reproductions). Matched on the text of the statement that differed.
 */
export const FENGARI_BUGS: ReadonlyArray<{ name: string; statement: RegExp }> = [
  {
    name: 'tonumber(s, base) accepts a valid prefix ("1e2" in base 5 is 1, not nil)',
    statement: /tonumber, "[^"]*", \d+\)/,
  },
  { name: 'a back-reference to a position capture matches', statement: /\(\)[^"]*%[1-9]/ },
  {
    name: 'string comparison orders control characters differently',
    statement:
      /\bstring\.char\([^)]*\)\s*[<>]=?|[<>]=?\s*string\.char\(|\\[0-9]{1,3}[^"]*"\s*[<>]|[<>]=?\s*"[^"]*\\[0-9]/,
  },
  {
    name: 'string.format %s with a width or precision mishandles non-ASCII text (counts UTF-16 units; invalid UTF-8 raises "not enough memory")',
    statement: /%-?\d*\.?\d+s/,
  },
]

/** The number a printed token stands for, in C's or fengari's spelling; undefined for non-numbers. */
function numericText(s: string): number | undefined {
  if (/^-?nan$/.test(s) || s === 'NaN') return Number.NaN
  if (s === 'inf' || s === 'Infinity') return Number.POSITIVE_INFINITY
  if (s === '-inf' || s === '-Infinity') return Number.NEGATIVE_INFINITY
  if (!/^-?\d+(\.\d*)?(e[+-]?\d+)?$/.test(s)) return undefined
  return Number(s)
}

/** Number→text in fengari vs C: the same number (NaN and rounding of the 17th digit aside), other text. */
function sameNumberDifferentText(a: string, b: string): boolean {
  if (a === b) return false
  const x = numericText(a)
  const y = numericText(b)
  if (x === undefined || y === undefined) return false
  return x === y || (Number.isNaN(x) && Number.isNaN(y))
}

// Texts that differ only in how numbers are written inside them ("x1e+15" vs "x1000000000000000.0").
function numbersSpelledDifferently(x: string, y: string): boolean {
  const num = /-?(?:nan|inf|NaN|Infinity|\d+(?:\.\d*)?(?:e[+-]?\d+)?)/g
  const skeleton = (s: string) => s.replace(num, '#')
  if (skeleton(x) !== skeleton(y)) return false
  const nx = x.match(num) ?? []
  const ny = y.match(num) ?? []
  return nx.length === ny.length && nx.every((v, k) => v === ny[k] || sameNumberDifferentText(v, ny[k] ?? ''))
}

// Texts equal once every number in them is blanked out and spacing is ignored, whose numbers do differ:
// fengari's string.format writes %e/%f/%g (and pads them) unlike C's printf.
function onlyNumbersDiffer(x: string, y: string): boolean {
  if (numbersSpelledDifferently(x, y)) return true
  const num = /-?(?:nan|inf|NaN|Infinity|hex<[^>]*>|\d+(?:\.\d*)?(?:e[+-]?\d+)?)/g
  const skeleton = (s: string) => s.replace(num, '#').replace(/\s+/g, ' ').trim()
  return skeleton(x) === skeleton(y) && (x.match(num) ?? []).join() !== (y.match(num) ?? []).join()
}

const INT32 = (x: string) => {
  const n = Number(x)
  return n <= 2147483647 && n >= -2147483648
}

/**
 * Classifies how fengari's outcome differs from lua5.4's for one program,
 * with native lua5.3's outcome as the tie-breaker.
 */
export function classifyFengari(
  p: Program,
  lua54: Outcome,
  lua53: Outcome,
  fengari: Outcome,
): FengariDifference | undefined {
  const detail = difference(comparable(lua54), comparable(fengari))
  if (!detail) return undefined
  const vs53 = difference(comparable(lua53), comparable(fengari))
  const la = lua53.stdout.split('\n')
  const lb = fengari.stdout.split('\n')
  const i = la.findIndex((l, k) => l !== lb[k])
  const tagged = i === -1 ? undefined : (/^s(\d+)\t/.exec(la[i] ?? '') ?? /^s(\d+)\t/.exec(lb[i] ?? ''))
  const at = tagged ? `s${tagged[1]}` : 'tail'
  if (!vs53) return { category: 'lua-5.3', at, detail }
  const stmt = tagged ? p.body[Number(tagged[1])] : undefined
  const stmtText = stmt ? text(stmt.code) : ''
  // What the statement exercised, including the prelude locals it reads.
  const f = new Set<Feature>(stmt ? features(stmt.code) : [...programFeatures(p)])
  const names = ['i1', 'i2', 'i3', 'f1', 'f2', 's1', 's2', 't1', 't2']
  names.forEach((name, k) => {
    if (stmt && new RegExp(`\\b${name}\\b`).test(stmtText)) for (const x of features(p.prelude[k] as Code)) f.add(x)
  })
  if (stmt?.kind === 'mutate' || !stmt) for (const x of features(p.prelude[1] as Code)) f.add(x)
  const a = (la[i] ?? '').split('\t')
  const b = (lb[i] ?? '').split('\t')
  const wide =
    [...a, ...lua53.values.map(String)].some((x) => /^[+-]?\d+$/.test(x.trim()) && !INT32(x.trim())) ||
    a.some((x) => /[0-9a-fA-F]{9,}/.test(x)) ||
    [...b, fengari.error?.message ?? ''].some((x) => /no integer representation/.test(x))
  const bothErrors = i === -1 && lua53.status === 'error' && fengari.status === 'error'
  if (bothErrors && numbersSpelledDifferently(lua53.error?.message ?? '', fengari.error?.message ?? '')) {
    return { category: 'float-format', at, detail: vs53 }
  }
  if (bothErrors && !wide) return { category: 'error-text', at, detail: vs53 }
  // Bitwise results of negative numbers and math.ult depend on the integer width too.
  if (f.has('bigint') || f.has('for-overflow') || f.has('bitwise') || /math\.ult/.test(stmtText) || wide) {
    return { category: 'int-width', at, detail: vs53 }
  }
  const pairs = a.map((x, k) => [x, b[k] ?? ''] as const).filter(([x, y]) => x !== y)
  if (pairs.length && a.length === b.length && pairs.every(([x, y]) => onlyNumbersDiffer(x, y))) {
    return { category: 'float-format', at, detail: vs53 }
  }
  for (const bug of FENGARI_BUGS) {
    if (bug.statement.test(stmtText)) return { category: 'fengari-bug', bug: bug.name, at, detail: vs53 }
  }
  if (a[1] === 'false' && b[1] === 'false') return { category: 'error-text', at, detail: vs53 }
  // A float's text flowed into a computation (its length, a pattern match, a %q): a derived float-format difference.
  const floatText = ['tostring', 'concat-number', 'format', 'format-q'].some((x) => f.has(x as Feature))
  if (floatText && (f.has('float') || f.has('special-float'))) return { category: 'float-format', at, detail: vs53 }
  // Lists built from calls that may return nil (math.tointeger, string.byte, …) can have holes.
  if (stmt?.kind === 'table' || stmt?.kind === 'vararg') return { category: 'table-border', at, detail: vs53 }
  return { category: 'unclassified', at, detail: vs53 }
}

/** Renders a program and says what it is, for reports. */
export function programText(p: Program): string {
  return render(p)
}
