import { addTableFunction } from './wasm-table.js'
import type { Raw } from './wasmoon-stack.js'

/** What one Lua state's heap holds, and the cap on it. */
export interface HeapAccount {
  /** Bytes currently allocated by Lua. */
  used: number
  /** Growth past this many bytes is refused (Lua then reports "not enough memory"); 0 or undefined: no cap. */
  max: number | undefined
  /** Bytes the VM's in-memory files hold (the io grant): counted against `max` with the heap. */
  files: number
  /** A file write was refused for lack of room: every growth is refused until the execution ends. */
  full: boolean
}

/**
 * A new `lua_State` whose allocator counts Lua's bytes and refuses growth
 * past `account.max` — wasmoon's traced allocator, with the same rules, but
 * calling the instance's `realloc`/`free` exports directly: the allocator
 * runs on every allocation Lua makes, so its cost is part of every
 * execution's.
 */
export function newTracedState(raw: Raw, table: WebAssembly.Table): { L: number; heap: HeapAccount } {
  const heap: HeapAccount = { used: 0, max: undefined, files: 0, full: false }
  const { realloc, free } = raw
  const alloc = (_ud: number, ptr: number, oldSize: number, newSize: number): number => {
    if (newSize === 0) {
      if (ptr) {
        heap.used -= oldSize
        free(ptr)
      }
      return 0
    }
    // With no block yet, oldSize is the kind of object Lua allocates, not a size.
    const used = heap.used + (ptr ? newSize - oldSize : newSize)
    const max = heap.max
    if (newSize > oldSize && ((max && used + heap.files > max) || heap.full)) return 0
    const moved = realloc(ptr, newSize)
    if (moved) heap.used = used
    return moved
  }
  const L = raw.lua_newstate(addTableFunction(table, alloc, 'iiiii'), 0)
  if (!L) throw new Error('lua_newstate failed (not enough memory)')
  return { L, heap }
}
