/**
 * Typed errors of the BioXen host. They extend core's `LuaVMError`, so a
 * host handles them like the SDK's own: a stable `_tag` (the class name,
 * for `catchTag`-style matching) and `code`, and a message that says what
 * to do.
 *
 * @module
 */
import { LuaVMError } from '@bioxen-luavm/core'

type ErrorOptions = { cause?: unknown; details?: Record<string, unknown> }

/** Base class of every BioXen host error. */
export class BioXenError extends LuaVMError {
  override readonly _tag: string = 'BioXenError'
  override readonly code: string = 'E_BIOXEN'
}

/** The biological type is not one of `supportedBiologicalTypes()`. */
export class UnknownBiologicalTypeError extends BioXenError {
  override readonly _tag = 'UnknownBiologicalTypeError'
  override readonly code = 'E_BIOXEN_BIOLOGICAL_TYPE'
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options)
  }
}

/** The VM (infrastructure) type is not one of `supportedVMTypes()`. */
export class UnknownVMTypeError extends BioXenError {
  override readonly _tag = 'UnknownVMTypeError'
  override readonly code = 'E_BIOXEN_VM_TYPE'
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options)
  }
}

/** A BioXen config value is missing, unknown or out of range. */
export class BioConfigError extends BioXenError {
  override readonly _tag = 'BioConfigError'
  override readonly code = 'E_BIOXEN_CONFIG'
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options)
  }
}

/** A sequence file cannot be read or is not valid nucleotide FASTA. */
export class SequenceFileError extends BioXenError {
  override readonly _tag = 'SequenceFileError'
  override readonly code = 'E_BIOXEN_SEQUENCE'
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options)
  }
}
