import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createFengariVM, createWasmVM } from '@bioxen-luavm/backend-wasm'
import { type BaseLuaVM, luaStringBytes } from '@bioxen-luavm/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { guardHost, HOSTILE_KINDS, SANDBOX_KINDS, startVM } from './support/host-guard.js'

// Guarantees issue, point 7: Lua strings are bytes. Every byte value goes
// through code, stdout, stderr, values and error messages and comes back
// exactly, on every kind; caps count bytes; streaming never splits a
// character into U+FFFD.

const ALL = Uint8Array.from({ length: 256 }, (_, i) => i)
// Lua that builds the 256 bytes without writing any of them in the source.
const ALL_LUA = 'local t = {} for i = 0, 255 do t[#t + 1] = string.char(i) end local s = table.concat(t)\n'
const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0))
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

const root = resolve(import.meta.dirname, '../..')
let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'luavm-bytes-'))
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe.each(HOSTILE_KINDS)('bytes are bytes: $name', (kind) => {
  let vm: BaseLuaVM

  beforeAll(async () => {
    vm = await startVM(kind)
  }, 60_000)
  afterAll(async () => {
    await vm?.stop()
  })

  it('every byte value through stdout and stderr, exactly', async () => {
    const guard = guardHost()
    const r = await vm.execute(`${ALL_LUA} io.write(s) io.stderr:write(s)`)
    expect(r.status).toBe('ok')
    expect(hex(r.stdoutBytes)).toBe(hex(ALL))
    expect(hex(r.stderrBytes)).toBe(hex(ALL))
    // The text is the UTF-8 view of the bytes.
    expect(r.stdout).toBe(new TextDecoder().decode(ALL))
    expect(guard.stop().maxLoopDelayMs).toBeLessThan(2_000)
  })

  it('every byte value through returned values', async () => {
    const r = await vm.execute(
      `${ALL_LUA} return s, "caf\\233", "café", { k = "\\255\\0\\128", [1.5] = "ok" }, string.pack("<i4", -2)`,
    )
    expect(r.status).toBe('ok')
    const [all, cafLatin1, cafUtf8, table, packed] = r.values
    expect(all).toBeInstanceOf(Uint8Array)
    expect(hex(all as Uint8Array)).toBe(hex(ALL))
    expect(cafLatin1).toEqual(latin1('caf\xe9'))
    expect(cafUtf8).toBe('café')
    expect((table as Record<string, unknown>).k).toEqual(Uint8Array.from([255, 0, 128]))
    expect((table as Record<string, unknown>)['1.5']).toBe('ok')
    expect(packed).toEqual(Uint8Array.from([0xfe, 0xff, 0xff, 0xff]))
  })

  it('table keys that are not UTF-8 keep their bytes (surrogateescape)', async () => {
    const r = await vm.execute('return { ["k\\233"] = 1, ["é"] = 2 }')
    const t = r.values[0] as Record<string, number>
    const keys = Object.keys(t).sort()
    expect(keys).toContain('é')
    const other = keys.find((k) => k !== 'é') as string
    expect(luaStringBytes(other)).toEqual(latin1('k\xe9'))
    expect(t[other]).toBe(1)
  })

  it('every byte value through an error message', async () => {
    const r = await vm.execute(`${ALL_LUA} error(s, 0)`)
    expect(r.status).toBe('error')
    expect(hex(r.error?.messageBytes as Uint8Array)).toBe(hex(ALL))
    expect(r.error?.message).toBe(new TextDecoder().decode(ALL))
    // A UTF-8 message has no bytes field: the text is exact.
    const ok = await vm.execute('error("héllo", 0)')
    expect(ok.error?.message).toBe('héllo')
    expect(ok.error?.messageBytes).toBeUndefined()
  })

  it('every byte value through code (a raw byte in a string literal)', async () => {
    // A short string literal may hold any byte but its quote, backslash and line breaks.
    const body = ALL.filter((b) => b !== 0x22 && b !== 0x5c && b !== 0x0a && b !== 0x0d)
    const code = new Uint8Array([...latin1('return "'), ...body, ...latin1('"')])
    const r = await vm.execute(code)
    expect(r.status).toBe('ok')
    expect(hex(r.values[0] as Uint8Array)).toBe(hex(body))
    // Code given as text runs as its UTF-8 bytes.
    const t = await vm.execute('return #"é"')
    expect(t.values).toEqual([2])
  })

  it('a Latin-1 source file through executeFile', async () => {
    const file = join(dir, `latin1-${kind.type}.lua`)
    writeFileSync(file, new Uint8Array([...latin1('print("caf'), 0xe9, ...latin1('") return "\xe9"')]))
    const r = await vm.executeFile(file)
    expect(r.status).toBe('ok')
    // print, then the echo of the returned value.
    expect(r.stdoutBytes).toEqual(latin1('caf\xe9\n\xe9\n'))
    expect(r.values[0]).toEqual(Uint8Array.from([0xe9]))
  })

  it('a cap of N bytes cuts multi-byte characters and invalid bytes at exactly N bytes', async () => {
    const guard = guardHost()
    const utf8 = await vm.execute('io.write(string.rep("é", 1000))', { maxOutputBytes: 101 })
    expect(utf8.truncated).toBe(true)
    expect(utf8.stdoutBytes.length).toBe(101)
    // The text drops the cut character instead of a U+FFFD.
    expect(utf8.stdout).toBe('é'.repeat(50))
    const invalid = await vm.execute('io.write(string.rep("\\255", 1000)) io.stderr:write("x")', {
      maxOutputBytes: 101,
    })
    expect(invalid.truncated).toBe(true)
    expect(invalid.stdoutBytes.length + invalid.stderrBytes.length).toBe(101)
    expect(invalid.stdoutBytes.every((b) => b === 255)).toBe(true)
    const report = guard.stop()
    expect(report.maxLoopDelayMs).toBeLessThan(2_000)
  })

  it('streaming callbacks reassemble to the exact bytes, never splitting a character', async () => {
    const texts: string[] = []
    const chunks: Uint8Array[] = []
    // Flushes split "é" and "😀" between two pieces; "\255" stays a byte.
    const r = await vm.execute(
      'io.write("a\\195") io.stdout:flush() io.write("\\169b\\240\\159") io.stdout:flush() io.write("\\152\\128\\255") io.stdout:flush() io.write("z")',
      {
        onStdout: (text, bytes) => {
          texts.push(text)
          chunks.push(bytes)
        },
      },
    )
    expect(r.status).toBe('ok')
    const expected = new Uint8Array([0x61, 0xc3, 0xa9, 0x62, 0xf0, 0x9f, 0x98, 0x80, 0xff, 0x7a])
    expect(Buffer.concat(chunks)).toEqual(Buffer.from(expected))
    expect(r.stdoutBytes).toEqual(expected)
    expect(texts.join('')).toBe(r.stdout)
    expect(r.stdout).toBe('aéb😀\ufffdz')
  })
})

describe.each(SANDBOX_KINDS)('bytes are bytes, host function arguments: $name', (kind) => {
  it('a string argument that is not UTF-8 reaches the host as its bytes, keys as their text form', async () => {
    const seen: unknown[] = []
    // Host functions are API options (not registry config): created directly.
    const create = kind.type === 'wasm' ? createWasmVM : createFengariVM
    const vm = await create({
      isolation: kind.config.isolation,
      hostFunctions: { take: (...args: unknown[]) => void seen.push(...args) },
    })
    try {
      const r = await vm.execute('host.take("caf\\233", "café", { ["k\\255"] = "\\0\\255" })')
      expect(r.status, JSON.stringify(r.error)).toBe('ok')
      expect(seen[0]).toEqual(latin1('caf\xe9'))
      expect(seen[1]).toBe('café')
      const [key, value] = Object.entries(seen[2] as object)[0] as [string, unknown]
      expect(luaStringBytes(key)).toEqual(latin1('k\xff'))
      expect(value).toEqual(Uint8Array.from([0, 255]))
    } finally {
      await vm.stop()
    }
  })
})

describe('bytes are bytes: bioxen-luavm run', () => {
  // The CLI from its sources, as a child process (scripts/run-ts.mjs bundles it on the fly).
  const runCli = (args: string[], input?: Uint8Array) =>
    spawnSync(process.execPath, [join(root, 'scripts/run-ts.mjs'), 'packages/cli/src/bin.ts', ...args], {
      cwd: root,
      input,
      env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'no-config') },
      timeout: 60_000,
    })

  it.each(['wasm', 'fengari', 'process'])('writes the raw bytes of a Latin-1 program (%s)', (backend) => {
    const file = join(dir, `cli-${backend}.lua`)
    writeFileSync(
      file,
      new Uint8Array([...latin1('io.write("caf'), 0xe9, ...latin1('", "\\0\\255\\128") error("\xff", 0)')]),
    )
    const r = runCli(['run', '--backend', backend, file])
    expect(r.status).toBe(1)
    expect(hex(r.stdout)).toBe(hex(new Uint8Array([...latin1('caf\xe9'), 0, 255, 128])))
    // A line break first (the output stopped mid-line), then the message's own byte, then the traceback.
    expect(hex(r.stderr.subarray(0, 3))).toBe('0aff0a')
  })

  it('reads a program from stdin as bytes and gives byte strings in --json as $bytes', () => {
    const r = runCli(
      ['run', '--backend', 'wasm', '--json', '-'],
      new Uint8Array([...latin1('io.write("\xe9") return "\xe9", "ok"')]),
    )
    expect(r.status).toBe(0)
    const result = JSON.parse(r.stdout.toString('utf8'))
    expect(result.values).toEqual([{ $bytes: Buffer.from([0xe9]).toString('base64') }, 'ok'])
    // io.write, then the echo of the returned values.
    expect(result.stdoutBytes).toEqual({ $bytes: Buffer.from(latin1('\xe9\xe9\tok\n')).toString('base64') })
  })
})
