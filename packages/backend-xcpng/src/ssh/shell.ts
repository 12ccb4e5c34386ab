/**
 * Quotes one argument for a POSIX shell. SSH exec strings are run by the
 * remote user's login shell, so every argument that is not constant text
 * goes through here: single quotes, with `'` written as `'\''`.
 */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new TypeError('a shell argument cannot contain NUL')
  return `'${value.replace(/'/g, `'\\''`)}'`
}

/** Quotes every argument and joins them with spaces. */
export function shellJoin(args: readonly string[]): string {
  return args.map(shellQuote).join(' ')
}
