import { describe, expect, it } from 'vitest'
import { Catalog, ConfigError, InvalidArgumentError, PackageError } from '../src/index.js'

describe('Catalog', () => {
  const catalog = Catalog.default()

  it('ships the original catalog plus bio_compute, ordered by priority', () => {
    const names = catalog.list().map((p) => p.name)
    for (const n of [
      'lua-cjson',
      'luafilesystem',
      'penlight',
      'inspect',
      'luasocket',
      'http',
      'lpeg',
      'lua-parser',
      'busted',
      'luassert',
      'bio_compute',
    ]) {
      expect(names).toContain(n)
    }
    const priorities = catalog.list().map((p) => p.priority)
    expect(priorities).toEqual([...priorities].sort((a, b) => b - a))
  })

  it('has one profile table with the required profiles', () => {
    expect(
      catalog
        .profiles()
        .map((p) => p.name)
        .sort(),
    ).toEqual(['bio', 'development', 'full', 'minimal', 'networking', 'production', 'standard'].sort())
    expect(catalog.profile('minimal').packages).toEqual(['lua-cjson', 'luafilesystem'])
    expect(() => catalog.profile('nope')).toThrow(PackageError)
    expect(() => catalog.profile('nope')).toThrow(/profiles: minimal/)
  })

  it('keeps the bio profile installable on every backend (pure Lua only)', () => {
    for (const name of catalog.profile('bio').packages) expect(catalog.get(name)?.pure).toBe(true)
  })

  it('searches name, description and category, name hits first', () => {
    expect(
      catalog
        .search('json')
        .map((p) => p.name)
        .slice(0, 2)
        .sort(),
    ).toEqual(['dkjson', 'lua-cjson'])
    expect(catalog.search('GC content')[0]?.name).toBe('bio_compute')
    expect(catalog.search('network').map((p) => p.name)).toEqual(expect.arrayContaining(['luasocket', 'http']))
    expect(catalog.search('no-such-thing-anywhere')).toEqual([])
  })

  it('recommends by priority, skipping what is installed', () => {
    const rec = catalog.recommend({ installed: ['bio_compute', 'lua-cjson'], limit: 3 })
    expect(rec).toHaveLength(3)
    expect(rec.map((p) => p.name)).not.toContain('bio_compute')
    expect(catalog.recommend({ pureOnly: true, limit: 20 }).every((p) => p.pure)).toBe(true)
  })

  it('resolves dependencies first, each once', () => {
    expect(catalog.resolve(['busted', 'penlight'])).toEqual(['luassert', 'luafilesystem', 'penlight', 'busted'])
    expect(catalog.resolve(['unknown-rock'])).toEqual(['unknown-rock'])
    expect(() => catalog.resolve(['--flag'])).toThrow(InvalidArgumentError)
  })

  it('rejects bad catalogs with a message that says where', () => {
    const base = { version: 1, packages: [{ name: 'a' }], profiles: {} }
    expect(() => Catalog.fromJSON({ ...base, packages: [{ name: 'a' }, { name: 'a' }] }, 'x.json')).toThrow(
      /x.json: packages\[1\]: duplicate/,
    )
    expect(() => Catalog.fromJSON({ ...base, packages: [{ name: 'a', dependencies: ['b'] }] })).toThrow(
      /depends on 'b'/,
    )
    expect(() => Catalog.fromJSON({ ...base, profiles: { p: { packages: ['zz'] } } })).toThrow(/profile 'p' lists 'zz'/)
    expect(() =>
      Catalog.fromJSON({
        ...base,
        packages: [
          { name: 'a', dependencies: ['b'] },
          { name: 'b', dependencies: ['a'] },
        ],
      }),
    ).toThrow(/cycle a → b → a/)
    expect(() => Catalog.fromJSON({ ...base, packages: [{ name: 'a', priority: 11 }] })).toThrow(ConfigError)
    expect(() => Catalog.fromJSON({ ...base, packages: [{ name: '../evil' }] })).toThrow(ConfigError)
    expect(() => Catalog.fromJSON({ packages: [] })).toThrow(/version: 1/)
  })

  it('loads a replacement catalog from a URL', async () => {
    const fake = (async () =>
      new Response(
        JSON.stringify({
          version: 1,
          packages: [{ name: 'mine', priority: 3 }],
          profiles: { p: { packages: ['mine'] } },
        }),
      )) as typeof fetch
    const c = await Catalog.fromURL('https://example.invalid/catalog.json', fake)
    expect(c.list().map((p) => p.name)).toEqual(['mine'])
    const failing = (async () => new Response('nope', { status: 404 })) as typeof fetch
    await expect(Catalog.fromURL('https://example.invalid/x', failing)).rejects.toThrow(/HTTP 404/)
  })
})
