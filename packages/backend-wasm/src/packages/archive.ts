/**
 * Just enough of zip, gzip and tar to unpack rocks in memory, in Node and
 * in browsers. fflate does the inflating; the container formats are read
 * here so that every size is checked before memory is spent on it:
 *
 * - zip entries are found through the central directory (not by scanning
 *   for signatures), inflated in slices with a running byte count, and
 *   checked against their recorded size and CRC-32 — fflate's one-shot
 *   `unzipSync` trusts the recorded sizes, so a lying header could make it
 *   allocate gigabytes or return a silently truncated file;
 * - gzip is inflated in slices with the same byte budget (its trailer size
 *   is only a hint, and a small archive can inflate to anything);
 * - tar is ustar with the GNU long-name and pax path extensions that
 *   `git archive` and GNU tar write.
 *
 * Nothing here touches a file system: rocks are bytes in, bytes out.
 */
import { Gunzip, Inflate } from 'fflate'

/** A problem with an archive: corrupt, unsupported or over a limit. */
export class ArchiveError extends Error {
  override readonly name = 'ArchiveError'
}

/** How many bytes unpacking may produce, shared by everything one install unpacks. */
export class ByteBudget {
  #left: number
  readonly #stop: (() => void) | undefined
  /**
   * @param limit - bytes unpacking may produce
   * @param stop - called on every slice; throws to stop unpacking (the install's deadline or AbortSignal)
   */
  constructor(
    readonly limit: number,
    stop?: () => void,
  ) {
    this.#left = limit
    this.#stop = stop
  }

  /** Lets the install's deadline or AbortSignal stop the work (unpacking is synchronous). */
  check(): void {
    this.#stop?.()
  }

  /** Spends `n` bytes; throws `ArchiveError` once the budget is exceeded. */
  spend(n: number, what: string): void {
    this.check()
    this.#left -= n
    if (this.#left < 0) {
      throw new ArchiveError(`${what} unpacks to more than ${Math.round(this.limit / 1024 / 1024)} MiB`)
    }
  }
}

/** One member of a zip file, as its central directory describes it. */
export interface ZipEntry {
  name: string
  /** 0 stored, 8 deflated. */
  method: number
  compressedSize: number
  size: number
  crc: number
  /** Offset of the local header. */
  offset: number
  directory: boolean
}

/** A zip file read from memory: names first, contents on demand. */
export class ZipReader {
  readonly entries: readonly ZipEntry[]
  readonly #data: Uint8Array
  readonly #what: string

  /** Reads the central directory of `data`; `what` names the file in errors. */
  constructor(data: Uint8Array, what: string) {
    this.#data = data
    this.#what = what
    this.entries = readCentralDirectory(data, what)
  }

  /** The entry called `name`, if any. */
  get(name: string): ZipEntry | undefined {
    return this.entries.find((e) => e.name === name)
  }

  /** The bytes of `entry`, inflated within `budget` and checked against its CRC-32. */
  read(entry: ZipEntry, budget: ByteBudget): Uint8Array {
    const d = this.#data
    const where = `${this.#what}: ${entry.name}`
    if (entry.offset + 30 > d.length || u32(d, entry.offset) !== 0x04034b50) {
      throw new ArchiveError(`${where}: bad local header`)
    }
    const start = entry.offset + 30 + u16(d, entry.offset + 26) + u16(d, entry.offset + 28)
    const raw = d.subarray(start, start + entry.compressedSize)
    if (raw.length !== entry.compressedSize) throw new ArchiveError(`${where}: truncated`)
    budget.spend(entry.size, this.#what)
    let out: Uint8Array
    if (entry.method === 0) out = raw.slice()
    else if (entry.method === 8) out = inflateBounded(raw, entry.size, where, budget)
    else throw new ArchiveError(`${where}: unsupported compression method ${entry.method}`)
    if (out.length !== entry.size) throw new ArchiveError(`${where}: size does not match the directory`)
    if (crc32(out) !== entry.crc) throw new ArchiveError(`${where}: CRC mismatch (corrupt archive)`)
    return out
  }
}

function readCentralDirectory(d: Uint8Array, what: string): ZipEntry[] {
  // The end record is in the last 22 + 65535 (comment) bytes.
  let eocd = -1
  for (let i = d.length - 22; i >= Math.max(0, d.length - 22 - 0xffff); i--) {
    if (u32(d, i) === 0x06054b50) {
      eocd = i
      break
    }
  }
  if (eocd < 0) throw new ArchiveError(`${what} is not a zip file`)
  const count = u16(d, eocd + 10)
  const size = u32(d, eocd + 12)
  let p = u32(d, eocd + 16)
  if (count === 0xffff || size === 0xffffffff || p === 0xffffffff) {
    throw new ArchiveError(`${what}: ZIP64 archives are not supported (rocks are small)`)
  }
  if (p + size > d.length) throw new ArchiveError(`${what}: the central directory is out of bounds`)
  const entries: ZipEntry[] = []
  const decoder = new TextDecoder()
  for (let k = 0; k < count; k++) {
    if (p + 46 > d.length || u32(d, p) !== 0x02014b50) throw new ArchiveError(`${what}: bad central directory`)
    const flags = u16(d, p + 8)
    const nameLength = u16(d, p + 28)
    const entry: ZipEntry = {
      name: decoder.decode(d.subarray(p + 46, p + 46 + nameLength)).replace(/\\/g, '/'),
      method: u16(d, p + 10),
      crc: u32(d, p + 16),
      compressedSize: u32(d, p + 20),
      size: u32(d, p + 24),
      offset: u32(d, p + 42),
      directory: false,
    }
    entry.directory = entry.name.endsWith('/')
    if (flags & 1) throw new ArchiveError(`${what}: ${entry.name} is encrypted`)
    entries.push(entry)
    p += 46 + nameLength + u16(d, p + 30) + u16(d, p + 32)
  }
  return entries
}

// Compressed input goes in slices this big, so one slice can inflate to at
// most ~1032 times as much before the byte count is checked again.
const SLICE = 8 * 1024

/** Inflates raw deflate data, refusing to produce more than `limit` bytes. */
function inflateBounded(raw: Uint8Array, limit: number, where: string, budget: ByteBudget): Uint8Array {
  // The entry's size was spent already: the budget is only asked whether to stop.
  return collect(new Inflate(), raw, limit, where, budget, false)
}

/** Gunzips `data`, refusing to produce more than `budget` allows. */
export function gunzipBounded(data: Uint8Array, budget: ByteBudget, what: string): Uint8Array {
  const out = collect(new Gunzip(), data, Number.MAX_SAFE_INTEGER, what, budget, true)
  return out
}

function collect(
  stream: Inflate | Gunzip,
  input: Uint8Array,
  limit: number,
  where: string,
  budget: ByteBudget,
  spend: boolean,
): Uint8Array {
  const chunks: Uint8Array[] = []
  let total = 0
  // What the budget threw to stop the install passes through as it is.
  let stopped: unknown
  stream.ondata = (chunk) => {
    total += chunk.length
    if (total > limit) throw new ArchiveError(`${where}: inflates past its recorded size`)
    try {
      if (spend) budget.spend(chunk.length, where)
      else budget.check()
    } catch (error) {
      stopped = error
      throw error
    }
    chunks.push(chunk)
  }
  try {
    for (let i = 0; i < input.length; i += SLICE) {
      stream.push(input.subarray(i, i + SLICE), i + SLICE >= input.length)
    }
    if (input.length === 0) stream.push(new Uint8Array(0), true)
  } catch (error) {
    if (error instanceof ArchiveError || (stopped !== undefined && error === stopped)) throw error
    throw new ArchiveError(`${where}: ${error instanceof Error ? error.message : String(error)}`)
  }
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}

/** A regular file of a tar archive. */
export interface TarFile {
  name: string
  data: Uint8Array
}

/** Reads the regular files of an (uncompressed) tar archive; directories, links and devices are skipped. */
export function readTar(data: Uint8Array, what: string): TarFile[] {
  const files: TarFile[] = []
  const decoder = new TextDecoder()
  const text = (from: number, length: number) => {
    const bytes = data.subarray(from, from + length)
    const nul = bytes.indexOf(0)
    return decoder.decode(nul < 0 ? bytes : bytes.subarray(0, nul))
  }
  let p = 0
  let longName: string | undefined
  let paxPath: string | undefined
  while (p + 512 <= data.length) {
    // Two zero blocks end the archive; one is enough to stop.
    if (data.subarray(p, p + 512).every((b) => b === 0)) break
    const sizeField = data.subarray(p + 124, p + 136)
    if ((sizeField[0] ?? 0) & 0x80) throw new ArchiveError(`${what}: tar member too large`)
    const size = Number.parseInt(text(p + 124, 12).trim() || '0', 8)
    if (!Number.isFinite(size) || size < 0) throw new ArchiveError(`${what}: bad tar header`)
    const type = String.fromCharCode(data[p + 156] ?? 0)
    const body = p + 512
    if (body + size > data.length) throw new ArchiveError(`${what}: truncated tar archive`)
    const content = data.subarray(body, body + size)
    const prefix = text(p + 257, 6) === 'ustar' ? text(p + 345, 155) : ''
    const headerName = prefix ? `${prefix}/${text(p, 100)}` : text(p, 100)
    if (type === 'L') {
      longName = text(body, size)
    } else if (type === 'x') {
      paxPath = paxField(decoder.decode(content), 'path') ?? paxPath
    } else if (type === 'g') {
      // A global pax header (git archive writes its commit id there): nothing to keep.
    } else {
      const name = (paxPath ?? longName ?? headerName).replace(/\\/g, '/')
      longName = undefined
      paxPath = undefined
      if (type === '0' || type === '\0' || type === '7') files.push({ name, data: content })
    }
    p = body + Math.ceil(size / 512) * 512
  }
  return files
}

function paxField(records: string, key: string): string | undefined {
  // Records are "<length> <key>=<value>\n".
  for (const line of records.split('\n')) {
    const m = /^\d+ ([^=]+)=(.*)$/s.exec(line)
    if (m && m[1] === key) return m[2]
  }
  return undefined
}

/** What an archive's bytes say it is. */
export function sniffArchive(data: Uint8Array): 'gzip' | 'zip' | 'tar' | 'bzip2' | 'xz' | 'unknown' {
  if (data[0] === 0x1f && data[1] === 0x8b) return 'gzip'
  if (data[0] === 0x50 && data[1] === 0x4b) return 'zip'
  if (data[0] === 0x42 && data[1] === 0x5a && data[2] === 0x68) return 'bzip2'
  if (data[0] === 0xfd && data[1] === 0x37 && data[2] === 0x7a) return 'xz'
  if (data.length >= 262 && String.fromCharCode(...data.subarray(257, 262)) === 'ustar') return 'tar'
  return 'unknown'
}

let crcTable: Uint32Array | undefined

/** CRC-32 (zip's polynomial) of `data`. */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      crcTable[n] = c >>> 0
    }
  }
  let c = 0xffffffff
  for (let i = 0; i < data.length; i++) c = (crcTable[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function u16(d: Uint8Array, i: number): number {
  return ((d[i] ?? 0) | ((d[i + 1] ?? 0) << 8)) >>> 0
}

function u32(d: Uint8Array, i: number): number {
  return ((d[i] ?? 0) | ((d[i + 1] ?? 0) << 8) | ((d[i + 2] ?? 0) << 16) | ((d[i + 3] ?? 0) << 24)) >>> 0
}
