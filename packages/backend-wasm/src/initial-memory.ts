/**
 * glue.wasm (wasmoon 1.16) declares 16 MiB of initial linear memory, while a
 * fresh VM uses about 1.2 MiB of it: static data, the 1 MiB C stack and the
 * runtime's Lua heap. V8 counts each instance's whole memory as external
 * memory and starts a garbage collection whenever enough of it was
 * allocated; at 16 MiB per VM that was every other new VM, and most of the
 * time a new VM took on a heap of any size.
 *
 * {@link lowerInitialMemory} rewrites the declared minimum to what the
 * module's static layout needs plus some room for the Lua heap. The maximum
 * is untouched and memory still grows on demand (Emscripten's
 * `emscripten_resize_heap`), so no program sees a difference. Anything the
 * parser does not fully understand leaves the bytes as they are.
 */

const PAGE = 65536
/** Room for the Lua heap above the static layout (a new VM's heap is ~150 KiB). */
const HEADROOM_PAGES = 16

/** `bytes` with the memory's initial size lowered, or `bytes` itself when it cannot or need not be. */
export function lowerInitialMemory(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  try {
    return lower(bytes) ?? bytes
  } catch {
    return bytes
  }
}

interface MemorySection {
  /** Offset of the section id byte, and of the first byte after the section. */
  start: number
  end: number
  flags: number
  min: number
  max: number | undefined
}

function lower(bytes: Uint8Array): Uint8Array<ArrayBuffer> | undefined {
  const r = new Reader(bytes)
  if (r.u32le() !== 0x6d736100 || r.u32le() !== 1) return undefined
  let memory: MemorySection | undefined
  // The highest address the module's own layout reaches: ends of data
  // segments and i32 global initializers (Emscripten's stack pointer).
  let top = 0
  while (!r.done()) {
    const start = r.pos
    const id = r.byte()
    const size = r.uleb()
    const end = r.pos + size
    if (id === 5) {
      if (r.uleb() !== 1) return undefined
      const flags = r.byte()
      if (flags > 1) return undefined // shared or 64-bit memory: leave it alone
      const min = r.uleb()
      const max = flags === 1 ? r.uleb() : undefined
      memory = { start, end, flags, min, max }
    } else if (id === 2 && importsMemory(r)) {
      return undefined
    } else if (id === 6) {
      for (let n = r.uleb(); n > 0; n--) {
        const type = r.byte()
        r.byte() // mutability
        const value = r.constExpr()
        if (type === 0x7f && value !== undefined) top = Math.max(top, value)
      }
    } else if (id === 11) {
      for (let n = r.uleb(); n > 0; n--) {
        const kind = r.uleb()
        if (kind === 1) {
          r.skip(r.uleb())
          continue
        }
        if (kind === 2) r.uleb()
        else if (kind !== 0) return undefined
        const offset = r.constExpr()
        if (offset === undefined) return undefined
        const length = r.uleb()
        r.skip(length)
        top = Math.max(top, offset + length)
      }
    }
    r.pos = end
  }
  if (!memory) return undefined
  const min = Math.ceil(top / PAGE) + HEADROOM_PAGES
  if (min >= memory.min || (memory.max !== undefined && min > memory.max)) return undefined
  const content = [1, memory.flags, ...uleb(min), ...(memory.max === undefined ? [] : uleb(memory.max))]
  const section = [5, ...uleb(content.length), ...content]
  const out = new Uint8Array(bytes.length - (memory.end - memory.start) + section.length)
  out.set(bytes.subarray(0, memory.start), 0)
  out.set(section, memory.start)
  out.set(bytes.subarray(memory.end), memory.start + section.length)
  return out
}

/** Whether an import section imports a memory (then the importer decides its size). */
function importsMemory(r: Reader): boolean {
  for (let n = r.uleb(); n > 0; n--) {
    r.skip(r.uleb())
    r.skip(r.uleb())
    const kind = r.byte()
    if (kind === 0) r.uleb()
    else if (kind === 1) {
      r.byte()
      r.limits()
    } else if (kind === 2) return true
    else if (kind === 3) r.skip(2)
    else if (kind === 4) {
      r.byte()
      r.uleb()
    } else throw new Error('unknown import kind')
  }
  return false
}

function uleb(value: number): number[] {
  const out: number[] = []
  let v = value >>> 0
  do {
    let b = v & 0x7f
    v >>>= 7
    if (v !== 0) b |= 0x80
    out.push(b)
  } while (v !== 0)
  return out
}

class Reader {
  pos = 0
  constructor(readonly bytes: Uint8Array) {}

  done(): boolean {
    return this.pos >= this.bytes.length
  }

  byte(): number {
    if (this.pos >= this.bytes.length) throw new Error('truncated')
    return this.bytes[this.pos++] as number
  }

  u32le(): number {
    return (this.byte() | (this.byte() << 8) | (this.byte() << 16) | (this.byte() << 24)) >>> 0
  }

  skip(n: number): void {
    this.pos += n
    if (this.pos > this.bytes.length) throw new Error('truncated')
  }

  uleb(): number {
    let result = 0
    let shift = 0
    for (;;) {
      const b = this.byte()
      result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return result
      shift += 7
      if (shift > 35) throw new Error('bad LEB128')
    }
  }

  sleb(): number {
    let result = 0
    let shift = 0
    for (;;) {
      const b = this.byte()
      result += (b & 0x7f) * 2 ** shift
      shift += 7
      if ((b & 0x80) === 0) return b & 0x40 ? result - 2 ** shift : result
      if (shift > 63) throw new Error('bad LEB128')
    }
  }

  limits(): void {
    const flags = this.byte()
    this.uleb()
    if (flags & 1) this.uleb()
  }

  /** A constant expression: its value when it is `i32.const`, undefined for any other kind it can skip. */
  constExpr(): number | undefined {
    const op = this.byte()
    let value: number | undefined
    if (op === 0x41) value = this.sleb()
    else if (op === 0x42) this.sleb()
    else if (op === 0x43) this.skip(4)
    else if (op === 0x44) this.skip(8)
    else if (op === 0x23) this.uleb()
    else throw new Error('unsupported constant expression')
    if (this.byte() !== 0x0b) throw new Error('unsupported constant expression')
    return value
  }
}
