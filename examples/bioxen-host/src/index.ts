/**
 * `@bioxen-luavm/example-bioxen-host` — an example host application: the
 * BioXen biological-VM factory (`createBioVM`) built on bioxen-luavm, with
 * `bio_compute` analyses (GC content, codon usage, motif search) running as
 * Lua inside process, wasm or XCP-ng VMs.
 *
 * ```ts
 * import { createBioVM } from '@bioxen-luavm/example-bioxen-host'
 * await using cell = await createBioVM('cell-1', 'syn3a', 'wasm')
 * const report = await cell.analyze()  // the bundled synthetic syn3a sequences
 * console.log(report.gcContent)
 * ```
 *
 * @packageDocumentation
 */
export {
  type AnalysisReport,
  BioVM,
  bioRegistry,
  type CodonUsage,
  type CreateBioVMOptions,
  createBioVM,
  luaLongString,
  type SequenceReport,
} from './bio-vm.js'
export {
  BACKEND_OF,
  type BiologicalType,
  type BioVMConfig,
  type BioVMConfigInput,
  type BioVMType,
  defaultBioConfig,
  resolveBioConfig,
  supportedBiologicalTypes,
  supportedVMTypes,
  validateBiologicalType,
  validateVMType,
} from './config.js'
export {
  BioConfigError,
  BioXenError,
  SequenceFileError,
  UnknownBiologicalTypeError,
  UnknownVMTypeError,
} from './errors.js'
export { type FastaRecord, NUCLEOTIDE, parseFasta, readFasta } from './fasta.js'
