import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCliInMemory } from '../src/index.js'
import { cli } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'luavm-cli-cmd-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('bioxen-luavm backends', () => {
  it('lists built-in backends with availability', async () => {
    const r = await cli(['backends'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^TYPE\s+AVAILABLE/)
    expect(r.stdout).toMatch(/^wasm\s+yes/m)
    expect(r.stdout).toMatch(/^fengari\s+yes/m)
    expect(r.stdout).toContain('default: wasm')
  })

  it('prints JSON with capabilities', async () => {
    const list = JSON.parse((await cli(['backends', '--json'])).stdout)
    const wasm = list.find((b: { type: string }) => b.type === 'wasm')
    expect(wasm).toMatchObject({ available: true, capabilities: { sandboxed: true, memoryLimit: true } })
  })
})

describe('bioxen-luavm config', () => {
  it('shows the merged config with secrets redacted', async () => {
    const file = join(dir, 'xcpng_config.json')
    writeFileSync(file, JSON.stringify({ xapi_url: 'https://xcp.example:443', username: 'root', password: 'hunter2' }))
    const r = await cli(['--config', file, 'config', 'show'])
    expect(r.code).toBe(0)
    expect(r.stdout).not.toContain('hunter2')
    expect(JSON.parse(r.stdout).backends.xcpng).toMatchObject({ username: 'root', password: '[redacted]' })
  })

  it('hides credentials inside URLs in config show and config validate', async () => {
    const file = join(dir, 'urls.json')
    writeFileSync(
      file,
      JSON.stringify({
        limits: { timeoutMs: 2 ** 31 },
        backends: {
          xcpng: { xapi_url: 'https://root:pw-in-url@xcp.example', username: 'root', password: 'x' },
          process: { servers: ['https://bob:rock-pw@rocks.example/?token=tok-in-query'] },
        },
      }),
    )
    const shown = await cli(['--config', file, 'config', 'show'], { env: { LUAVM_TIMEOUT_MS: '1000' } })
    expect(shown.code).toBe(0)
    expect(shown.stdout).not.toMatch(/pw-in-url|rock-pw|tok-in-query/)
    expect(JSON.parse(shown.stdout).backends.xcpng.xapi_url).toBe('https://[redacted]@xcp.example')
    const checked = await cli(['--config', file, 'config', 'validate', '--json'])
    expect(checked.code).toBe(2)
    expect(checked.stdout).not.toMatch(/pw-in-url|rock-pw|tok-in-query/)
    expect(JSON.parse(checked.stdout).problems).toContainEqual(expect.stringMatching(/limits\.timeoutMs must be/))
  })

  it('validates and names the bad key, exit 2', async () => {
    const file = join(dir, 'bad.json')
    writeFileSync(file, JSON.stringify({ backends: { wasm: { isolation: 'sideways' }, nope: {} } }))
    const r = await cli(['--config', file, 'config', 'validate', '--json'])
    expect(r.code).toBe(2)
    const out = JSON.parse(r.stdout)
    expect(out.valid).toBe(false)
    expect(out.problems.join('\n')).toMatch(/backends\.wasm\.isolation/)
    expect(out.problems.join('\n')).toMatch(/no backend 'nope'/)
  })

  it('reports settings that cannot work together, naming both keys; run refuses them too', async () => {
    const file = join(dir, 'pair.json')
    writeFileSync(file, JSON.stringify({ backends: { wasm: { isolation: 'inline', softDeadline: false } } }))
    const r = await cli(['--config', file, 'config', 'validate', '--json'])
    expect(r.code).toBe(2)
    expect(JSON.parse(r.stdout).problems).toEqual([
      expect.stringMatching(/^backends\.wasm\.softDeadline: false needs backends\.wasm\.isolation "worker"/),
    ])
    const run = await cli(['--config', file, 'run', '-e', 'print(1)'])
    expect(run).toMatchObject({ code: 2, stdout: '' })
    expect(run.stderr).toMatch(/^error: backends\.wasm\.softDeadline: false needs/)
  })

  it('says a good config is valid', async () => {
    const file = join(dir, 'good.json')
    writeFileSync(file, JSON.stringify({ defaultBackend: 'fengari' }))
    expect(await cli(['--config', file, 'config', 'validate'])).toMatchObject({ code: 0, stdout: 'config is valid\n' })
  })

  it('fails clearly on a broken config file', async () => {
    const file = join(dir, 'broken.json')
    writeFileSync(file, '{ nope')
    const r = await cli(['--config', file, 'config', 'show'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/is not valid JSON/)
  })
})

describe('bioxen-luavm pkg', () => {
  it('searches the catalog', async () => {
    const r = await cli(['pkg', 'search', 'json'])
    expect(r.stdout).toMatch(/lua-cjson/)
    expect(r.stdout).toMatch(/dkjson/)
    const pure = JSON.parse((await cli(['pkg', 'search', '--pure', '--json'])).stdout)
    expect(pure.every((p: { pure: boolean }) => p.pure)).toBe(true)
  })

  it('lists profiles', async () => {
    const r = await cli(['pkg', 'profiles'])
    expect(r.stdout).toMatch(/^bio\s+bio_compute/m)
  })
})

describe('plugins', () => {
  it('loads a backend from --plugin and names a bad one', async () => {
    const plugin = join(dir, 'echo-plugin.mjs')
    writeFileSync(
      plugin,
      `export const echoBackend = { type: 'echo', description: 'test plugin', capabilities: { sandboxed: true, persistentState: false, sessions: false, packages: false, networking: false, memoryLimit: false, hardTimeout: false, remote: false }, detect: async () => ({ available: true, version: 'echo 1' }), load: async () => { throw new Error('not for running') } }\n`,
    )
    const r = await cli(['--plugin', plugin, 'backends', '--json'])
    expect(JSON.parse(r.stdout).map((b: { type: string }) => b.type)).toContain('echo')
    const bad = await cli(['--plugin', join(dir, 'missing.mjs'), 'backends'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('missing.mjs')
    const empty = join(dir, 'empty.mjs')
    writeFileSync(empty, 'export const x = 1\n')
    expect((await cli(['--plugin', empty, 'backends'])).stderr).toMatch(/exports no backend descriptor/)
  })

  it('loads a package by name whose main entry is a CommonJS build (its default export inside module.exports)', async () => {
    const pkg = join(dir, 'node_modules', 'luavm-cjs-plugin')
    mkdirSync(pkg, { recursive: true })
    writeFileSync(
      join(pkg, 'package.json'),
      JSON.stringify({
        name: 'luavm-cjs-plugin',
        exports: { '.': { import: './index.mjs', require: './index.cjs' } },
      }),
    )
    const descriptor = `{ type: 'cjsecho', description: 'cjs plugin', capabilities: { sandboxed: true, persistentState: false, sessions: false, packages: false, networking: false, memoryLimit: false, hardTimeout: false, remote: false }, detect: async () => ({ available: true }), load: async () => { throw new Error('not for running') } }`
    // What bundlers emit for `export default` in a CJS build.
    writeFileSync(
      join(pkg, 'index.cjs'),
      `Object.defineProperty(exports, '__esModule', { value: true }); exports.default = ${descriptor}\n`,
    )
    writeFileSync(join(pkg, 'index.mjs'), `export default ${descriptor}\n`)
    const r = await runCliInMemory(['--plugin', 'luavm-cjs-plugin', 'backends', '--json'], {
      cwd: dir,
      env: { XDG_CONFIG_HOME: '/nonexistent-luavm-test' },
    })
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout).map((b: { type: string }) => b.type)).toContain('cjsecho')
  })
})
