/**
 * A small FASTA reader for nucleotide sequences: enough for the host to
 * hand clean sequences to Lua, strict enough that nothing but IUPAC
 * nucleotide letters ever reaches the Lua source it builds.
 *
 * @module
 */
import { readFile } from 'node:fs/promises'
import { SequenceFileError } from './errors.js'

/** One record of a FASTA file. */
export interface FastaRecord {
  /** The first word of the header line, e.g. `syn3a_synthetic_1`. */
  id: string
  /** The rest of the header line. */
  description: string
  /** The sequence in upper case, without whitespace. */
  sequence: string
}

/** IUPAC nucleotide codes (DNA and RNA), the only letters a sequence may hold. */
export const NUCLEOTIDE = /^[ACGTURYSWKMBDHVN]*$/

/**
 * Parses FASTA text. Lines starting with `;` are comments; blank lines are
 * skipped. Throws `SequenceFileError` naming `source` and the line for
 * text before the first header, an empty record or a non-nucleotide letter.
 */
export function parseFasta(text: string, source = 'FASTA text'): FastaRecord[] {
  const records: FastaRecord[] = []
  let current: { id: string; description: string; parts: string[]; line: number } | undefined
  const finish = () => {
    if (!current) return
    const sequence = current.parts.join('')
    if (sequence === '') {
      throw new SequenceFileError(`${source}:${current.line}: record '${current.id}' has no sequence`)
    }
    records.push({ id: current.id, description: current.description, sequence })
  }
  const lines = text.split(/\r?\n/)
  lines.forEach((raw, index) => {
    const line = raw.trim()
    const lineNo = index + 1
    if (line === '' || line.startsWith(';')) return
    if (line.startsWith('>')) {
      finish()
      const header = line.slice(1).trim()
      const [id = '', ...rest] = header.split(/\s+/)
      if (id === '') throw new SequenceFileError(`${source}:${lineNo}: a header line needs an id after '>'`)
      current = { id, description: rest.join(' '), parts: [], line: lineNo }
      return
    }
    if (!current) throw new SequenceFileError(`${source}:${lineNo}: sequence data before the first '>' header`)
    const bases = line.replace(/\s+/g, '').toUpperCase()
    if (!NUCLEOTIDE.test(bases)) {
      const bad = [...bases].find((c) => !NUCLEOTIDE.test(c))
      throw new SequenceFileError(`${source}:${lineNo}: '${bad}' is not an IUPAC nucleotide code`)
    }
    current.parts.push(bases)
  })
  finish()
  if (records.length === 0) throw new SequenceFileError(`${source}: no FASTA records`)
  return records
}

/** Reads and parses a FASTA file; a missing or unreadable file is a `SequenceFileError`. */
export async function readFasta(path: string): Promise<FastaRecord[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new SequenceFileError(`cannot read sequence file '${path}': ${(error as Error).message}`, { cause: error })
  }
  return parseFasta(text, path)
}
