/**
 * Every bound the sandbox installer puts on what rock servers send, in one
 * place (docs/packages.md and docs/security.md state them). Manifests,
 * rockspecs and rocks come from servers the host does not control and are
 * handled on the host's own thread, so each has a size cap while it is
 * read, and the Lua-data reader (lua-data.ts) has hard budgets on what
 * evaluating one may build. Why budgets rather than a sandbox VM: the data
 * subset has no loops or calls, so once every operation that does not
 * consume source text (`..`, `#`, comparisons, placing a table) is counted,
 * a file's cost is bounded by its size times a small constant, checked as
 * it goes; that is cheaper and simpler than a VM round trip per file.
 */

const KiB = 1024
const MiB = 1024 * KiB

/**
 * Largest manifest read (download and source text). luarocks.org's root
 * manifest is a few MiB of plain tables; one of 16 MiB parses within
 * {@link LUA_DATA_LIMITS}.
 */
export const MAX_MANIFEST_BYTES = 16 * MiB
/** Largest rockspec read from a rock (real ones are a few KiB). */
export const MAX_ROCKSPEC_BYTES = 1 * MiB
/** Largest rock read. */
export const MAX_ROCK_BYTES = 32 * MiB
/** Most bytes one install may unpack, dependencies included. */
export const MAX_UNPACKED_BYTES = 128 * MiB
/** Longest rock name or version taken from a manifest (longer entries are skipped: no rock has one). */
export const MAX_VERSION_LENGTH = 256
/** Most versions one rock may list in a manifest (real ones list tens; each is parsed when the rock is looked for). */
export const MAX_VERSIONS_PER_ROCK = 10_000
/** Longest dependency string taken from a rockspec (`name >= 1.0, < 2`). */
export const MAX_DEPENDENCY_LENGTH = 256
/** Most dependencies one rockspec may list (real ones list a handful; each is resolved). */
export const MAX_DEPENDENCIES = 256

/** Budgets of one evaluation of Lua-literal data (a manifest or a rockspec). */
export interface LuaDataLimits {
  /** Longest source text, in characters. */
  maxSourceLength: number
  /** Longest string one `..` may build, in characters. */
  maxStringLength: number
  /** Characters all `..` results of the file may add up to. */
  maxBuiltLength: number
  /** Tables plus table entries the file may create. */
  maxNodes: number
  /** Deepest nesting of expressions and of tables placed in tables. */
  maxDepth: number
  /**
   * Work units (one per expression, table entry or table placement, one
   * per character an operation like `#s` or `a == b` scans): this many
   * plus {@link workPerSourceChar} per source character.
   */
  baseWork: number
  /** Work allowed per source character, on top of {@link baseWork}. */
  workPerSourceChar: number
}

/**
 * The reader's budgets. A 1 KiB hostile file can cost at most about 8 M
 * work units (measured: 16 `#s` of a 1 MiB string, about 20 ms of CPU idle,
 * 70 ms on a saturated machine) and 8 Mi characters of strings (16 MiB at
 * most); a large one at most {@link LuaDataLimits.maxNodes} nodes (45 to 90
 * bytes each) besides its text. A plain manifest costs under one work unit
 * per source character and about one node per 15 characters (80 ms of CPU
 * and 7 MiB of heap per MiB of text), so 16 MiB of it, several times
 * luarocks.org's, fits in {@link LuaDataLimits.maxNodes}.
 */
export const LUA_DATA_LIMITS: Readonly<LuaDataLimits> = {
  maxSourceLength: MAX_MANIFEST_BYTES,
  maxStringLength: 1 * MiB,
  maxBuiltLength: 8 * MiB,
  maxNodes: 1_500_000,
  maxDepth: 200,
  baseWork: 8_000_000,
  workPerSourceChar: 4,
}

/**
 * Budgets for a rockspec: its own source cap, and far fewer nodes (real
 * rockspecs have tens). Rockspecs are read in one piece while a rock is
 * unpacked, so these also bound how long that holds the event loop.
 */
export const ROCKSPEC_LIMITS: Readonly<LuaDataLimits> = {
  ...LUA_DATA_LIMITS,
  maxSourceLength: MAX_ROCKSPEC_BYTES,
  maxNodes: 100_000,
}

/** How often (in work units) the reader checks the install's deadline and AbortSignal. */
export const CHECK_EVERY_WORK = 16_384
/** How often (in work units) the reader pauses, so its async driver can look at the clock. */
export const YIELD_EVERY_WORK = 4_096
/** Longest the async reader runs before it gives the event loop a turn, in ms. */
export const READ_SLICE_MS = 10
