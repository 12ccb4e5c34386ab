/**
 * lua54.wasm (packages/backend-wasm/engine/: Lua 5.4.7 with the interrupt
 * budget) on the six CPU-bound workloads of the wasm-engine issue, against
 * raw wasmoon 1.16 (no hook, no runtime: load + pcall + settop) and native
 * lua5.4, in the same run; plus what a new state costs.
 *
 * Times are CPU time of the process doing the work (process.cpuUsage for the
 * two wasm engines, os.clock inside native lua5.4), so that other work on a
 * shared machine stretches none of them; the three run interleaved, round
 * after round (native: a fresh lua5.4 per round, timed after one warm-up
 * run), and each figure is the median of its rounds.
 *
 *   node --expose-gc scripts/run-ts.mjs bench/engine.bench.ts
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { LuaFactory } from 'wasmoon'
import { compileLua54, instantiateLua54 } from '../packages/backend-wasm/src/engine/lua54-loader.js'
import { Lua54State, LuaStatus } from '../packages/backend-wasm/src/engine/lua54-state.js'
import { rawWasmoon } from './lib/raw-wasmoon.js'
import { fmt, mdTable, median, ratio, timeEach, verdict } from './lib/stats.mjs'

const ROUNDS = 7
/** The interrupt budget the engine runs with: the host checks its deadline every this many ticks. */
const BUDGET = 1_000

const WORKLOADS: Array<[string, string]> = [
  ['fib(27)', 'local function fib(n) if n < 2 then return n end return fib(n-1) + fib(n-2) end return fib(27)'],
  [
    'sieve 2M',
    'local n, s, c = 2000000, {}, 0 for i = 2, n do s[i] = true end for i = 2, n do if s[i] then c = c + 1 for j = i * i, n, i do s[j] = false end end end return c',
  ],
  [
    'string building',
    'local t = {} for i = 1, 200000 do t[#t + 1] = "item" .. i .. ";" end local s = table.concat(t) return #s',
  ],
  [
    'sort 200k',
    'local t, x = {}, 42 for i = 1, 200000 do x = (x * 1103515245 + 12345) % 2147483648 t[i] = x end table.sort(t) return t[1]',
  ],
  ['float loop', 'local x = 0.0 for i = 1, 5000000 do x = x + (i * 0.5) / (i + 1.0) end return x'],
  ['closures', 'local n = 0 for i = 1, 1000000 do local f = function(a) return a + i end n = n + f(1) end return n'],
]

/** CPU milliseconds `fn` takes in this process. */
function cpuMs(fn: () => void): number {
  const before = process.cpuUsage()
  fn()
  const d = process.cpuUsage(before)
  return (d.user + d.system) / 1000
}

/** Native lua5.4 timing one run of the workload itself (os.clock: CPU time) after a warm-up run, in a fresh process. */
function native(code: string): number {
  const script = `local f = assert(load(${JSON.stringify(code)})) f() local t = os.clock() f() print((os.clock() - t) * 1000)`
  return Number(execFileSync('lua5.4', ['-'], { input: script, encoding: 'utf8' }).trim())
}

const loadBefore = loadavg()
const module = await compileLua54(
  readFileSync(join(import.meta.dirname, '..', 'packages', 'backend-wasm', 'engine', 'lua54.wasm')),
)
let interrupts = 0
// The deadline is live: the host reads its clock at every interrupt, as a sandbox would.
const deadline = { at: Number.POSITIVE_INFINITY }
const ours = new Lua54State(module, {
  budget: BUDGET,
  interrupt: () => {
    interrupts++
    return performance.now() < deadline.at
  },
})
const raw = await rawWasmoon()

const nativeVersion = execFileSync('lua5.4', ['-v'], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ')
let oursMs = 0
let timedInterrupts = 0
const rows: string[][] = []
const vsRaw: number[] = []
const vsNative: number[] = []
const rawVsNative: number[] = []
for (const [name, code] of WORKLOADS) {
  const times = { ours: [] as number[], raw: [] as number[], native: [] as number[] }
  // One warm-up each (tier-up of the wasm code), then interleaved rounds.
  ours.run(code)
  raw.run(code)
  for (let round = 0; round < ROUNDS; round++) {
    deadline.at = performance.now() + 60_000
    const before = interrupts
    times.ours.push(
      cpuMs(() => {
        const r = ours.run(code)
        if (r.status !== LuaStatus.OK) throw new Error(`${name}: ${r.values.join(' ')}`)
      }),
    )
    timedInterrupts += interrupts - before
    times.raw.push(cpuMs(() => raw.run(code)))
    times.native.push(native(code))
  }
  oursMs += times.ours.reduce((a, b) => a + b, 0)
  const [o, r, n] = [median(times.ours), median(times.raw), median(times.native)]
  vsRaw.push(o / r)
  vsNative.push(o / n)
  rawVsNative.push(r / n)
  rows.push([name, fmt(n), fmt(r), fmt(o), ratio(o, r), ratio(o, n), ratio(r, n), verdict(o / r <= 1.15)])
}
const geo = (xs: number[]) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length)
rows.push([
  '**geometric mean**',
  '',
  '',
  '',
  `${geo(vsRaw).toFixed(2)}×`,
  `${geo(vsNative).toFixed(2)}×`,
  `${geo(rawVsNative).toFixed(2)}×`,
  verdict(geo(vsNative) <= 1.8),
])

// Warm tiny execution, bare: load + pcall + settop of `return 1+1`, interleaved rounds.
const tiny = { ours: [] as number[], raw: [] as number[] }
for (let round = 0; round < 5; round++) {
  tiny.ours.push(...(await timeEach(2000, () => ours.run('return 1+1'))))
  tiny.raw.push(...(await timeEach(2000, () => raw.run('return 1+1'))))
}
raw.close()

// Deadline overshoot: how long after its deadline a runaway loop is back in the host.
const overshoot: Record<string, number[]> = {}
for (const [name, code] of [
  ['`while true do end`', 'while true do end'],
  ['pcall loop', 'while true do pcall(function() while true do end end) end'],
  ['pattern backtracking', 'return ("a"):rep(100000):find(".-.-.-.-y")'],
] as const) {
  overshoot[name] = []
  for (let i = 0; i < 20; i++) {
    deadline.at = performance.now() + 20
    const r = ours.run(code)
    overshoot[name].push(performance.now() - deadline.at)
    if (!r.interrupted) throw new Error(`${name} was not interrupted`)
  }
}

// A new state: ours in a fresh instance (what one VM costs) and in a warm
// one; wasmoon's createEngine shares its factory's instance.
const N = 200
const fresh: number[] = []
const warmState: number[] = []
for (let i = 0; i < N; i++) {
  let t = performance.now()
  const s = new Lua54State(module, { budget: BUDGET, interrupt: () => true })
  fresh.push(performance.now() - t)
  t = performance.now()
  const L = s.wasm.exports.luavm_newstate()
  s.wasm.exports.luaL_openlibs(L)
  warmState.push(performance.now() - t)
}
const instanceOnly: number[] = []
for (let i = 0; i < N; i++) {
  const t = performance.now()
  instantiateLua54(module, { interrupt: () => 1, write: () => undefined })
  instanceOnly.push(performance.now() - t)
}
const factory = new LuaFactory()
await factory.createEngine()
const wasmoonState: number[] = []
for (let i = 0; i < N; i++) {
  const t = performance.now()
  const e = await factory.createEngine()
  wasmoonState.push(performance.now() - t)
  e.global.close()
}
const loadAfter = loadavg()

console.log(`\n### lua54.wasm vs raw wasmoon 1.16 vs native lua5.4 (node ${process.version})\n`)
console.log(
  `CPU time, median of ${ROUNDS} interleaved rounds. lua54.wasm runs with the interrupt live: budget ${BUDGET} ticks, the host reads its clock at each interrupt (one every ${fmt(oursMs / timedInterrupts)} of Lua on average in the timed rounds). Native: Debian's ${nativeVersion}. Load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(2)).join(' ')} after. Goals (issue 15): ≤ 1.15× raw wasmoon on each workload, ≤ 1.8× native as geometric mean.\n`,
)
console.log(
  mdTable(
    [
      'workload',
      'native lua5.4',
      'raw wasmoon',
      'lua54.wasm',
      'vs raw wasmoon',
      'vs native',
      'raw wasmoon vs native',
      '',
    ],
    rows,
  ),
)
console.log('\n### warm `return 1+1`: bare load + pcall + settop (median of 10,000, wall time)\n')
console.log(
  mdTable(
    ['engine', 'median', 'against'],
    [
      [
        'lua54.wasm (Lua54State.run: copies the code in, reads the results)',
        fmt(median(tiny.ours)),
        ratio(median(tiny.ours), median(tiny.raw)),
      ],
      ['raw wasmoon 1.16', fmt(median(tiny.raw)), ''],
    ],
  ),
)
console.log('\n### soft deadline overshoot (20 runs each, deadline 20 ms, wall time)\n')
console.log(
  mdTable(
    ['runaway', 'median', 'max', 'goal', ''],
    Object.entries(overshoot).map(([name, xs]) => [
      name,
      fmt(median(xs)),
      fmt(Math.max(...xs)),
      '≤ 1 ms median',
      verdict(median(xs) <= 1),
    ]),
  ),
)
console.log(`\n### a new state (median of ${N}, wall time)\n`)
console.log(
  mdTable(
    ['what', 'median'],
    [
      ['lua54.wasm: new instance + `luavm_newstate` + `luaL_openlibs`', fmt(median(fresh))],
      ['lua54.wasm: new instance alone', fmt(median(instanceOnly))],
      ['lua54.wasm: `luavm_newstate` + `luaL_openlibs` in a warm instance', fmt(median(warmState))],
      ["raw wasmoon: `createEngine()` (state in its factory's shared instance)", fmt(median(wasmoonState))],
    ],
  ),
)
