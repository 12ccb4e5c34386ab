/**
 * Puts JavaScript functions into a WebAssembly function table, so C code
 * (Lua's allocator hook, `lua_pushcclosure`) can call them by index.
 *
 * Emscripten's `addFunction` does the same, but on its first call in every
 * instance it walks the whole table to build a reverse map, and without
 * `WebAssembly.Function` (Node 20) it compiles a one-function wrapper
 * module per call. Here the wrapper module is compiled once per signature
 * and thread — it is code only, no state — and each function gets its own
 * instance of it; the table only ever grows, so Emscripten's lazy mirror of
 * the table never holds a stale entry for these slots.
 */

const TYPE_CODES: Record<string, number> = { i: 0x7f, j: 0x7e, f: 0x7d, d: 0x7c }
const wrappers = new Map<string, WebAssembly.Module>()

/**
 * Adds `fn` to `table` and returns its index. `signature` is Emscripten's
 * notation: the result type then the parameter types, e.g. `'iiiii'` for
 * `int f(int, int, int, int)`.
 */
export function addTableFunction(
  table: WebAssembly.Table,
  fn: (...args: never[]) => unknown,
  signature: string,
): number {
  const wrapped = new WebAssembly.Instance(wrapperModule(signature), { e: { f: fn } }).exports.f
  const index = table.grow(1)
  table.set(index, wrapped)
  return index
}

/** A module that imports a function of `signature` as `e.f` and exports it as `f`. */
function wrapperModule(signature: string): WebAssembly.Module {
  let module = wrappers.get(signature)
  if (!module) {
    module = new WebAssembly.Module(wrapperBytes(signature))
    wrappers.set(signature, module)
  }
  return module
}

function wrapperBytes(signature: string): Uint8Array<ArrayBuffer> {
  const code = (c: string): number => {
    const t = TYPE_CODES[c]
    if (t === undefined) throw new Error(`unsupported wasm signature '${signature}'`)
    return t
  }
  const [result, ...params] = signature
  const type = [
    0x01, // one type
    0x60, // func
    params.length,
    ...params.map(code),
    ...(result === 'v' ? [0x00] : [0x01, code(result as string)]),
  ]
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
    ...[0x01, type.length, ...type], // type section
    ...[0x02, 0x07, 0x01, 0x01, 0x65, 0x01, 0x66, 0x00, 0x00], // import "e" "f": func of type 0
    ...[0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00], // export "f": func 0
  ])
}
