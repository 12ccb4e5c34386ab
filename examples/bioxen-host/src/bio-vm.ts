/**
 * The biological-VM factory of the BioXen seed, on bioxen-luavm:
 * `createBioVM(id, biologicalType, vmType, config)` gives a {@link BioVM} —
 * a Lua VM on the chosen infrastructure with the `bio_compute` library
 * available and the organism's settings applied — whose analyses (GC
 * content, codon usage, motif search) run as Lua inside the VM.
 *
 * How `bio_compute` (rocks/bio_compute/bio_compute.lua) reaches each VM,
 * until package installs land on every backend:
 * - `wasm`: mounted into the VM (`vm.mount`), so `require` finds it inside
 *   the sandbox; mounts survive a worker restart;
 * - `basic` (process): `LUA_PATH` (config `luaPath`) points at
 *   rocks/bio_compute/, so the native interpreter's `require` finds it;
 * - `xcpng`: the guest has no copy, and its sandbox lets `require` load only
 *   host-mounted modules, so each analysis carries the library's source
 *   and loads it with `load` — a few KiB per call, nothing left on the guest.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { processBackend } from '@bioxen-luavm/backend-process'
import { wasmBackend } from '@bioxen-luavm/backend-wasm'
import { xcpngBackend } from '@bioxen-luavm/backend-xcpng'
import {
  BackendRegistry,
  type BaseLuaVM,
  type ExecDefaults,
  InvalidArgumentError,
  type Logger,
  type LuaValue,
} from '@bioxen-luavm/core'
import {
  BACKEND_OF,
  type BiologicalType,
  type BioVMConfig,
  type BioVMConfigInput,
  type BioVMType,
  resolveBioConfig,
  validateBiologicalType,
  validateVMType,
} from './config.js'
import { type FastaRecord, NUCLEOTIDE, readFasta } from './fasta.js'

const ROCK_DIR = fileURLToPath(new URL('../../../rocks/bio_compute/', import.meta.url))
let librarySource: string | undefined

/** The real bio_compute library, read once. */
function bioComputeSource(): string {
  librarySource ??= readFileSync(`${ROCK_DIR}bio_compute.lua`, 'utf8')
  return librarySource
}

/** A Lua long-bracket literal holding `text` exactly (no escapes to get wrong). */
export function luaLongString(text: string): string {
  let level = 0
  while (text.includes(`]${'='.repeat(level)}]`)) level++
  const eq = '='.repeat(level)
  // A newline right after the opening bracket is dropped by Lua: add one so a leading newline in text survives.
  return `[${eq}[\n${text}]${eq}]`
}

let defaultRegistry: BackendRegistry | undefined

/** The registry BioVMs come from unless the caller passes one: process, wasm and xcpng. */
export function bioRegistry(): BackendRegistry {
  defaultRegistry ??= new BackendRegistry().register(processBackend).register(wasmBackend).register(xcpngBackend)
  return defaultRegistry
}

/** Options of {@link createBioVM} that are not BioXen config. */
export interface CreateBioVMOptions {
  /** Where backends come from (default {@link bioRegistry}); it must have the VM type's backend. */
  registry?: BackendRegistry
  logger?: Logger
  signal?: AbortSignal
}

/** Codon usage of one sequence in reading frame 1. */
export interface CodonUsage {
  /** Count of each codon seen (DNA letters). */
  counts: Record<string, number>
  /** Codons read. */
  total: number
}

/** What `analyze()` found in one sequence. */
export interface SequenceReport {
  id: string
  /** Bases in the sequence. */
  length: number
  /** Fraction of G and C among A/C/G/T/U bases (0..1). */
  gcContent: number
  codons: {
    total: number
    distinct: number
    /** The three most used codons, most used first (ties by codon). */
    top: { codon: string; count: number }[]
  }
  /** 1-based start positions of each configured motif (overlapping hits count). */
  motifs: Record<string, number[]>
}

/** What `analyze()` returns. */
export interface AnalysisReport {
  vmId: string
  biologicalType: BiologicalType
  vmType: BioVMType
  /** The backend that ran the analysis (`process` for `basic`). */
  backend: string
  luaVersion: string
  /** Version of the bio_compute library that ran. */
  library: string
  genomeSize: number
  geneCount: number
  sequenceFile: string
  records: SequenceReport[]
  totalBases: number
  /** GC content over all records together. */
  gcContent: number
}

/** A Lua VM set up for one organism, with `bio_compute` analyses. Stop it (or `await using`) when done. */
export class BioVM implements AsyncDisposable {
  /** The id given to `createBioVM`. */
  readonly id: string
  readonly biologicalType: BiologicalType
  readonly vmType: BioVMType
  /** Defaults merged with the caller's config. */
  readonly config: Readonly<BioVMConfig>
  /** The underlying Lua VM, for anything beyond the analyses. */
  readonly vm: BaseLuaVM
  /** True when the backend enforces `config.memoryLimitBytes`. */
  readonly memoryLimitEnforced: boolean
  readonly #library: string

  /** @internal use {@link createBioVM}. */
  constructor(init: {
    id: string
    biologicalType: BiologicalType
    vmType: BioVMType
    config: BioVMConfig
    vm: BaseLuaVM
    memoryLimitEnforced: boolean
    library: string
  }) {
    this.id = init.id
    this.biologicalType = init.biologicalType
    this.vmType = init.vmType
    this.config = Object.freeze({
      ...init.config,
      motifs: [...init.config.motifs],
      backend: { ...init.config.backend },
    })
    this.vm = init.vm
    this.memoryLimitEnforced = init.memoryLimitEnforced
    this.#library = init.library
  }

  /** The records of `config.sequenceFile` (or of `path`). */
  loadSequences(path: string = this.config.sequenceFile): Promise<FastaRecord[]> {
    return readFasta(path)
  }

  /** Fraction of G and C bases (0..1), computed by bio_compute inside the VM. */
  async gcContent(sequence: string): Promise<number> {
    const [gc] = await this.#run(`return bio.gc_content(${seq(sequence)})`)
    return gc as number
  }

  /** Codon usage in reading frame 1, computed inside the VM. */
  async codonUsage(sequence: string): Promise<CodonUsage> {
    const [counts, total] = await this.#run(`return bio.codon_usage(${seq(sequence)})`)
    return { counts: asRecord(counts) as Record<string, number>, total: total as number }
  }

  /** 1-based start positions of `motif` (overlapping; N matches any base), found inside the VM. */
  async findMotif(sequence: string, motif: string): Promise<number[]> {
    const [hits] = await this.#run(`return bio.find_motif(${seq(sequence)}, ${seq(motif)})`)
    return Array.isArray(hits) ? (hits as number[]) : []
  }

  /**
   * The full report on `records` (default: the records of
   * `config.sequenceFile`): per sequence its length, GC content, codon
   * usage summary and motif hits, plus the overall GC content — all in one
   * Lua execution.
   */
  async analyze(records?: readonly FastaRecord[]): Promise<AnalysisReport> {
    const input = records ?? (await this.loadSequences())
    const list = input.map((r) => `{ id = ${luaLongString(r.id)}, seq = ${seq(r.sequence)} }`).join(',\n')
    const motifs = this.config.motifs.map((m) => seq(m)).join(', ')
    const [report] = await this.#run(`
local records = { ${list} }
local motifs = { ${motifs} }
local out, all = {}, {}
for i, r in ipairs(records) do
  local counts, total = bio.codon_usage(r.seq)
  local ranked = {}
  for codon, n in pairs(counts) do ranked[#ranked + 1] = { codon = codon, count = n } end
  table.sort(ranked, function(a, b)
    if a.count ~= b.count then return a.count > b.count end
    return a.codon < b.codon
  end)
  local top = {}
  for k = 1, math.min(3, #ranked) do top[k] = ranked[k] end
  local hits = {}
  for _, m in ipairs(motifs) do hits[m] = bio.find_motif(r.seq, m) end
  out[i] = {
    id = r.id, length = #bio.normalize(r.seq), gc = bio.gc_content(r.seq),
    codons_total = total, codons_distinct = #ranked, top = top, motifs = hits,
  }
  all[#all + 1] = r.seq
end
return { records = out, gc = bio.gc_content(table.concat(all)), library = bio._VERSION }`)
    const r = report as {
      records: unknown
      gc: number
      library: string
    }
    const rows = (Array.isArray(r.records) ? r.records : []) as Array<Record<string, unknown>>
    const reports: SequenceReport[] = rows.map((row) => ({
      id: String(row.id),
      length: row.length as number,
      gcContent: row.gc as number,
      codons: {
        total: row.codons_total as number,
        distinct: row.codons_distinct as number,
        top: (Array.isArray(row.top) ? row.top : []) as { codon: string; count: number }[],
      },
      motifs: Object.fromEntries(
        this.config.motifs.map((m) => {
          const hits = asRecord(row.motifs)[m]
          // An empty Lua table has no array part to tell it apart from an object.
          return [m, Array.isArray(hits) ? (hits as number[]) : []]
        }),
      ),
    }))
    return {
      vmId: this.id,
      biologicalType: this.biologicalType,
      vmType: this.vmType,
      backend: this.vm.type,
      luaVersion: this.vm.luaVersion,
      library: r.library,
      genomeSize: this.config.genomeSize,
      geneCount: this.config.geneCount,
      sequenceFile: this.config.sequenceFile,
      records: reports,
      totalBases: reports.reduce((n, s) => n + s.length, 0),
      gcContent: r.gc,
    }
  }

  /** Stops the VM (an XCP-ng guest is shut down and destroyed). Idempotent. */
  stop(): Promise<void> {
    return this.vm.stop()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }

  /** Runs `body` with `bio` bound to the library; Lua errors reject typed (`throwOnError`). */
  async #run(body: string): Promise<LuaValue[]> {
    const result = await this.vm.execute(`local bio = ${this.#library}\n${body}`, {
      echoReturnValues: false,
      throwOnError: true,
      chunkName: `bioxen:${this.biologicalType}`,
    })
    return result.values
  }
}

/** A sequence as a Lua literal, after checking it holds only nucleotide letters. */
function seq(sequence: string): string {
  const s = String(sequence).replace(/\s+/g, '').toUpperCase()
  if (!NUCLEOTIDE.test(s)) throw new InvalidArgumentError('a sequence may hold only IUPAC nucleotide letters')
  return `"${s}"`
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {}
}

/**
 * Creates and starts a biological VM: validates the biological type, the
 * VM type (`basic` — the default, the native `process` backend — `wasm` or
 * `xcpng`) and the config (the type's defaults merged with `config`), then
 * makes the VM with the config's deadline and memory cap and makes
 * `bio_compute` available in it.
 *
 * @throws UnknownBiologicalTypeError, UnknownVMTypeError, BioConfigError before anything is created;
 *   the backend's own typed errors (e.g. `LuaNotFoundError`, `ConfigError`, `XapiError`) when the VM cannot start.
 */
export async function createBioVM(
  id: string,
  biologicalType: string,
  vmType: string = 'basic',
  config: BioVMConfigInput = {},
  options: CreateBioVMOptions = {},
): Promise<BioVM> {
  if (typeof id !== 'string' || id.trim() === '')
    throw new InvalidArgumentError('a BioVM id must be a non-empty string')
  const organism = validateBiologicalType(biologicalType)
  const infra = validateVMType(vmType)
  const resolved = resolveBioConfig(organism, infra, config)
  const registry = options.registry ?? bioRegistry()
  const backend = BACKEND_OF[infra]

  // Enforce the memory cap only where the backend can: wasm always (the
  // allocator), process when prlimit is installed (else the VM would refuse
  // to start), xcpng through the guest's prlimit. It is set on the VM —
  // wasm's heap cap, the interpreter's address-space cap on process and
  // xcpng — rather than per execution, so it also bounds the state the VM
  // keeps.
  const descriptor = registry.get(backend)
  let memoryLimitEnforced = descriptor?.capabilities.memoryLimit === true
  if (memoryLimitEnforced && backend === 'process') {
    const found = await descriptor!.detect()
    memoryLimitEnforced = typeof found.details?.prlimit === 'string'
  }
  const backendConfig: Record<string, unknown> = { ...resolved.backend }
  const capKey = backend === 'xcpng' ? 'memory_limit_bytes' : 'memoryLimitBytes'
  if (memoryLimitEnforced && backendConfig[capKey] === undefined) {
    backendConfig[capKey] = resolved.memoryLimitBytes
  }
  if (backend === 'process' && backendConfig.luaPath === undefined) {
    // The library's folder, then Lua's default path (";;").
    backendConfig.luaPath = `${ROCK_DIR}?.lua;;`
  }
  const limits: Partial<ExecDefaults> = { timeoutMs: resolved.timeoutMs }

  const vm = await registry.create(backend, id, backendConfig, {
    limits,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  })
  try {
    let library = 'require("bio_compute")'
    if (backend === 'wasm') {
      const mountable = vm as BaseLuaVM & { mount?(name: string, source: string): Promise<void> }
      if (typeof mountable.mount !== 'function')
        throw new InvalidArgumentError(`the '${backend}' VM cannot mount modules`)
      await mountable.mount('bio_compute', bioComputeSource())
    } else if (backend === 'xcpng') {
      library = `assert(load(${luaLongString(bioComputeSource())}, "=bio_compute.lua", "t"))()`
    }
    return new BioVM({
      id,
      biologicalType: organism,
      vmType: infra,
      config: resolved,
      vm,
      memoryLimitEnforced,
      library,
    })
  } catch (error) {
    await vm.stop().catch(() => {})
    throw error
  }
}
