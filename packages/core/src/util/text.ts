const encoder = new TextEncoder()

/** Byte length of `text` as UTF-8. */
export function utf8Length(text: string): number {
  return encoder.encode(text).byteLength
}

/**
 * Keeps at most `maxBytes` UTF-8 bytes of `text`. Cutting inside a multibyte
 * character keeps its complete bytes only, so the result is valid text whose
 * encoding is never longer than the cap.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = encoder.encode(text)
  if (bytes.byteLength <= maxBytes) return text
  let end = maxBytes
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--
  return new TextDecoder().decode(bytes.subarray(0, end))
}
