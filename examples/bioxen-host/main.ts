/**
 * BioXen host app: creates a biological VM for every organism type on the
 * `wasm` sandbox and on the native `basic` (process) backend, runs the
 * bio_compute analysis report on the bundled synthetic sequences, and
 * prints one table. Then shows the factory's validation errors.
 *
 * Run (from the repository root, no build needed):
 *
 *   node scripts/run-ts.mjs examples/bioxen-host/main.ts
 *
 * The `basic` rows need a Lua interpreter (`apt-get install lua5.4`);
 * without one they are skipped with the reason. The sequences are synthetic
 * (see examples/bioxen-host/data/README.md): the numbers describe them, not
 * real genomes.
 */
import { processBackend } from '@bioxen-luavm/backend-process'
import { isLuaVMError } from '@bioxen-luavm/core'
import { type AnalysisReport, createBioVM, supportedBiologicalTypes, supportedVMTypes } from './src/index.js'

const vmTypes = ['wasm', 'basic'] as const
const native = await processBackend.detect()
console.log(`biological types: ${supportedBiologicalTypes().join(', ')}`)
console.log(`VM types: ${supportedVMTypes().join(', ')}`)

const reports: AnalysisReport[] = []
for (const organism of supportedBiologicalTypes()) {
  for (const vmType of vmTypes) {
    if (vmType === 'basic' && !native.available) {
      console.log(`skipping ${organism} on basic: ${native.reason}`)
      continue
    }
    await using cell = await createBioVM(`${organism}-${vmType}`, organism, vmType)
    reports.push(await cell.analyze())
  }
}

const percent = (x: number) => `${(x * 100).toFixed(2)}%`
const rows = reports.map((r) => {
  const motifHits = Object.keys(r.records[0]?.motifs ?? {})
    .map((m) => `${m}:${r.records.reduce((n, s) => n + (s.motifs[m]?.length ?? 0), 0)}`)
    .join(' ')
  return [
    r.biologicalType,
    r.vmType,
    r.backend,
    r.luaVersion,
    r.genomeSize.toLocaleString('en-US'),
    String(r.geneCount),
    String(r.records.length),
    String(r.totalBases),
    percent(r.gcContent),
    motifHits,
  ]
})
const header = [
  'organism',
  'vm',
  'backend',
  'lua',
  'genome bp (ref)',
  'genes (ref)',
  'records',
  'bases',
  'GC',
  'motif hits',
]
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)))
const line = (cells: string[]) =>
  cells
    .map((c, i) => c.padEnd(widths[i] ?? 0))
    .join('  ')
    .trimEnd()
console.log('\nBioXen analysis report (bundled SYNTHETIC sequences)')
console.log(line(header))
console.log(line(widths.map((w) => '-'.repeat(w))))
for (const row of rows) console.log(line(row))

// Per-sequence GC content, and whether both infrastructures agree to the last digit.
console.log('\nper sequence:')
for (const r of reports.filter((x) => x.vmType === 'wasm')) {
  for (const s of r.records) {
    console.log(
      `  ${s.id.padEnd(24)} ${String(s.length).padStart(4)} bp  GC ${percent(s.gcContent)}  top codon ${s.codons.top[0]?.codon} x${s.codons.top[0]?.count}`,
    )
  }
}
const byType = new Map<string, AnalysisReport[]>()
for (const r of reports) byType.set(r.biologicalType, [...(byType.get(r.biologicalType) ?? []), r])
const agree = [...byType.values()].every((pair) => pair.every((r) => r.gcContent === pair[0]?.gcContent))
console.log(`\nwasm and basic agree on every GC value: ${agree ? 'yes' : 'NO'}`)

// The factory validates before creating anything, with typed errors.
for (const [organism, vmType, config] of [
  ['yeast', 'wasm', {}],
  ['syn3a', 'kvm', {}],
  ['ecoli', 'wasm', { genomeSize: -1 }],
  ['ecoli', 'xcpng', {}],
] as const) {
  try {
    await createBioVM('invalid', organism, vmType, config)
  } catch (error) {
    if (!isLuaVMError(error)) throw error
    console.log(`createBioVM('${organism}', '${vmType}') -> ${error._tag}: ${error.message}`)
  }
}
console.log('done')
