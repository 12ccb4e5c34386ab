import { truncateUtf8, utf8Length } from '@bioxen-luavm/core'

/**
 * Host-side check of the output cap: stdout and stderr together may hold at
 * most `maxBytes` UTF-8 bytes. The runtime already cuts what Lua printed;
 * this catches what bypassed it (raw writes of C code or child processes to
 * the interpreter's stderr). stdout is kept first, as it was produced first
 * by the runtime's accounting.
 */
export function cutOutput(
  stdout: string,
  stderr: string,
  maxBytes: number,
): { stdout: string; stderr: string; truncated: boolean } {
  const outBytes = utf8Length(stdout)
  if (outBytes >= maxBytes) {
    const errEmpty = stderr === ''
    const out = truncateUtf8(stdout, maxBytes)
    return { stdout: out, stderr: '', truncated: outBytes > maxBytes || !errEmpty }
  }
  const room = maxBytes - outBytes
  if (utf8Length(stderr) <= room) return { stdout, stderr, truncated: false }
  return { stdout, stderr: truncateUtf8(stderr, room), truncated: true }
}
