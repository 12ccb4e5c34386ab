/**
 * The BioXen host example (examples/bioxen-host): the createBioVM factory's
 * validation and typed errors, the merge of per-type defaults with user
 * config, and the bio_compute analyses on wasm, process (basic) and xcpng
 * (XAPI simulator + real sshd) — every GC content, codon count and motif
 * position checked against values this test computes on its own from the
 * FASTA files. Finally main.ts runs as a reader would run it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BackendRegistry, type BaseLuaVM } from '@bioxen-luavm/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BioConfigError,
  BioXenError,
  createBioVM,
  defaultBioConfig,
  parseFasta,
  resolveBioConfig,
  SequenceFileError,
  supportedBiologicalTypes,
  supportedVMTypes,
  UnknownBiologicalTypeError,
  UnknownVMTypeError,
} from '../../examples/bioxen-host/src/index.js'
import { type SshdHarness, startSshd } from '../harness/sshd.js'
import { simConfig, startSim } from '../xapi-sim/fixture.js'
import type { XapiSim } from '../xapi-sim/server.js'
import { describeRun, repoRoot, runExample } from './helpers.js'

const dataDir = join(repoRoot, 'examples', 'bioxen-host', 'data')

// Every BioVM of this file is stopped by its test (`await using`).
const organisms = ['syn3a', 'ecoli', 'minimal_cell'] as const

// ---- an independent reading of the data (no code from the example) ----------

/** Records of a FASTA file: header id and upper-case sequence. */
function records(organism: string): { id: string; sequence: string }[] {
  const text = readFileSync(join(dataDir, `${organism}_synthetic.fasta`), 'utf8')
  return text
    .split('>')
    .filter((chunk) => chunk.trim() !== '')
    .map((chunk) => {
      const [header = '', ...body] = chunk.split('\n')
      return { id: header.split(' ')[0] ?? '', sequence: body.join('').replace(/\s/g, '').toUpperCase() }
    })
}

function gc(sequence: string): number {
  let g = 0
  let n = 0
  for (const b of sequence) {
    if (b === 'G' || b === 'C') g++
    if ('ACGTU'.includes(b)) n++
  }
  return n === 0 ? 0 : g / n
}

function motifPositions(sequence: string, motif: string): number[] {
  const out: number[] = []
  for (let i = sequence.indexOf(motif); i !== -1; i = sequence.indexOf(motif, i + 1)) out.push(i + 1)
  return out
}

async function rejection(promise: Promise<unknown>): Promise<Error & { _tag?: string; code?: string }> {
  try {
    await promise
  } catch (error) {
    return error as Error & { _tag?: string }
  }
  throw new Error('expected a rejection')
}

/** A registry that counts VMs created, to prove validation happens before anything starts. */
class CountingRegistry extends BackendRegistry {
  created = 0
  override async create(...args: Parameters<BackendRegistry['create']>): Promise<BaseLuaVM> {
    this.created++
    return super.create(...args)
  }
}

describe('createBioVM: validation with typed errors, before anything is created', () => {
  const registry = new CountingRegistry()

  it('lists the supported types', () => {
    expect(supportedBiologicalTypes()).toEqual(['syn3a', 'ecoli', 'minimal_cell'])
    expect(supportedVMTypes()).toEqual(['basic', 'wasm', 'xcpng'])
  })

  it('rejects an unknown biological type, naming the supported ones', async () => {
    const error = await rejection(createBioVM('v', 'yeast', 'wasm', {}, { registry }))
    expect(error).toBeInstanceOf(UnknownBiologicalTypeError)
    expect(error).toBeInstanceOf(BioXenError)
    expect(error._tag).toBe('UnknownBiologicalTypeError')
    expect(error.code).toBe('E_BIOXEN_BIOLOGICAL_TYPE')
    expect(error.message).toBe('unknown biological type "yeast"; supported: syn3a, ecoli, minimal_cell')
  })

  it('rejects an unknown VM type, with a hint for "process"', async () => {
    const error = await rejection(createBioVM('v', 'syn3a', 'kvm', {}, { registry }))
    expect(error).toBeInstanceOf(UnknownVMTypeError)
    expect(error.message).toBe('unknown VM type "kvm"; supported: basic, wasm, xcpng')
    const process = await rejection(createBioVM('v', 'syn3a', 'process', {}, { registry }))
    expect(process.message).toContain("'process' is called 'basic' here")
  })

  it.each([
    [{ genomeSize: 0 }, 'config.genomeSize must be a positive integer, got 0'],
    [{ geneCount: 1.5 }, 'config.geneCount must be a positive integer, got 1.5'],
    [{ timeoutMs: -1 }, 'config.timeoutMs must be an integer from 1 to 600000, got -1'],
    [
      { memoryLimitBytes: '10KB' },
      'config.memoryLimitBytes must be a size of at least 1 MiB (e.g. "64MiB"), got "10KB"',
    ],
    [{ motifs: ['TATAAT', 'XYZ'] }, 'config.motifs must be IUPAC nucleotide strings of 1 to 50 letters, got "XYZ"'],
    [{ motifs: [] }, 'config.motifs must be a list of 1 to 10 motifs, got []'],
    [{ sequenceFile: '' }, 'config.sequenceFile must be a non-empty path, got ""'],
    [{ backend: 'lua5.4' }, 'config.backend must be an object of backend settings, got "lua5.4"'],
    [
      { genome: 1 },
      "unknown config key 'genome'; known: genomeSize, geneCount, sequenceFile, memoryLimitBytes, timeoutMs, motifs, backend",
    ],
  ])('rejects bad config %j', async (config, message) => {
    const error = await rejection(createBioVM('v', 'ecoli', 'wasm', config as never, { registry }))
    expect(error).toBeInstanceOf(BioConfigError)
    expect(error._tag).toBe('BioConfigError')
    expect(error.message).toBe(message)
  })

  it('requires the XCP-ng connection for the xcpng VM type (the seed spec)', async () => {
    const error = await rejection(createBioVM('v', 'syn3a', 'xcpng', {}, { registry }))
    expect(error).toBeInstanceOf(BioConfigError)
    expect(error.message).toContain("VM type 'xcpng' needs config.backend with the XCP-ng connection")
  })

  it('rejects an empty id', async () => {
    expect((await rejection(createBioVM(' ', 'syn3a', 'wasm', {}, { registry })))._tag).toBe('InvalidArgumentError')
  })

  it('created no VM for any of the invalid calls', () => {
    expect(registry.created).toBe(0)
  })
})

describe('BioXen config: per-type defaults merged with user config', () => {
  it('has defaults for every type, each with its bundled synthetic sequence file', () => {
    for (const organism of organisms) {
      const d = defaultBioConfig(organism)
      expect(d.sequenceFile).toBe(join(dataDir, `${organism}_synthetic.fasta`))
      expect(d.genomeSize).toBeGreaterThan(d.geneCount)
      expect(d.motifs.length).toBeGreaterThan(0)
    }
    expect(defaultBioConfig('syn3a')).toMatchObject({ genomeSize: 543_379, geneCount: 473, timeoutMs: 10_000 })
    expect(defaultBioConfig('ecoli')).toMatchObject({ genomeSize: 4_641_652, memoryLimitBytes: 256 * 1024 * 1024 })
  })

  it('merges key by key (backend one level deep) and normalises values', () => {
    const merged = resolveBioConfig(
      'ecoli',
      'wasm',
      {
        geneCount: 10,
        memoryLimitBytes: '64MiB',
        motifs: ['gatc'],
        backend: { isolation: 'inline' },
        sequenceFile: 'x.fa',
      },
      '/data/lab',
    )
    const d = defaultBioConfig('ecoli')
    expect(merged).toEqual({
      ...d,
      geneCount: 10,
      memoryLimitBytes: 64 * 1024 * 1024,
      motifs: ['GATC'],
      backend: { isolation: 'inline' },
      sequenceFile: '/data/lab/x.fa',
    })
    expect(resolveBioConfig('ecoli', 'wasm', {})).toEqual(d)
  })

  it('hands out copies: changing one does not change the defaults', () => {
    const a = defaultBioConfig('syn3a')
    a.motifs.push('GATC')
    a.backend.extra = true
    expect(defaultBioConfig('syn3a').motifs).toEqual(['TATAAT', 'TTGACA'])
    expect(defaultBioConfig('syn3a').backend).toEqual({})
  })

  it('applies the merged config to the VM it creates', async () => {
    await using cell = await createBioVM('merge-check', 'minimal_cell', 'wasm', { timeoutMs: 1234, motifs: ['ATG'] })
    expect(cell.config).toMatchObject({ timeoutMs: 1234, motifs: ['ATG'], genomeSize: 580_076, geneCount: 525 })
    expect(cell.memoryLimitEnforced).toBe(true)
    // The configured deadline is the VM's default one.
    const loop = await cell.vm.execute('while true do end')
    expect(loop.status).toBe('timeout')
  })
})

describe('FASTA reading', () => {
  it('parses records and rejects what is not nucleotide FASTA, naming file and line', () => {
    expect(parseFasta('; comment\n>a first\nacg t\nTT\n\n>b\nN\n', 'x.fa')).toEqual([
      { id: 'a', description: 'first', sequence: 'ACGTTT' },
      { id: 'b', description: '', sequence: 'N' },
    ])
    expect(() => parseFasta('ACGT\n', 'x.fa')).toThrow("x.fa:1: sequence data before the first '>' header")
    expect(() => parseFasta('>a\nACGZ\n', 'x.fa')).toThrow("x.fa:2: 'Z' is not an IUPAC nucleotide code")
    expect(() => parseFasta('>a\n>b\nA\n', 'x.fa')).toThrow(SequenceFileError)
  })

  it('a missing sequence file is a SequenceFileError when analysed', async () => {
    await using cell = await createBioVM('missing-file', 'syn3a', 'wasm', { sequenceFile: '/nonexistent/x.fasta' })
    const error = await rejection(cell.analyze())
    expect(error._tag).toBe('SequenceFileError')
    expect(error.message).toContain("cannot read sequence file '/nonexistent/x.fasta'")
  })
})

/** Checks a BioVM's analyses of `organism` against the independent computation. */
async function checkAnalyses(cell: Awaited<ReturnType<typeof createBioVM>>, organism: string): Promise<void> {
  const expected = records(organism)
  const report = await cell.analyze()
  expect(report.library).toBe('0.1.0')
  expect(report.records.map((r) => r.id)).toEqual(expected.map((r) => r.id))
  report.records.forEach((r, i) => {
    const want = expected[i]!
    expect(r.length).toBe(want.sequence.length)
    expect(r.gcContent, `${r.id} GC`).toBeCloseTo(gc(want.sequence), 12)
    expect(r.codons.total).toBe(Math.floor(want.sequence.length / 3))
    for (const motif of cell.config.motifs) {
      expect(r.motifs[motif], `${r.id} ${motif}`).toEqual(motifPositions(want.sequence, motif))
    }
  })
  const all = expected.map((r) => r.sequence).join('')
  expect(report.totalBases).toBe(all.length)
  expect(report.gcContent, 'overall GC').toBeCloseTo(gc(all), 12)

  const first = expected[0]!.sequence
  expect(await cell.gcContent(first)).toBeCloseTo(gc(first), 12)
  expect(await cell.findMotif(first, 'ATG')).toEqual(motifPositions(first, 'ATG'))
  const usage = await cell.codonUsage(first)
  const counts: Record<string, number> = {}
  for (let i = 0; i + 3 <= first.length; i += 3)
    counts[first.slice(i, i + 3)] = (counts[first.slice(i, i + 3)] ?? 0) + 1
  expect(usage).toEqual({ counts, total: Math.floor(first.length / 3) })
  // A Lua error inside the library surfaces typed (throwOnError).
  expect((await rejection(cell.findMotif(first, '')))._tag).toBe('LuaRuntimeError')
}

describe.each(['wasm', 'basic'] as const)('analyses on %s match an independent computation', (vmType) => {
  it.each(organisms)('%s', async (organism) => {
    await using cell = await createBioVM(`${organism}-${vmType}-check`, organism, vmType)
    expect(cell.vm.type).toBe(vmType === 'basic' ? 'process' : 'wasm')
    await checkAnalyses(cell, organism)
  })
})

describe('analyses on xcpng (XAPI simulator + real sshd)', () => {
  let sim: XapiSim | undefined
  let sshd: SshdHarness | undefined

  beforeAll(async () => {
    sshd = await startSshd()
    sim = await startSim()
  })
  afterAll(async () => {
    await sim?.close()
    await sshd?.stop()
  })

  it('syn3a on an XCP-ng guest: same values, the library loaded per call, nothing left behind', async () => {
    {
      await using cell = await createBioVM('syn3a-xcpng', 'syn3a', 'xcpng', { backend: simConfig(sim!, sshd!) })
      expect(cell.vm.type).toBe('xcpng')
      expect(cell.memoryLimitEnforced, 'the guest has prlimit').toBe(true)
      await checkAnalyses(cell, 'syn3a')
      // syn3a's 64 MiB cap holds on the guest.
      expect((await cell.vm.execute('local s = ("x"):rep(96 * 1024 * 1024) return #s')).status).toBe('memory')
    }
    expect(sim!.leaks()).toEqual([])
  })
})

describe('main.ts', () => {
  let dir: string | undefined
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('prints the report table for every organism on wasm and basic, with the right GC values', async () => {
    const run = await runExample('examples/bioxen-host/main.ts')
    expect(run.code, describeRun(run)).toBe(0)
    for (const organism of organisms) {
      const percent = `${(
        gc(
          records(organism)
            .map((r) => r.sequence)
            .join(''),
        ) * 100
      ).toFixed(2)}%`
      for (const [vm, backend] of [
        ['wasm', 'wasm'],
        ['basic', 'process'],
      ]) {
        const row = run.stdout.split('\n').find((l) => new RegExp(`^${organism}\\s+${vm}\\s+${backend}\\s`).test(l))
        expect(row, `${organism}/${vm} row\n${describeRun(run)}`).toBeDefined()
        expect(row).toContain(` ${percent} `)
      }
    }
    expect(run.stdout).toContain('wasm and basic agree on every GC value: yes')
    expect(run.stdout).toContain("createBioVM('yeast', 'wasm') -> UnknownBiologicalTypeError")
    expect(run.stdout).toContain("createBioVM('syn3a', 'kvm') -> UnknownVMTypeError")
    expect(run.stdout).toContain("createBioVM('ecoli', 'xcpng') -> BioConfigError")
    expect(run.stdout.trimEnd().endsWith('done')).toBe(true)
  })

  it('reads a user sequence file given in config', async () => {
    dir = mkdtempSync(join(tmpdir(), 'luavm-bioxen-'))
    writeFileSync(join(dir, 'mine.fasta'), '>mine_1 SYNTHETIC\nGGGCCCAAAT\n')
    await using cell = await createBioVM('own-file', 'syn3a', 'wasm', { sequenceFile: join(dir, 'mine.fasta') })
    const report = await cell.analyze()
    expect(report.records).toHaveLength(1)
    expect(report.gcContent).toBeCloseTo(0.6, 12)
  })
})
