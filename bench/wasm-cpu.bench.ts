/**
 * The wasm backend against its references, measured in the same run:
 * warm `return 1+1` vs raw wasmoon low-level calls, CPU-bound work (fib(30),
 * table.concat of 200k numbers) with the sandbox's hooks, and hook-free
 * (`softDeadline: false`, worker isolation: deadlines by worker kill only),
 * vs native lua5.4 and vs raw wasmoon without hooks, and the CLI's wall time for
 * `run -e 'print(1)'` (needs the built CLI: `pnpm build`).
 *
 *   node --expose-gc scripts/run-ts.mjs bench/wasm-cpu.bench.ts
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createWasmVM } from '@bioxen-luavm/backend-wasm'
import { rawWasmoon } from './lib/raw-wasmoon.js'
import { fmt, mdTable, median, quantile, ratio, timeEach, verdict } from './lib/stats.mjs'

const root = join(import.meta.dirname, '..')
const FIB = 'local function fib(n) if n < 2 then return n end return fib(n-1) + fib(n-2) end return fib(30)'
const CONCAT = 'local t = {} for i = 1, 200000 do t[i] = i end return #table.concat(t, ",")'

/** Native lua5.4 timing the workload itself (os.clock around it, best of `runs` in one process). */
function native(code: string, runs: number): number[] {
  const script = `local f = assert(load(${JSON.stringify(code)})) f() local out = {} for i = 1, ${runs} do local t = os.clock() f() out[#out+1] = (os.clock() - t) * 1000 end print(table.concat(out, " "))`
  return execFileSync('lua5.4', ['-'], { input: script, encoding: 'utf8' }).trim().split(' ').map(Number)
}

const rows: string[][] = []
const vm = await createWasmVM({ isolation: 'inline' })
const worker = await createWasmVM({ isolation: 'worker' })
// Hook-free needs worker isolation (inline could not stop it at the deadline).
const hookFree = await createWasmVM({ isolation: 'worker', softDeadline: false })
const raw = await rawWasmoon()

// Warm tiny execution, interleaved rounds so drift hits all three alike.
const tiny = { inline: [] as number[], worker: [] as number[], raw: [] as number[] }
for (let round = 0; round < 5; round++) {
  tiny.inline.push(...(await timeEach(2000, () => vm.execute('return 1+1', { echoReturnValues: false }))))
  tiny.worker.push(...(await timeEach(1000, () => worker.execute('return 1+1', { echoReturnValues: false }))))
  tiny.raw.push(...(await timeEach(2000, () => raw.run('return 1+1'))))
}
const [ti, tw, tr] = [median(tiny.inline), median(tiny.worker), median(tiny.raw)]
rows.push([
  'warm `return 1+1`, inline',
  fmt(ti),
  `${ratio(ti, tr)} raw wasmoon (${fmt(tr)})`,
  '≤ 15 µs, ≤ 3× raw',
  verdict(ti <= 0.015 && ti / tr <= 3),
])
rows.push(['warm `return 1+1`, worker', fmt(tw), `${ratio(tw, tr)} raw wasmoon`, '≤ 100 µs', verdict(tw <= 0.1)])

for (const [name, code] of [
  ['fib(30)', FIB],
  ['concat 200k', CONCAT],
] as const) {
  const ours = await timeEach(7, () => vm.execute(code, { echoReturnValues: false, timeoutMs: 60_000 }))
  const free = await timeEach(7, () => hookFree.execute(code, { echoReturnValues: false, timeoutMs: 60_000 }))
  const bare = await timeEach(7, () => raw.run(code))
  const nat = native(code, 7)
  const [o, f, b, n] = [median(ours), median(free), median(bare), median(nat)]
  rows.push([
    `${name}, sandbox + deadline hook (inline)`,
    fmt(o),
    `${ratio(o, n)} native lua5.4 (${fmt(n)}); ${ratio(o, b)} raw wasmoon (${fmt(b)})`,
    '≤ 1.8× native, ≤ 1.15× raw',
    verdict(o / n <= 1.8 && o / b <= 1.15),
  ])
  // Includes the worker round trip (tens of µs), noise next to these workloads.
  rows.push([
    `${name}, sandbox, \`softDeadline: false\` (worker kill only)`,
    fmt(f),
    `${ratio(f, n)} native lua5.4; ${ratio(f, b)} raw wasmoon`,
    '≤ 1.8× native, ≤ 1.15× raw',
    verdict(f / n <= 1.8 && f / b <= 1.15),
  ])
}
await vm.stop()
await worker.stop()
await hookFree.stop()
raw.close()

const cli = join(root, 'packages', 'cli', 'dist', 'bin.js')
if (existsSync(cli)) {
  const walls: number[] = []
  for (let i = 0; i < 12; i++) {
    const t = performance.now()
    const r = spawnSync(process.execPath, [cli, 'run', '-e', 'print(1)'], { encoding: 'utf8' })
    if (r.stdout !== '1\n') throw new Error(`CLI printed ${JSON.stringify(r.stdout)}`)
    walls.push(performance.now() - t)
  }
  const w = median(walls.slice(2))
  rows.push([
    "`bioxen-luavm run -e 'print(1)'` wall",
    fmt(w),
    `p90 ${fmt(quantile(walls.slice(2), 0.9))}`,
    '≤ 250 ms',
    verdict(w <= 250),
  ])
}

console.log(`\n### wasm backend vs references (node ${process.version})\n`)
console.log(mdTable(['measurement', 'median', 'against', 'goal', ''], rows))
