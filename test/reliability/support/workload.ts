import type { Rng } from './random.js'

/**
 * Chunks of the storm and soak workloads. Every chunk that can finish
 * prints its own token, so an `ok` result can be checked against the
 * chunk that produced it.
 *
 * - `quick`: print and return at once;
 * - `spin`: burn some CPU (the runtime's clock is CPU time), then print;
 * - `forever`: a plain infinite loop — only a cancel or a deadline ends it;
 * - `pcallForever`: an infinite loop that tries to swallow the deadline with pcall;
 * - `coroutineForever`: the loop inside a coroutine (the hook must follow it);
 * - `longCCall`: one pathological `string.find` — a C call the in-VM hook
 *   cannot interrupt, so only the hard layer (worker terminate / process
 *   kill) ends it early.
 */
export type ChunkKind = 'quick' | 'spin' | 'forever' | 'pcallForever' | 'coroutineForever' | 'longCCall'

/** Chunks that never end on their own. */
export const ENDLESS: ReadonlySet<ChunkKind> = new Set(['forever', 'pcallForever', 'coroutineForever', 'longCCall'])

/** Lua source of a chunk of `kind` that prints `token` when it finishes. */
export function chunk(kind: ChunkKind, token: string, rng: Rng): string {
  switch (kind) {
    case 'quick':
      return `print("${token}") return "${token}"`
    case 'spin':
      return `local t0 = os.clock() while os.clock() - t0 < ${(rng.int(2, 25) / 1000).toFixed(3)} do end print("${token}") return "${token}"`
    case 'forever':
      return `local n = 0 while true do n = n + 1 end -- ${token}`
    case 'pcallForever':
      return `while true do pcall(function() while true do end end) end -- ${token}`
    case 'coroutineForever':
      return `local co = coroutine.wrap(function() while true do end end) co() -- ${token}`
    case 'longCCall':
      // Tens of seconds of backtracking inside one C call (on a fast core).
      return `return string.find(("a"):rep(30000), ".-.-.-.-b$") -- ${token}`
  }
}
