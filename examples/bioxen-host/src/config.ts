/**
 * Biological types, VM (infrastructure) types, per-type default configs,
 * and the merge + validation of a user's config over them.
 *
 * @module
 */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseSize } from '@bioxen-luavm/core'
import { BioConfigError, UnknownBiologicalTypeError, UnknownVMTypeError } from './errors.js'

/** The organisms a BioVM can model. */
export type BiologicalType = 'syn3a' | 'ecoli' | 'minimal_cell'

/**
 * Where a BioVM runs: `basic` is the original library's name for the native
 * `process` backend; `wasm` is the in-process sandbox; `xcpng` an XCP-ng guest.
 */
export type BioVMType = 'basic' | 'wasm' | 'xcpng'

/** A BioVM's settings after defaults were merged in. */
export interface BioVMConfig {
  /** Genome size of the organism in base pairs (reference metadata for reports). */
  genomeSize: number
  /** Number of genes of the organism (reference metadata for reports). */
  geneCount: number
  /** FASTA file analysed by default (absolute path). */
  sequenceFile: string
  /** Heap cap of the VM, where the backend enforces one. */
  memoryLimitBytes: number
  /** Deadline of every analysis. */
  timeoutMs: number
  /** Motifs searched by `analyze()` (IUPAC letters; N matches any base). */
  motifs: string[]
  /** Settings for the backend, e.g. `{ luaExecutable: 'lua5.3' }`, or the XCP-ng connection. */
  backend: Record<string, unknown>
}

/** What a caller may pass: any subset; `memoryLimitBytes` also takes sizes like `"64MiB"`. */
export type BioVMConfigInput = Partial<Omit<BioVMConfig, 'memoryLimitBytes'>> & {
  memoryLimitBytes?: number | string
}

const dataFile = (name: string) => fileURLToPath(new URL(`../data/${name}`, import.meta.url))
const MiB = 1024 * 1024

// Reference values are approximate and for reports only: the analyses run
// on the bundled *synthetic* sequences (see data/README.md).
const DEFAULTS: Readonly<Record<BiologicalType, Readonly<BioVMConfig>>> = {
  // JCVI-Syn3A, the minimal synthetic cell: ~543 kbp, 473 genes (438 protein-coding, 35 RNA).
  syn3a: {
    genomeSize: 543_379,
    geneCount: 473,
    sequenceFile: dataFile('syn3a_synthetic.fasta'),
    memoryLimitBytes: 64 * MiB,
    timeoutMs: 10_000,
    motifs: ['TATAAT', 'TTGACA'], // -10 (Pribnow) and -35 promoter boxes
    backend: {},
  },
  // Escherichia coli K-12 MG1655: ~4.64 Mbp, ~4,300 protein-coding genes.
  ecoli: {
    genomeSize: 4_641_652,
    geneCount: 4_288,
    sequenceFile: dataFile('ecoli_synthetic.fasta'),
    memoryLimitBytes: 256 * MiB,
    timeoutMs: 30_000,
    motifs: ['GATC', 'AGGAGG'], // Dam methylation site, Shine-Dalgarno
    backend: {},
  },
  // A generic minimal cell on the scale of Mycoplasma genitalium: ~580 kbp, ~525 genes.
  minimal_cell: {
    genomeSize: 580_076,
    geneCount: 525,
    sequenceFile: dataFile('minimal_cell_synthetic.fasta'),
    memoryLimitBytes: 32 * MiB,
    timeoutMs: 5_000,
    motifs: ['TATAAT'],
    backend: {},
  },
}

const VM_TYPES: readonly BioVMType[] = ['basic', 'wasm', 'xcpng']

/** The backend type behind each VM type. */
export const BACKEND_OF: Readonly<Record<BioVMType, string>> = { basic: 'process', wasm: 'wasm', xcpng: 'xcpng' }

/** Organisms `createBioVM` accepts. */
export function supportedBiologicalTypes(): BiologicalType[] {
  return Object.keys(DEFAULTS) as BiologicalType[]
}

/** Infrastructures `createBioVM` accepts. */
export function supportedVMTypes(): BioVMType[] {
  return [...VM_TYPES]
}

/** Returns `type` when it is a supported biological type; else throws `UnknownBiologicalTypeError`. */
export function validateBiologicalType(type: unknown): BiologicalType {
  if (typeof type === 'string' && Object.hasOwn(DEFAULTS, type)) return type as BiologicalType
  throw new UnknownBiologicalTypeError(
    `unknown biological type ${JSON.stringify(type)}; supported: ${supportedBiologicalTypes().join(', ')}`,
    { details: { biologicalType: type, supported: supportedBiologicalTypes() } },
  )
}

/** Returns `type` when it is a supported VM type; else throws `UnknownVMTypeError`. */
export function validateVMType(type: unknown): BioVMType {
  if (typeof type === 'string' && (VM_TYPES as readonly string[]).includes(type)) return type as BioVMType
  const hint = type === 'process' ? " ('process' is called 'basic' here)" : ''
  throw new UnknownVMTypeError(
    `unknown VM type ${JSON.stringify(type)}${hint}; supported: ${supportedVMTypes().join(', ')}`,
    { details: { vmType: type, supported: supportedVMTypes() } },
  )
}

/** A copy of the default config of a biological type. */
export function defaultBioConfig(biologicalType: BiologicalType): BioVMConfig {
  const d = DEFAULTS[validateBiologicalType(biologicalType)]
  return { ...d, motifs: [...d.motifs], backend: { ...d.backend } }
}

const KEYS = Object.keys(DEFAULTS.syn3a) as (keyof BioVMConfig)[]
const MOTIF = /^[ACGTURYSWKMBDHVN]{1,50}$/

/**
 * The type's defaults with `input` merged over them (key by key; `backend`
 * merged one level deep), validated. Throws `BioConfigError` naming the key.
 * A relative `sequenceFile` is resolved against `cwd`.
 */
export function resolveBioConfig(
  biologicalType: BiologicalType,
  vmType: BioVMType,
  input: BioVMConfigInput = {},
  cwd: string = process.cwd(),
): BioVMConfig {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new BioConfigError(`config must be an object, got ${input === null ? 'null' : typeof input}`)
  }
  const unknown = Object.keys(input).filter((k) => !(KEYS as string[]).includes(k))
  if (unknown.length > 0) {
    throw new BioConfigError(
      `unknown config key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; known: ${KEYS.join(', ')}`,
    )
  }
  const base = defaultBioConfig(biologicalType)
  const merged: BioVMConfig = { ...base }
  const bad = (key: string, want: string, got: unknown) =>
    new BioConfigError(`config.${key} must be ${want}, got ${JSON.stringify(got)}`, { details: { key } })

  for (const key of ['genomeSize', 'geneCount'] as const) {
    const v = input[key]
    if (v === undefined) continue
    if (!Number.isInteger(v) || (v as number) < 1) throw bad(key, 'a positive integer', v)
    merged[key] = v as number
  }
  if (input.timeoutMs !== undefined) {
    const v = input.timeoutMs
    if (!Number.isInteger(v) || v < 1 || v > 600_000) throw bad('timeoutMs', 'an integer from 1 to 600000', v)
    merged.timeoutMs = v
  }
  if (input.memoryLimitBytes !== undefined) {
    const v = parseSize(input.memoryLimitBytes)
    if (v === undefined || v < MiB)
      throw bad('memoryLimitBytes', 'a size of at least 1 MiB (e.g. "64MiB")', input.memoryLimitBytes)
    merged.memoryLimitBytes = v
  }
  if (input.sequenceFile !== undefined) {
    const v = input.sequenceFile
    if (typeof v !== 'string' || v.trim() === '') throw bad('sequenceFile', 'a non-empty path', v)
    merged.sequenceFile = resolve(cwd, v)
  }
  if (input.motifs !== undefined) {
    const v = input.motifs
    if (!Array.isArray(v) || v.length === 0 || v.length > 10) throw bad('motifs', 'a list of 1 to 10 motifs', v)
    const upper = v.map((m) => (typeof m === 'string' ? m.toUpperCase() : m))
    const wrong = upper.find((m) => typeof m !== 'string' || !MOTIF.test(m))
    if (wrong !== undefined) throw bad('motifs', 'IUPAC nucleotide strings of 1 to 50 letters', wrong)
    merged.motifs = upper as string[]
  }
  if (input.backend !== undefined) {
    const v = input.backend
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      throw bad('backend', 'an object of backend settings', v)
    merged.backend = { ...base.backend, ...v }
  }
  // The seed spec: an XCP-ng VM cannot be made without its connection config.
  if (vmType === 'xcpng' && Object.keys(merged.backend).length === 0) {
    throw new BioConfigError(
      "VM type 'xcpng' needs config.backend with the XCP-ng connection (xapi_url, username, password, template_name, ssh_user, …; see docs/xcpng.md)",
    )
  }
  return merged
}
