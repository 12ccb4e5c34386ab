import { execFileSync } from 'node:child_process'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { driverCommand, killCommand, prlimitCommand } from '../src/ssh/remote-driver.js'
import { shellJoin, shellQuote } from '../src/ssh/shell.js'

describe('shellQuote', () => {
  it('survives a real POSIX shell byte for byte, for any text', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0')),
        (text) => {
          // The quoted word is what a remote user's shell would see after SSH.
          const out = execFileSync('/bin/sh', ['-c', `printf %s ${shellQuote(text)}`], { encoding: 'utf8' })
          return out === text
        },
      ),
      { numRuns: 60 },
    )
  })
  it('neutralizes metacharacters', () => {
    expect(shellQuote("a'b; rm -rf /")).toBe("'a'\\''b; rm -rf /'")
    expect(shellJoin(['x', '$(id)'])).toBe("'x' '$(id)'")
    expect(() => shellQuote('a\0b')).toThrow(TypeError)
  })
})

describe('driver command', () => {
  it('carries only the interpreter, our bootstrap and quoted environment', () => {
    const cmd = driverCommand('lua5.4', { LUA_PATH_5_4: 'x/?.lua;;' })
    expect(cmd).toMatch(/^export LUA_PATH_5_4='x\/\?\.lua;;'; if command -v setsid/)
    expect(cmd).toContain('setsid -w sh -c ')
    expect(() => driverCommand('lua', { 'BAD NAME': 'x' })).toThrow()
  })
  it('the wrapper parses in a POSIX shell', () => {
    expect(() => execFileSync('/bin/sh', ['-n', '-c', driverCommand('lua5.4')])).not.toThrow()
  })
  it('with a memory cap, the wrapper gets the address-space limit (cap + 8 MiB) as its last word', () => {
    const cmd = driverCommand('lua5.4', {}, 32 * 1024 * 1024)
    expect(cmd).toMatch(/ '41943040'; else exec sh -c /)
    expect(driverCommand('lua5.4')).toMatch(/ ''; else exec sh -c /)
    expect(() => execFileSync('/bin/sh', ['-n', '-c', cmd])).not.toThrow()
  })
  it('prlimit changes only a real pid, with numbers or unlimited', () => {
    expect(prlimitCommand(4242, 1000.7, 'unlimited')).toBe('prlimit --pid 4242 --as=1000:unlimited')
    expect(prlimitCommand(4242, 'unlimited', 'unlimited')).toBe('prlimit --pid 4242 --as=unlimited:unlimited')
    for (const bad of [0, 1, -1, Number.NaN, 1.5]) expect(() => prlimitCommand(bad, 1, 1)).toThrow()
  })
  it('kill never targets process group 0 or 1 (that would kill every process of the user)', () => {
    expect(killCommand(4242)).toBe('kill -9 -4242 2>/dev/null || kill -9 4242 2>/dev/null; true')
    for (const bad of [0, 1, -1, Number.NaN, 1.5]) expect(() => killCommand(bad)).toThrow()
  })
})
