/**
 * Differential fuzzing at scale: many generated programs on process
 * (lua5.4), wasm and fengari. Prints every process/wasm disagreement (with
 * the program) and the fengari differences by category.
 *
 *   node bench/reliability/run.mjs fuzz [--programs 5000] [--seed N] [--show 3]
 */
import fc from 'fast-check'
import { localRegistry, stopWorkers } from '../../test/reliability/support/backends.js'
import {
  classifyFengari,
  difference,
  disagreement,
  type FengariCategory,
  outcomeOf,
} from '../../test/reliability/support/differential.js'
import { program, render } from '../../test/reliability/support/lua-gen.js'
import { randomSeed } from '../../test/reliability/support/random.js'

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const programs = arg('programs', 5000)
const seed = arg('seed', randomSeed())
const show = arg('show', 3)
console.log(`fuzz: ${programs} programs, seed ${seed}`)

const registry = localRegistry()
const native = await registry.create('process', 'native', { luaExecutable: 'lua5.4', sandbox: true })
const wasm = await registry.create('wasm', 'wasm', {})
const fengari = await registry.create('fengari', 'fengari', {})
const started = performance.now()
let disagreements = 0
const categories: Partial<Record<FengariCategory, number>> = {}
const examples: Partial<Record<FengariCategory, string[]>> = {}
const statuses: Record<string, number> = {}
let done = 0
for (const p of fc.sample(program, { seed, numRuns: programs })) {
  const source = render(p)
  const [a, b, c] = await Promise.all([outcomeOf(native, source), outcomeOf(wasm, source), outcomeOf(fengari, source)])
  statuses[a.status] = (statuses[a.status] ?? 0) + 1
  if (difference(a, b)) {
    disagreements++
    console.log(`\n#${done} ${disagreement(source, ['process', 'wasm'], a, b)}`)
  }
  const d = classifyFengari(p, a, c)
  if (d) {
    categories[d.category] = (categories[d.category] ?? 0) + 1
    const list = (examples[d.category] ??= [])
    if (list.length < show) list.push(`#${done} at ${d.at}: ${d.detail}\n${source}`)
  }
  done++
  if (done % 500 === 0) console.log(`… ${done} programs, ${((performance.now() - started) / 1000).toFixed(0)} s`)
}
console.log(`\n${done} programs in ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${seed})`)
console.log('native statuses', statuses)
console.log(`process vs wasm disagreements: ${disagreements}`)
console.log('fengari differences by category', categories)
for (const [cat, list] of Object.entries(examples)) {
  console.log(`\n=== ${cat} ===`)
  for (const e of list) console.log(`${e}\n`)
}
await Promise.all([native.stop(), wasm.stop(), fengari.stop()])
await stopWorkers()
