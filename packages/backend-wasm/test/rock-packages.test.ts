/**
 * The pieces of the sandbox package installer that need no VM: the Lua
 * data reader, luarocks version rules, the archive readers and rock
 * unpacking (built here with fflate). The end-to-end installs are in
 * test/packages/wasm-install.test.ts.
 */
import { gzipSync, strToU8, zipSync } from 'fflate'
import { describe, expect, it } from 'vitest'
import { ArchiveError, ByteBudget, crc32, gunzipBounded, readTar, ZipReader } from '../src/packages/archive.js'
import { LUA_DATA_LIMITS } from '../src/packages/limits.js'
import {
  LuaDataError,
  LuaDataLimitError,
  type LuaTable,
  readLuaAssignments,
  readLuaAssignmentsAsync,
} from '../src/packages/lua-data.js'
import { NativeRockError, parseRockFileName, pathToModule, unpackRock } from '../src/packages/rock.js'
import { parseManifest } from '../src/packages/servers.js'
import { compareVersions, parseDependency, parseVersion, satisfies } from '../src/packages/versions.js'

const MiB = 1024 * 1024

describe('luarocks versions', () => {
  it('orders versions as luarocks does', () => {
    expect(compareVersions('0.10.0-1', '0.9.0-1')).toBeGreaterThan(0)
    expect(compareVersions('3.0rc1-2', '3.0-1')).toBeLessThan(0)
    expect(compareVersions('1.0-2', '1.0-1')).toBeGreaterThan(0)
    expect(compareVersions('1.0', '1.0-7')).toBe(0)
    expect(compareVersions('scm-1', '99.0-1')).toBeGreaterThan(0)
    expect(compareVersions('dev-1', 'scm-1')).toBeGreaterThan(0)
    const sorted = ['1.0-1', '1.0beta-1', '1.0alpha2-1', '1.0rc1-1', '1.0pre-1', '0.9-1', '1.0.1-1', '1.0alpha-1']
    expect([...sorted].sort(compareVersions)).toEqual([
      '0.9-1',
      '1.0alpha-1',
      '1.0alpha2-1',
      '1.0beta-1',
      '1.0pre-1',
      '1.0rc1-1',
      '1.0-1',
      '1.0.1-1',
    ])
  })

  it('reads dependencies and matches constraints', () => {
    const dep = parseDependency('bio_compute >= 0.1.0')
    expect(dep.name).toBe('bio_compute')
    expect(satisfies('0.1.0-1', dep.constraints)).toBe(true)
    expect(satisfies('0.0.9-1', dep.constraints)).toBe(false)
    const range = parseDependency('lua >= 5.1, < 5.5')
    expect(['5.1', '5.4', '5.5'].map((v) => satisfies(v, range.constraints))).toEqual([true, true, false])
    const pessimistic = parseDependency('penlight ~> 1.5')
    expect(['1.5', '1.5.4-1', '1.6', '1.4.9'].map((v) => satisfies(v, pessimistic.constraints))).toEqual([
      true,
      true,
      false,
      false,
    ])
    expect(parseDependency('luasocket').constraints).toEqual([])
    expect(parseDependency('someone/foo == 2.0').name).toBe('foo')
    expect(satisfies('2.0-3', parseDependency('foo == 2.0').constraints)).toBe(true)
    expect(satisfies('2.0-3', parseDependency('foo == 2.0-1').constraints)).toBe(false)
    expect(() => parseDependency('foo >>= 1')).toThrow(/constraint/)
  })

  it('parses long versions and constraints in linear time', () => {
    const started = performance.now()
    expect(parseVersion(`${'1.'.repeat(100_000)}1-2`).parts).toHaveLength(100_001)
    expect(parseDependency(`foo ${'>= 1, '.repeat(20_000)}< 2`).constraints).toHaveLength(20_001)
    expect(performance.now() - started).toBeLessThan(5_000)
  })
})

describe('the Lua data reader', () => {
  it('reads a luarocks manifest', async () => {
    const manifest = await parseManifest(
      `commands = {}\nmodules = {}\nrepository = {\n   bio_compute = {\n      ["0.1.0-1"] = {\n         {\n            arch = "all"\n         },\n         { arch = "src" }\n      }\n   },\n   ["lua-cjson"] = { ["2.1.0-1"] = { { arch = "rockspec" } } }\n}\n`,
      'manifest',
    )
    expect([...manifest.keys()]).toEqual(['bio_compute', 'lua-cjson'])
    expect(manifest.get('bio_compute')?.get('0.1.0-1')).toEqual(['all', 'src'])
    expect(manifest.get('lua-cjson')?.get('2.1.0-1')).toEqual(['rockspec'])
  })

  it('reads rockspec-style Lua: comments, long strings, escapes, locals and ..', () => {
    const g = readLuaAssignments(
      [
        '#!/usr/bin/env lua',
        '-- a comment',
        '--[==[ a long',
        ' comment ]==]',
        'local base = "1.2"',
        'package = "demo"; version = base .. "-" .. 1',
        'source = { url = "https://example.org/demo-" .. base .. ".tar.gz", dir = [[demo]] }',
        'description = { detailed = [==[',
        'line one ]] still',
        ']==], summary = \'it\\\'s "quoted"\\n\\x41\\65\\u{48}\\z',
        "     tail' }",
        'build = { type = "builtin", modules = { ["demo.core"] = "src/core.lua", [2] = 0x10, -3.5e1 } }',
        'build.modules.extra = "src/extra.lua"',
        'nothing = nil',
      ].join('\n'),
      'demo.rockspec',
    )
    expect(g.get('package')).toBe('demo')
    expect(g.get('version')).toBe('1.2-1')
    expect(g.has('base')).toBe(false)
    expect(g.has('nothing')).toBe(false)
    const source = g.get('source') as LuaTable
    expect(source.get('url')).toBe('https://example.org/demo-1.2.tar.gz')
    expect(source.get('dir')).toBe('demo')
    const description = g.get('description') as LuaTable
    expect(description.get('detailed')).toBe('line one ]] still\n')
    expect(description.get('summary')).toBe('it\'s "quoted"\nAAHtail')
    const modules = (g.get('build') as LuaTable).get('modules') as LuaTable
    expect(modules.get('demo.core')).toBe('src/core.lua')
    expect(modules.get('extra')).toBe('src/extra.lua')
    expect(modules.items).toEqual([-35, 16])
  })

  it('evaluates the expressions hand-written rockspecs use (Penlight-style)', () => {
    const g = readLuaAssignments(
      [
        'local package_name = "penlight"',
        'local package_version = "1.14.0"',
        'local rockspec_revision = "3"',
        'local git_checkout = package_version == "dev" and "master" or package_version',
        'package = package_name',
        'version = package_version .. "-" .. rockspec_revision',
        'source = { url = "git+https://github.com/lunarmodules/"..package_name..".git", branch = git_checkout }',
        'dev = "dev" == "dev" and "master" or "x"',
        'n = 2 + 3 * 4 ^ 2 / 8 - -1, "dropped"',
        'q = { 7 // 2, 7 % 3, -7 // 2, -7 % 3 }',
        'cmp = { 1 < 2, "a" >= "b", not nil, #"héllo", #{ 1, 2, 3 }, 1 ~= 1 }',
        'safe = missing and missing.field',
        'fallback = missing or { "default" }',
        'coerced = "10" + 1',
      ].join('\n'),
      'penlight-1.14.0-3.rockspec',
    )
    expect(g.get('version')).toBe('1.14.0-3')
    expect((g.get('source') as LuaTable).get('url')).toBe('git+https://github.com/lunarmodules/penlight.git')
    expect((g.get('source') as LuaTable).get('branch')).toBe('1.14.0')
    expect(g.get('dev')).toBe('master')
    expect(g.get('n')).toBe(2 + (3 * 4 ** 2) / 8 + 1)
    expect((g.get('q') as LuaTable).items).toEqual([3, 1, -4, 2])
    expect((g.get('cmp') as LuaTable).items).toEqual([true, false, true, 6, 3, false])
    expect(g.has('safe')).toBe(false)
    expect((g.get('fallback') as LuaTable).items).toEqual(['default'])
    expect(g.get('coerced')).toBe(11)
    // What Lua would raise is raised when the value is used, with its line.
    expect(() => readLuaAssignments('a = 1\nx = missing.field', 'r')).toThrow(/^r:2: attempt to index a nil value/)
    expect(() => readLuaAssignments('x = { a = 1 .. {} }', 'r')).toThrow(/attempt to concatenate a table value/)
    expect(() => readLuaAssignments('x = 1 < "2"', 'r')).toThrow(/attempt to compare number with string/)
    expect(() => readLuaAssignments('x = 1 & 2', 'r')).toThrow(/bitwise operators are not supported/)
  })

  it('refuses code: calls, loops, functions', () => {
    for (const code of [
      'os.execute("rm -rf /")',
      'print "hi"',
      'x = io.open("/etc/passwd")',
      'x = f{1}',
      'while true do end',
      'local function f() end',
      'return { }',
      'x = function() end',
      'x = (y)(1)',
      'x = 1 + ',
      'x = { 1 ',
      'x = "unfinished',
      `x = ${'{'.repeat(500)}${'}'.repeat(500)}`,
    ]) {
      expect(() => readLuaAssignments(code, 'bad.rockspec'), code).toThrow(LuaDataError)
    }
    expect(() => readLuaAssignments('x = y()', 'bad.rockspec')).toThrow(
      /bad\.rockspec:1: function calls are not supported/,
    )
  })
})

describe("the Lua data reader's budgets", () => {
  const doublings = (seed: string, n: number) =>
    [`local s = ${JSON.stringify(seed)}`, ...Array.from({ length: n }, () => 's = s .. s')].join('\n')
  const budgetOf = (code: string, options?: Parameters<typeof readLuaAssignments>[2]) => {
    try {
      readLuaAssignments(code, 'evil.rockspec', options)
    } catch (error) {
      return error instanceof LuaDataLimitError ? error.budget : (error as Error).message
    }
    return 'no error'
  }

  it('stops each kind of amplification at its budget, naming it and the file', () => {
    expect(budgetOf(`${doublings('x', 30)}\nn = #s`)).toBe('maxStringLength')
    expect(budgetOf(`${doublings('x', 20)}\nn = ${'#s + '.repeat(100)}0`)).toBe('baseWork')
    expect(
      budgetOf(`${doublings('x', 19)}\n${Array.from({ length: 20 }, (_, k) => `a${k} = s .. s`).join('\n')}`),
    ).toBe('maxBuiltLength')
    expect(budgetOf(`${doublings('x', 15)}\n${'n = s < s\n'.repeat(1000)}`)).toBe('baseWork')
    expect(budgetOf(`x = ${'('.repeat(1000)}1${')'.repeat(1000)}`)).toBe('maxDepth')
    expect(budgetOf(`x = { ${'{},'.repeat(100)} }`, { limits: { ...LUA_DATA_LIMITS, maxNodes: 100 } })).toBe('maxNodes')
    expect(budgetOf('x = 1', { limits: { ...LUA_DATA_LIMITS, maxSourceLength: 4 } })).toBe('maxSourceLength')
    // A chain built by statements, bottom up, is refused once a table goes in deeper than maxDepth.
    const chain = Array.from({ length: 300 }, (_, k) => (k ? `a${k} = { a${k - 1} }` : 'a0 = {}')).join('\n')
    expect(budgetOf(`${chain}\na0.x = {}`)).toBe('maxDepth')
    expect(() => readLuaAssignments(`${doublings('x', 30)}`, 'evil.rockspec')).toThrow(
      /^evil\.rockspec:\d+: builds a string of 2097152 characters, over 1048576 \(budget maxStringLength\)$/,
    )
  })

  it('keeps data a tree: no table in two places, none inside itself', () => {
    expect(budgetOf('local v = {}\nx = { a = v, b = v }')).toMatch(/stored in only one table/)
    expect(budgetOf('t = {}\nt.self = t')).toMatch(/cannot be stored inside itself/)
    expect(budgetOf('t = { u = {} }\nt.u.back = t')).toMatch(/cannot be stored inside itself/)
    // Locals and globals may name the same table; only placing it twice is refused.
    const g = readLuaAssignments('local deps = { "a" }\ndependencies = deps\nbuild = { x = 1 }', 'ok.rockspec')
    expect((g.get('dependencies') as LuaTable).items).toEqual(['a'])
  })

  it('calls stop as it goes, so a deadline can end a read in the middle', () => {
    let calls = 0
    const stop = () => {
      if (++calls > 3) throw new Error('deadline')
    }
    expect(() => readLuaAssignments(`x = { ${'1,'.repeat(200_000)} }`, 'big', { stop })).toThrow('deadline')
  })

  it('reads in slices when asked, giving the event loop turns', async () => {
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    try {
      const g = await readLuaAssignmentsAsync(`x = { ${'{ a = "b" },'.repeat(200_000)} }`, 'big')
      expect((g.get('x') as LuaTable).items.length).toBe(200_000)
    } finally {
      clearInterval(timer)
    }
    expect(ticks).toBeGreaterThan(0)
  })

  it('reads long non-numbers and many faults in linear time', () => {
    const started = performance.now()
    // A long run of digits or spaces made regexes backtrack quadratically; faults counted lines each time.
    expect(() => readLuaAssignments(`${doublings('1', 19)}\nx = (s .. "x") + 1`, 'r')).toThrow(/arithmetic on a string/)
    expect(() => readLuaAssignments(`${doublings(' ', 19)}\nx = (s .. "x") + 1`, 'r')).toThrow(/arithmetic on a string/)
    expect(() => readLuaAssignments(`${'\n'.repeat(100_000)}x = { ${'nil .. nil, '.repeat(20_000)} }`, 'r')).toThrow(
      /^r:100001: attempt to concatenate a nil value$/,
    )
    expect(performance.now() - started).toBeLessThan(10_000)
  })
})

describe('archives', () => {
  it('reads zip entries and checks their CRC and size', () => {
    const text = 'return { answer = 42 }\n'.repeat(100)
    const zip = zipSync({ 'lua/a.lua': strToU8(text), 'stored.txt': [strToU8('plain'), { level: 0 }] })
    const reader = new ZipReader(zip, 't.zip')
    expect(reader.entries.map((e) => e.name).sort()).toEqual(['lua/a.lua', 'stored.txt'])
    const budget = new ByteBudget(MiB)
    expect(new TextDecoder().decode(reader.read(reader.get('lua/a.lua') as never, budget))).toBe(text)
    // Flip a byte of the stored entry: the CRC catches it.
    const corrupt = zip.slice()
    const at = findBytes(corrupt, strToU8('plain'))
    corrupt[at] = 0x50 ^ 0xff
    const bad = new ZipReader(corrupt, 'bad.zip')
    expect(() => bad.read(bad.get('stored.txt') as never, budget)).toThrow(/CRC mismatch/)
    expect(() => new ZipReader(strToU8('not a zip at all, not even close to one'), 'x')).toThrow(ArchiveError)
  })

  it('stops a zip bomb at the byte budget instead of allocating', () => {
    const zeros = new Uint8Array(8 * MiB)
    const zip = zipSync({ 'bomb.lua': zeros })
    expect(zip.length).toBeLessThan(64 * 1024)
    const reader = new ZipReader(zip, 'bomb.rock')
    expect(() => reader.read(reader.get('bomb.lua') as never, new ByteBudget(MiB))).toThrow(/more than 1 MiB/)
    // A directory that lies about the size is caught while inflating.
    const lying = zip.slice()
    const central = findBytes(lying, Uint8Array.of(0x50, 0x4b, 0x01, 0x02))
    new DataView(lying.buffer).setUint32(central + 24, 1024, true)
    const liar = new ZipReader(lying, 'liar.rock')
    expect(() => liar.read(liar.get('bomb.lua') as never, new ByteBudget(64 * MiB))).toThrow(/past its recorded size/)
    expect(() => gunzipBounded(gzipSync(zeros), new ByteBudget(MiB), 'x.tar.gz')).toThrow(/more than 1 MiB/)
  })

  it('reads ustar, GNU long names and pax paths', () => {
    const long = `${'d'.repeat(120)}/file.lua`
    const tar = concat(
      tarEntry('pax_global_header', 'comment=abc\n', 'g'),
      tarEntry('dir/', '', '5'),
      tarEntry('dir/a.lua', 'return 1'),
      tarEntry('././@LongLink', `${long}\0`, 'L'),
      tarEntry(long.slice(0, 99), 'return 2'),
      tarEntry('PaxHeader', `${String(`xx path=pax/name.lua\n`.length)} path=pax/name.lua\n`, 'x'),
      tarEntry('short', 'return 3'),
      tarEntry('link', '', '2'),
      new Uint8Array(1024),
    )
    const files = readTar(tar, 't.tar')
    expect(files.map((f) => [f.name, new TextDecoder().decode(f.data)])).toEqual([
      ['dir/a.lua', 'return 1'],
      [long, 'return 2'],
      ['pax/name.lua', 'return 3'],
    ])
    expect(() => readTar(tar.subarray(0, 2050), 't.tar')).toThrow(/truncated/)
    expect(crc32(strToU8('123456789'))).toBe(0xcbf43926)
  })
})

describe('rocks', () => {
  it('names rock files and modules', () => {
    expect(parseRockFileName('lua-cjson-2.1.0.10-1.src.rock')).toEqual({
      name: 'lua-cjson',
      version: '2.1.0.10-1',
      arch: 'src',
    })
    expect(parseRockFileName('x.rock')).toBeUndefined()
    expect(pathToModule('a/b.lua')).toBe('a.b')
    expect(pathToModule('a/init.lua')).toBe('a')
    expect(pathToModule('init.lua')).toBe('init')
  })

  it('unpacks an .all.rock: lua/** are the modules, lib/** refuses it', () => {
    const spec = 'package = "demo"\nversion = "1.0-1"\ndependencies = { "lua >= 5.1", "dep ~> 2" }\n'
    const rock = zipSync({
      'demo-1.0-1.rockspec': strToU8(spec),
      'lua/demo/init.lua': strToU8('return { init = true }'),
      'lua/demo/util.lua': strToU8('return {}'),
      'lua/bad-name!.lua': strToU8('return {}'),
      'doc/README': strToU8('docs'),
    })
    const r = unpackRock(rock, { name: 'demo', version: '1.0-1', arch: 'all' }, new ByteBudget(MiB))
    expect([...r.modules.keys()].sort()).toEqual(['demo', 'demo.util'])
    expect(r.dependencies.map((d) => d.text)).toEqual(['dep ~> 2'])
    expect(r.notes.join('\n')).toMatch(/bad-name!.*not a valid module name/)
    const native = zipSync({ 'demo-1.0-1.rockspec': strToU8(spec), 'lib/demo/core.so': new Uint8Array(8) })
    expect(() =>
      unpackRock(native, { name: 'demo', version: '1.0-1', arch: 'linux-x86_64' }, new ByteBudget(MiB)),
    ).toThrow(NativeRockError)
    const wrong = zipSync({ 'demo-1.0-1.rockspec': strToU8('package = "other"\nversion = "1.0-1"') })
    expect(() => unpackRock(wrong, { name: 'demo', version: '1.0-1', arch: 'all' }, new ByteBudget(MiB))).toThrow(
      /rockspec is for package 'other'/,
    )
  })

  it('unpacks a .src.rock: build.modules, install.lua, autodetection, zip sources', () => {
    const sources = gzipSync(
      concat(
        tarEntry('demo-1.0/src/demo.lua', 'return "demo"'),
        tarEntry('demo-1.0/src/demo/sub.lua', 'return "sub"'),
        tarEntry('demo-1.0/extra/e.lua', 'return "e"'),
        tarEntry('demo-1.0/spec/demo_spec.lua', 'error("not a module")'),
        new Uint8Array(1024),
      ),
    )
    const spec = (build: string) =>
      strToU8(
        `rockspec_format = "3.0"\npackage = "demo"\nversion = "1.0-1"\nsource = { url = "https://example.org/v1.0.tar.gz?x=1", dir = "demo-1.0" }\nbuild = ${build}`,
      )
    const rock = (build: string, archive: Uint8Array = sources, name = 'v1.0.tar.gz') =>
      zipSync({ 'demo-1.0-1.rockspec': spec(build), [name]: archive })
    const file = { name: 'demo', version: '1.0-1', arch: 'src' }
    const modulesOf = (bytes: Uint8Array) => {
      const r = unpackRock(bytes, file, new ByteBudget(MiB))
      return Object.fromEntries(r.modules)
    }

    expect(
      modulesOf(
        rock(
          '{ type = "builtin", modules = { demo = "src/demo.lua" }, install = { lua = { ["demo.e"] = "extra/e.lua" } } }',
        ),
      ),
    ).toEqual({
      demo: 'return "demo"',
      'demo.e': 'return "e"',
    })
    // No build.modules with rockspec_format 3.0: luarocks' autodetection (src/ first, spec/ skipped).
    expect(modulesOf(rock('{}'))).toEqual({ demo: 'return "demo"', 'demo.sub': 'return "sub"' })
    // A zip source archive without source.dir's folder: the single top folder is used.
    const zipped = zipSync({ 'top/src/demo.lua': strToU8('return "zipped"') })
    expect(
      modulesOf(rock('{ type = "none", install = { lua = { demo = "src/demo.lua" } } }', zipped, 'v1.0.zip')),
    ).toEqual({ demo: 'return "zipped"' })

    for (const build of [
      '{ type = "make" }',
      '{ type = "cmake" }',
      '{ type = "builtin", modules = { core = { sources = { "core.c" } } } }',
      '{ type = "builtin", modules = { core = "core.c" } }',
      '{ type = "builtin", modules = { core = { "a.c", "b.c" } } }',
      '{ type = "builtin", modules = { demo = "src/demo.lua" }, install = { lib = { core = "core.so" } } }',
    ]) {
      expect(() => modulesOf(rock(build)), build).toThrow(NativeRockError)
    }
    const withC = gzipSync(concat(tarEntry('demo-1.0/src/core.c', 'int x;'), new Uint8Array(1024)))
    expect(() => modulesOf(rock('{}', withC))).toThrow(/C sources \(src\/core\.c\)/)
    expect(() => modulesOf(rock('{ modules = { demo = "src/missing.lua" } }'))).toThrow(/not in the sources/)
    expect(() => modulesOf(rock('{}', Uint8Array.of(0x42, 0x5a, 0x68, 0x39)))).toThrow(/bzip2/)
  })
})

function tarEntry(name: string, body: string, type = '0'): Uint8Array {
  const data = strToU8(body)
  const header = new Uint8Array(512)
  header.set(strToU8(name.slice(0, 100)), 0)
  header.set(strToU8('0000644\0'), 100)
  header.set(strToU8(`${data.length.toString(8).padStart(11, '0')}\0`), 124)
  header.set(strToU8(type), 156)
  header.set(strToU8('ustar\x0000'), 257)
  header.fill(0x20, 148, 156)
  let sum = 0
  for (const b of header) sum += b
  header.set(strToU8(`${sum.toString(8).padStart(6, '0')}\0 `), 148)
  const padded = new Uint8Array(Math.ceil(data.length / 512) * 512)
  padded.set(data)
  return concat(header, padded)
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

function findBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
    return i
  }
  throw new Error('not found')
}
