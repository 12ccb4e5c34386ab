const encoder = new TextEncoder()

/**
 * A Lua string literal for any text — the host-side twin of Lua's
 * `string.format("%q", s)`. The text is encoded as UTF-8 and every byte
 * that is not printable ASCII, plus `"` and `\`, becomes an escape; control
 * bytes and non-ASCII use three-digit decimal escapes (`\010`), so the
 * literal is pure ASCII, valid on Lua 5.1–5.4 and LuaJIT, and no input can
 * end the string early or smuggle code into a template.
 *
 * @example luaString('say "hi"\n') === '"say \\"hi\\"\\010"'
 */
export function luaString(text: string): string {
  if (typeof text !== 'string') throw new TypeError(`luaString expects a string, got ${typeof text}`)
  let out = '"'
  for (const byte of encoder.encode(text)) {
    if (byte === 0x22) out += '\\"'
    else if (byte === 0x5c) out += '\\\\'
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte)
    else out += `\\${byte.toString().padStart(3, '0')}`
  }
  return `${out}"`
}

/**
 * A Lua number literal for a finite number. Rejects NaN and infinities,
 * which have no literal, so nothing but digits reaches the source.
 */
export function luaNumber(value: number): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TypeError(`expected a finite number, got ${String(value)}`)
  }
  return Number.isInteger(value) ? value.toFixed(0) : String(value)
}
