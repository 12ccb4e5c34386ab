/**
 * Loader of lua54.wasm (packages/backend-wasm/engine/): Lua 5.4.7 with the
 * interrupt budget and the capped allocator, built standalone (no
 * Emscripten JS glue). The module imports a handful of WASI and `env`
 * functions; this file answers them: stdout/stderr go to the host's
 * `write`, clocks read the host's clocks, and everything that would reach a
 * file system, a shell, the environment or the process fails the way libc
 * reports "not there". No `eval`, no fetch, no Node API: it runs in browsers
 * under a CSP that allows `wasm-unsafe-eval`, in workers and in Node.
 */
import type { Raw } from './wasmoon-stack.js'

/** What the host answers for lua54.wasm. */
export interface Lua54Host {
  /**
   * The interrupt budget of state `L` ran out (see engine/interrupt.patch):
   * return the next budget (> 0, at most 2^31 - 1) to go on, or 0 to abort
   * the run. Must not call into Lua; if it throws, the run is aborted.
   */
  interrupt(L: number): number
  /** Bytes Lua wrote to its stdout (1: `print`, `io.write`) or stderr (2). */
  write(fd: 1 | 2, bytes: Uint8Array): void
}

/**
 * The WebAssembly exports of lua54.wasm (engine/exports.txt), by export name:
 * every function the engine calls today through wasmoon's instance
 * ({@link Raw}), so `rawApi` and `WasmoonStack` work on it unchanged, plus
 * what the interrupt and the capped allocator add.
 */
export interface Lua54Exports extends Omit<Raw, 'HEAPU8' | 'HEAPU32'> {
  memory: WebAssembly.Memory
  __indirect_function_table: WebAssembly.Table
  luavm_newstate(): number
  luavm_setmemlimit(L: number, cap: number): void
  luavm_memused(L: number): number
  luavm_setbudget(L: number, ticks: number): void
  luavm_interrupted(L: number): number
  luavm_close(L: number): void
  lua_close(L: number): void
  luaL_unref(L: number, t: number, ref: number): void
  luaL_traceback(L: number, L1: number, msg: number, level: number): void
  lua_getglobal(L: number, name: number): number
  lua_setglobal(L: number, name: number): void
  lua_getfield(L: number, idx: number, name: number): number
  lua_setfield(L: number, idx: number, name: number): void
  lua_gc(L: number, what: number, a: number, b: number, c: number): number
  lua_newthread(L: number): number
  lua_resume(L: number, from: number, nargs: number, nres: number): number
}

/** One instance of lua54.wasm: its exports and live views of its memory. */
export interface Lua54 {
  readonly exports: Lua54Exports
  /** Bytes of linear memory; replaced when memory grows, so read it after every call into Lua. */
  readonly HEAPU8: Uint8Array
  /** The same memory as 32-bit words. */
  readonly HEAPU32: Uint32Array
}

// musl/WASI errno values as lua54.wasm's libc knows them.
const EBADF = 8
const EIO = 29
const ENOENT = 44
const ENOSYS = 52
const ESPIPE = 70

/** Compiles lua54.wasm's bytes (once per thread is enough: instances are what a VM costs). */
export function compileLua54(bytes: BufferSource): Promise<WebAssembly.Module> {
  return WebAssembly.compile(bytes)
}

/**
 * A fresh instance of lua54.wasm: its own linear memory, no state yet
 * (`luavm_newstate` makes one). Synchronous: the module is already compiled.
 */
export function instantiateLua54(module: WebAssembly.Module, host: Lua54Host): Lua54 {
  let memory: WebAssembly.Memory | undefined
  let u8 = new Uint8Array(0)
  let u32 = new Uint32Array(0)
  let dv = new DataView(new ArrayBuffer(0))
  const views = () => {
    if (!memory) throw new Error('lua54.wasm: memory used before instantiation')
    if (u8.buffer !== memory.buffer) {
      u8 = new Uint8Array(memory.buffer)
      u32 = new Uint32Array(memory.buffer)
      dv = new DataView(memory.buffer)
    }
  }
  let tempRet0 = 0
  const clock = (id: number): number =>
    // 0: CLOCK_REALTIME (os.time, os.date); others: monotonic/CPU (os.clock).
    id === 0 ? Date.now() : performance.now()

  const env = {
    // A JS exception must never unwind through Lua's C frames (the state
    // would be left half-unwound): a failing host aborts the run instead.
    luavm_interrupt: (L: number) => {
      try {
        const next = Math.floor(host.interrupt(L))
        return next > 0 ? Math.min(next, 0x7fffffff) : 0
      } catch {
        return 0
      }
    },
    emscripten_notify_memory_growth: () => views(),
    getTempRet0: () => tempRet0,
    setTempRet0: (v: number) => {
      tempRet0 = v
    },
    // os.execute: no shell. system(NULL) = 0 says so; a command fails.
    system: (cmd: number) => (cmd === 0 ? 0 : -1),
    __syscall_dup3: () => -ENOSYS,
    __syscall_unlink: () => -ENOENT,
    __syscall_rmdir: () => -ENOENT,
    __syscall_rename: () => -ENOENT,
    __syscall_lstat64: () => -ENOENT,
  }
  const wasi = {
    clock_time_get: (id: number, _precision: bigint, out: number) => {
      views()
      dv.setBigUint64(out, BigInt(Math.round(clock(id) * 1e6)), true)
      return 0
    },
    fd_write: (fd: number, iovs: number, count: number, written: number) => {
      if (fd !== 1 && fd !== 2) return EBADF
      views()
      let total = 0
      for (let i = 0; i < count; i++) {
        const p = dv.getUint32(iovs + i * 8, true)
        const n = dv.getUint32(iovs + i * 8 + 4, true)
        if (n > 0) {
          try {
            host.write(fd, u8.slice(p, p + n))
          } catch {
            return EIO // Lua sees a failed write, as with a broken pipe
          }
        }
        total += n
      }
      views()
      dv.setUint32(written, total, true)
      return 0
    },
    // stdin is empty; there are no other files.
    fd_read: (fd: number, _iovs: number, _count: number, read: number) => {
      if (fd !== 0) return EBADF
      views()
      dv.setUint32(read, 0, true)
      return 0
    },
    fd_close: () => 0,
    fd_seek: () => ESPIPE,
    environ_sizes_get: (count: number, size: number) => {
      views()
      dv.setUint32(count, 0, true)
      dv.setUint32(size, 0, true)
      return 0
    },
    environ_get: () => 0,
    proc_exit: (code: number) => {
      throw new Error(`lua54.wasm: exit(${code})`)
    },
  }
  const instance = new WebAssembly.Instance(module, { env, wasi_snapshot_preview1: wasi })
  const exports = instance.exports as unknown as Lua54Exports & { _initialize(): void }
  memory = exports.memory
  views()
  exports._initialize()
  return {
    exports,
    get HEAPU8() {
      views()
      return u8
    },
    get HEAPU32() {
      views()
      return u32
    },
  }
}
