/**
 * Differential fuzzing at scale: many generated programs on process
 * (lua5.4), wasm and fengari. Prints every process/wasm disagreement (with
 * the program) and the fengari differences by category.
 *
 *   node --expose-gc scripts/run-ts.mjs bench/reliability/fuzz.ts [--programs 5000] [--seed N] [--show 3]
 */
import fc from 'fast-check'
import { localRegistry, stopWorkers } from '../../test/reliability/support/backends.js'
import {
  classifyFengari,
  disagreement,
  type FengariCategory,
  knownDifferencesBetween,
  outcomeOf,
} from '../../test/reliability/support/differential.js'
import { program, programFeatures, render } from '../../test/reliability/support/lua-gen.js'
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
const lua53 = await registry.create('process', 'lua53', { luaExecutable: 'lua5.3', sandbox: true })
const wasm = await registry.create('wasm', 'wasm', {})
const fengari = await registry.create('fengari', 'fengari', {})
const started = performance.now()
let disagreements = 0
const categories: Partial<Record<FengariCategory, number>> = {}
const examples: Partial<Record<FengariCategory, string[]>> = {}
const statuses: Record<string, number> = {}
const knownHits: Record<string, number> = {}
const bugs: Record<string, number> = {}
let done = 0
for (const p of fc.sample(program, { seed, numRuns: programs })) {
  const source = render(p)
  const [a, b, c, r53] = await Promise.all([
    outcomeOf(native, source),
    outcomeOf(wasm, source),
    outcomeOf(fengari, source),
    outcomeOf(lua53, source),
  ])
  statuses[a.status] = (statuses[a.status] ?? 0) + 1
  const libm = programFeatures(p).has('libm')
  const known = knownDifferencesBetween(a, b, libm)
  if (known === undefined) {
    disagreements++
    console.log(`\n#${done} ${disagreement(source, ['process', 'wasm'], a, b)}`)
  } else {
    for (const k of known) knownHits[k] = (knownHits[k] ?? 0) + 1
  }
  const d = classifyFengari(p, a, r53, c)
  if (d) {
    categories[d.category] = (categories[d.category] ?? 0) + 1
    if (d.bug) bugs[d.bug] = (bugs[d.bug] ?? 0) + 1
    const list = examples[d.category] ?? []
    examples[d.category] = list
    if (d.category === 'unclassified' && show === 0) {
      const st = d.at === 'tail' ? undefined : p.body[Number(d.at.slice(1))]
      console.log(
        `unclassified #${done} at ${d.at}: ${d.detail}\n    ${st ? render({ ...p, body: [st], tail: { kind: 'return', values: [] } }).split('\n')[4] : '(tail)'}`,
      )
    }
    if (list.length < show) list.push(`#${done} at ${d.at}: ${d.detail}\n${source}`)
  }
  done++
  if (done % 500 === 0) console.log(`… ${done} programs, ${((performance.now() - started) / 1000).toFixed(0)} s`)
}
console.log(`\n${done} programs in ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${seed})`)
console.log('native statuses', statuses)
console.log(`process vs wasm disagreements: ${disagreements}`)
console.log('documented process/wasm differences met', knownHits)
console.log('fengari differences by category', categories)
console.log('fengari bugs (deviations from Lua 5.3 itself)', bugs)
for (const [cat, list] of Object.entries(examples)) {
  console.log(`\n=== ${cat} ===`)
  for (const e of list) console.log(`${e}\n`)
}
await Promise.all([native.stop(), lua53.stop(), wasm.stop(), fengari.stop()])
await stopWorkers()
