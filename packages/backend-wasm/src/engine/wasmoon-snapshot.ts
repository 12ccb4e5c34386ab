/**
 * A fresh engine's whole state, so `reset()` can bring it back exactly.
 *
 * Everything a Lua state is lives in the instance's linear memory (the Lua
 * heap, the C library's statics, the allocator's own bookkeeping), so a
 * copy of the memory as it was when the engine was new, written back,
 * *is* a new engine: no global, registry entry, metatable, coroutine or
 * upvalue the code left behind can survive it, whatever it was. Memory
 * grown since stays grown; the restored allocator treats it as free.
 *
 * What lives outside linear memory is restored beside it: the JS-side
 * byte counts (the caller's), and Emscripten's in-memory file system, which
 * the `io` grant writes to — its files are JS objects, so they are put back
 * as they were and every stream opened since is closed.
 */

/** The parts of Emscripten's FS this file uses. */
export interface EmscriptenFS {
  readdir(path: string): string[]
  lstat(path: string): { mode: number }
  readFile(path: string): Uint8Array
  writeFile(path: string, data: Uint8Array): void
  mkdir(path: string): void
  rmdir(path: string): void
  unlink(path: string): void
  cwd(): string
  chdir(path: string): void
  stat(path: string): { size: number }
  truncate(path: string, size: number): void
  streams: Array<unknown | null>
  close(stream: unknown): void
  write(
    stream: unknown,
    buffer: Uint8Array,
    offset: number,
    length: number,
    position?: number,
    canOwn?: boolean,
  ): number
}

const S_IFMT = 0o170000
const isDir = (mode: number) => (mode & S_IFMT) === 0o040000
const isFile = (mode: number) => (mode & S_IFMT) === 0o100000

/** Directories whose entries are devices or mounts, not files the code made. */
const SPECIAL = new Set(['/dev', '/proc'])

/** A copy of the first `memory.length` bytes and of the FS tree. */
export class EngineSnapshot {
  readonly #memory: Uint8Array
  readonly #files = new Map<string, Uint8Array | 'dir' | 'other'>()
  readonly #cwd: string
  readonly #fs: EmscriptenFS | undefined

  constructor(heap: Uint8Array, fs: EmscriptenFS | undefined) {
    this.#memory = heap.slice()
    this.#fs = fs
    this.#cwd = fs?.cwd() ?? '/'
    if (fs) walk(fs, '/', (path, kind) => this.#files.set(path, kind === 'file' ? fs.readFile(path) : kind))
  }

  /** Bytes copied per restore. */
  get bytes(): number {
    return this.#memory.length
  }

  /** Writes the snapshot back into `heap` (the instance's current view) and the FS. */
  restore(heap: Uint8Array): void {
    heap.set(this.#memory, 0)
    const fs = this.#fs
    if (!fs) return
    // Streams opened since (fds past stdio) go: the restored C library never opened them.
    for (let fd = 3; fd < fs.streams.length; fd++) {
      const stream = fs.streams[fd]
      if (stream) {
        try {
          fs.close(stream)
        } catch {
          // Already closed underneath: nothing to release.
        }
      }
    }
    const extra: Array<[string, 'file' | 'dir']> = []
    walk(fs, '/', (path, kind) => {
      const was = this.#files.get(path)
      if (was === undefined || (was === 'dir') !== (kind === 'dir')) extra.push([path, kind === 'dir' ? 'dir' : 'file'])
    })
    // Deepest first, so directories are empty when removed.
    for (const [path, kind] of extra.reverse()) {
      try {
        if (kind === 'dir') removeTree(fs, path)
        else fs.unlink(path)
      } catch {
        // Removed with its directory already.
      }
    }
    for (const [path, content] of this.#files) {
      try {
        if (content === 'dir') {
          if (!exists(fs, path)) fs.mkdir(path)
        } else if (content !== 'other') fs.writeFile(path, content)
      } catch {
        // A file the code made unreachable (its directory turned into a file): recreated above if possible.
      }
    }
    try {
      fs.chdir(this.#cwd)
    } catch {
      // The cwd was a directory the snapshot has; recreated above.
    }
  }
}

function exists(fs: EmscriptenFS, path: string): boolean {
  try {
    fs.lstat(path)
    return true
  } catch {
    return false
  }
}

function removeTree(fs: EmscriptenFS, path: string): void {
  const entries = fs.readdir(path).filter((n) => n !== '.' && n !== '..')
  for (const name of entries) {
    const child = `${path}/${name}`
    if (isDir(fs.lstat(child).mode)) removeTree(fs, child)
    else fs.unlink(child)
  }
  fs.rmdir(path)
}

/** Calls `visit` for every file and directory under `dir` (parents before children), skipping /dev and /proc. */
function walk(fs: EmscriptenFS, dir: string, visit: (path: string, kind: 'file' | 'dir' | 'other') => void): void {
  let names: string[]
  try {
    names = fs.readdir(dir)
  } catch {
    return
  }
  for (const name of names) {
    if (name === '.' || name === '..') continue
    const path = dir === '/' ? `/${name}` : `${dir}/${name}`
    if (SPECIAL.has(path)) continue
    let mode: number
    try {
      mode = fs.lstat(path).mode
    } catch {
      continue
    }
    if (isDir(mode)) {
      visit(path, 'dir')
      walk(fs, path, visit)
    } else visit(path, isFile(mode) ? 'file' : 'other')
  }
}

/**
 * Counts the bytes the VM's files hold against its memory cap: the files
 * are JS objects outside linear memory, so the allocator never sees them.
 * Every write is measured (file size before and after); a write that takes
 * files plus Lua heap past the cap is undone and fails with ENOSPC, and the
 * heap refuses all growth until the execution ends, so the code's next
 * allocation (the error message io.write returns, at the latest) raises
 * "not enough memory": the run ends with status `memory`.
 */
export function capFileWrites(fs: EmscriptenFS, account: FileAccount): void {
  // Emscripten's ErrnoError constructor (its name is minified): taken from a real one.
  let Errno: (new (errno: number) => Error) | undefined
  try {
    fs.lstat('/\u0000luavm-probe')
  } catch (error) {
    Errno = (error as { constructor: new (errno: number) => Error }).constructor
  }
  const sizes = new WeakMap<object, number>()
  const write = fs.write.bind(fs)
  const sizeOf = (path: unknown): number | undefined => {
    try {
      return typeof path === 'string' ? fs.stat(path).size : undefined
    } catch {
      return undefined
    }
  }
  fs.write = (stream, buffer, offset, length, position, canOwn) => {
    const s = stream as { node?: { mode?: number }; path?: unknown }
    const node = s.node
    if (!node || !isFile(node.mode ?? 0)) return write(stream, buffer, offset, length, position, canOwn)
    const before = sizeOf(s.path)
    const written = write(stream, buffer, offset, length, position, canOwn)
    const after = sizeOf(s.path) ?? (before ?? 0) + written
    const known = sizes.get(node) ?? before ?? 0
    const files = account.files - known + after
    const max = account.max
    if (max && after > known && account.used + files > max) {
      try {
        if (typeof s.path === 'string') fs.truncate(s.path, known)
      } catch {
        // Unlinked meanwhile: its bytes go when the stream closes.
      }
      account.full = true
      throw Errno ? new Errno(28) : new RangeError("out of memory: the VM's files are past its memory cap")
    }
    sizes.set(node, after)
    account.files = files
    return written
  }
}

/** What {@link capFileWrites} reads and updates (the engine's heap account). */
export interface FileAccount {
  used: number
  max: number | undefined
  /** Bytes the VM's files hold. */
  files: number
  /** Set when a file write was refused: the heap refuses growth until cleared. */
  full: boolean
}
