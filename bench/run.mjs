#!/usr/bin/env node
// Runs every benchmark and writes bench/RESULTS.md. Each benchmark measures
// its references in the same process and run (ratios, never absolute goals
// across machines), so the report is comparable on any machine.
//
//   node bench/run.mjs                 everything (several minutes; needs `pnpm build` for the CLI row)
//   node bench/run.mjs wasm-cpu process only the named benchmarks
//   node bench/run.mjs --print         print the report instead of writing RESULTS.md
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const benches = [
  { name: 'wasm-cpu', file: 'bench/wasm-cpu.bench.ts', title: 'wasm: against native lua5.4 and raw wasmoon' },
  {
    name: 'engine',
    file: 'bench/engine.bench.ts',
    title: 'wasm engine: lua54.wasm against raw wasmoon and native lua5.4',
  },
  { name: 'wasm-costs', file: 'bench/wasm-costs.bench.ts', title: 'wasm and fengari: what a VM costs', text: true },
  {
    name: 'wasm-million',
    file: 'bench/wasm-million.bench.ts',
    args: ['1000000', 'wasm'],
    title: 'wasm: one million executions on one VM',
    text: true,
  },
  { name: 'process', file: 'bench/process.bench.ts', title: 'process backend' },
  {
    name: 'xcpng-ssh',
    file: 'bench/xcpng-ssh.bench.ts',
    title: 'xcpng: the driver over SSH vs a local pipe',
    text: true,
  },
  {
    name: 'reliability-load',
    file: 'bench/reliability/load.ts',
    title: 'reliability: mixed load through one VMManager',
    text: true,
    optional: true,
  },
  {
    name: 'reliability-soak',
    file: 'bench/reliability/soak.ts',
    args: ['--seconds', '60'],
    title: 'reliability: soak',
    text: true,
    optional: true,
  },
]

const args = process.argv.slice(2)
const print = args.includes('--print')
const only = args.filter((a) => !a.startsWith('--'))
const chosen = benches.filter((b) => only.length === 0 || only.includes(b.name))
if (only.length && chosen.length !== only.length) {
  console.error(`unknown benchmark; choose from: ${benches.map((b) => b.name).join(', ')}`)
  process.exit(2)
}

const sections = new Map()
let failed = 0
for (const b of chosen) {
  console.error(`── ${b.name}`)
  const started = Date.now()
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', join(root, 'scripts', 'run-ts.mjs'), b.file, ...(b.args ?? [])],
    {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 64 * 1024 * 1024,
    },
  )
  const seconds = ((Date.now() - started) / 1000).toFixed(0)
  if (r.status !== 0) {
    failed++
    sections.set(b.title, `## ${b.title}\n\nFailed (exit ${r.status}) after ${seconds} s.\n`)
    continue
  }
  const body = b.text ? `\`\`\`text\n${r.stdout.trim()}\n\`\`\`` : r.stdout.trim()
  sections.set(
    b.title,
    `## ${b.title}\n\n\`node --expose-gc scripts/run-ts.mjs ${[b.file, ...(b.args ?? [])].join(' ')}\` (${seconds} s)\n\n${body}\n`,
  )
}

// A partial run replaces its own sections of the existing report and keeps the rest.
const resultsPath = join(root, 'bench', 'RESULTS.md')
const previous = existsSync(resultsPath) ? readFileSync(resultsPath, 'utf8') : ''
const body = benches
  .map(
    (b) =>
      sections.get(b.title) ??
      previous.match(new RegExp(`^## ${escapeRegExp(b.title)}\\n[\\s\\S]*?(?=^## |^# Notes|(?![\\s\\S]))`, 'm'))?.[0],
  )
  .filter(Boolean)
  .join('\n')
const notes = readFileSync(join(root, 'bench', 'notes.md'), 'utf8')

const report = `# Benchmark results

Measured by \`node bench/run.mjs\` on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'},
Node ${process.version}, load average ${loadavg()
  .map((l) => l.toFixed(2))
  .join(' ')} at the end.
Every ratio compares two things measured in the same run. ✅/❌ mark the goals
the issues set; where a goal is missed, the notes below say why.

${body}
${notes}`
if (print) process.stdout.write(report)
else writeFileSync(resultsPath, `${report.trim()}\n`)
console.error(print ? '' : 'wrote bench/RESULTS.md')
process.exit(failed ? 1 : 0)

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
