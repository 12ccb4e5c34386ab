/**
 * The READMEs of examples/bioxen-host, examples/playground and
 * rocks/bio_compute, run.
 *
 * The BioXen host runs from sources as its README says (`node
 * scripts/run-ts.mjs …` from the repository root), in a view of the
 * repository so that run-ts.mjs's bundle and the README's API block (which
 * imports `./src/index.js`) are written into the sandbox, not the checkout.
 * bio_compute's ```lua block becomes a check per `-->` line, run on every
 * Lua the machine has and on the fengari and wasm sandboxes.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import playgroundConfig from '../../examples/playground/vite.config.js'
import {
  bashSyntaxError,
  Doc,
  jsLiteral,
  makeSandbox,
  pnpmFilterLines,
  run,
  runLogged,
  runProgram,
  runShell,
  type Sandbox,
  typecheck,
} from './docs-blocks.js'
import { root } from './packages.js'

const host = Doc.at('examples/bioxen-host/README.md')
const hostRun = host.take('sh', 'examples/bioxen-host/main.ts')
const hostApi = host.take('ts', 'createBioVM(')

const playground = Doc.at('examples/playground/README.md')
const playgroundCommands = playground.take('sh dev', 'example-playground')

const examples = Doc.at('examples/README.md')
const usageLines = examples.take('sh', 'examples/usage/basic-execution.ts')
const hostLine = examples.take('sh', 'examples/bioxen-host/main.ts')

const bio = Doc.at('rocks/bio_compute/README.md')
const bioLua = bio.take('lua', 'require("bio_compute")')

let sandbox: Sandbox
let view: string
beforeAll(() => {
  sandbox = makeSandbox()
  view = sandbox.checkout(['examples/bioxen-host'])
})
afterAll(() => sandbox?.cleanup())

/** `{ id, codons: { total, top } }` → { id: true, codons: { total: true, top: true } }: the keys a comment shows. */
function shape(text: string): Record<string, unknown> {
  const tokens = text.match(/[{}:,]|\w+/g) ?? []
  let i = 0
  const object = (): Record<string, unknown> => {
    const out: Record<string, unknown> = {}
    if (tokens[i++] !== '{') throw new Error(`not a shape: ${text}`)
    while (tokens[i] !== '}') {
      const key = tokens[i++] as string
      if (tokens[i] === ':') {
        i++
        out[key] = object()
      } else out[key] = true
      if (tokens[i] === ',') i++
    }
    i++
    return out
  }
  return object()
}

/** The keys of `value` as far down as `like` goes. */
function keysLike(value: unknown, like: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(value as object).map((k) => {
      const inner = like[k]
      const v = (value as Record<string, unknown>)[k]
      return [k, typeof inner === 'object' && inner !== null ? keysLike(v, inner as Record<string, unknown>) : true]
    }),
  )
}

describe('examples/bioxen-host/README.md', () => {
  it('main.ts runs from the repository root: both backends on every organism, the same GC, the typed errors', async () => {
    const home = sandbox.home('bioxen-main')
    const r = await runShell(hostRun.code, { cwd: view, env: sandbox.env(home), timeoutMs: 90_000 })
    expect(r.failure, `${r.stdout}\n${r.stderr}`).toBeUndefined()
    const out = r.lines[0]?.stdout ?? ''
    const rows = out
      .split('\n')
      .filter((l) => /^(syn3a|ecoli|minimal_cell) +(wasm|basic) /.test(l))
      .map((l) => l.split(/ {2,}/))
    expect(rows.map((c) => `${c[0]} ${c[1]} ${c[2]}`)).toEqual([
      'syn3a wasm wasm',
      'syn3a basic process',
      'ecoli wasm wasm',
      'ecoli basic process',
      'minimal_cell wasm wasm',
      'minimal_cell basic process',
    ])
    // "checks both agree"
    for (let i = 0; i < rows.length; i += 2) expect(rows[i]?.[8], rows[i]?.[0]).toBe(rows[i + 1]?.[8])
    expect(out).toContain('wasm and basic agree on every GC value: yes\n')
    // "shows the factory's validation errors"
    for (const tag of ['UnknownBiologicalTypeError', 'UnknownVMTypeError', 'BioConfigError'])
      expect(out).toContain(`-> ${tag}: `)
    // "(bundled SYNTHETIC sequences)"
    expect(out).toContain('BioXen analysis report (bundled SYNTHETIC sequences)')
  })

  it('the API block prints what its comments say', async () => {
    const lines = hostApi.code.split('\n')
    const probes: Array<{ expr: string; claim: string }> = []
    const program = lines
      .map((line) => {
        // A bare expression with a comment: log it, and remember what the comment claims.
        const m = /^((?!import |const |let |await using )\S.*?)\s+\/\/ (.*)$/.exec(line)
        if (!m) return line
        const [, expr, claim] = m as unknown as [string, string, string]
        probes.push({ expr, claim })
        return expr === 'cell.vm' ? 'console.log(cell.vm instanceof BaseLuaVM)' : `console.log(${expr})`
      })
      .join('\n')
    expect(probes.map((p) => p.expr)).toEqual([
      'supportedBiologicalTypes()',
      'supportedVMTypes()',
      'report.gcContent',
      'report.records[0]',
      "await cell.gcContent('ATGCGC')",
      "await cell.codonUsage('ATGATGTAA')",
      "await cell.findMotif('GATATATC', 'ATA')",
      'cell.vm',
    ])
    const file = join(view, 'examples', 'bioxen-host', 'readme-api.ts')
    const home = sandbox.home('bioxen-api')
    const r = await runLogged(process.execPath, ['scripts/run-ts.mjs', 'examples/bioxen-host/readme-api.ts'], {
      file,
      source: `import { BaseLuaVM } from '@bioxen-luavm/core'\n${program}`,
      cwd: view,
      env: sandbox.env(home),
      timeoutMs: 60_000,
    })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const logged = r.logs.map((l) => l.args[0])
    const claim = (i: number) => probes[i]?.claim as string
    expect(logged[0]).toEqual(jsLiteral(claim(0)))
    expect(logged[1]).toEqual(jsLiteral(claim(1)))
    // "over all records" of config.sequenceFile: the syn3a FASTA, counted here.
    expect(claim(2)).toBe('over all records')
    const fasta = readFileSync(join(root, 'examples', 'bioxen-host', 'data', 'syn3a_synthetic.fasta'), 'utf8')
    const bases = fasta
      .split('\n')
      .filter((l) => !l.startsWith('>'))
      .join('')
      .toUpperCase()
    expect(logged[2]).toBeCloseTo(bases.replace(/[^GC]/g, '').length / bases.replace(/[^ACGT]/g, '').length, 10)
    const record = logged[3] as { id: string; motifs: Record<string, number[]> }
    expect(keysLike(record, shape(claim(3)))).toEqual(shape(claim(3)))
    expect(record.id).toBe('syn3a_synthetic_1')
    // `{ motifs: ['TATAAT', 'GATC'] }` replaced the type's default motifs.
    expect(Object.keys(record.motifs)).toEqual(['TATAAT', 'GATC'])
    expect(claim(4)).toBe('0.666…')
    expect(logged[4]).toBeCloseTo(2 / 3, 10)
    expect(logged[5]).toEqual(jsLiteral(claim(5)))
    expect(logged[6]).toEqual(jsLiteral(claim(6)))
    expect(claim(7)).toMatch(/^the underlying BaseLuaVM/)
    expect(logged[7]).toBe(true)
  })

  it('its code type-checks against the example’s sources', () => {
    expect(
      typecheck(sandbox, { 'readme-api-check': hostApi.code }, { dir: join(view, 'examples', 'bioxen-host') }),
    ).toBe('')
  })

  it('runs every ts and sh block of the page', () => {
    expect(host.unverified()).toEqual([])
  })
})

describe('examples/README.md', () => {
  // test/examples/ runs every usage example as these lines show (the rock
  // server and the XCP-ng config built there); here the first runs as written.
  const commands = usageLines.code.split('\n').filter((l) => l.trim() !== '')
  const runners = readdirSync(join(root, 'test', 'examples'))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => readFileSync(join(root, 'test', 'examples', f), 'utf8'))
    .join('\n')

  it('each command names an example that exists and that test/examples runs, with the same kind of arguments', () => {
    expect(commands).toHaveLength(3)
    for (const command of commands) {
      const m = /^(?:(\w+)=\S+ )?node scripts\/run-ts\.mjs (\S+)(?: (\S+))?$/.exec(command)
      expect(m, command).not.toBeNull()
      const [, envName, entry, arg] = m as RegExpExecArray
      expect(existsSync(join(root, entry as string)), command).toBe(true)
      expect(runners, `test/examples runs ${entry}`).toContain(`'${entry}'`)
      if (envName) expect(runners, `test/examples sets ${envName}`).toContain(`${envName}:`)
      if (arg === '/srv/rocks') expect(runners).toContain('buildRockRepository')
      if (arg?.endsWith('xcpng_config.json')) expect(runners).toContain("'xcpng_config.json'")
    }
  })

  it('the first runs as written and ends with done', async () => {
    const r = await runShell(commands[0] as string, {
      cwd: view,
      env: sandbox.env(sandbox.home('usage')),
      timeoutMs: 90_000,
    })
    expect(r.failure, `${r.stdout}\n${r.stderr}`).toBeUndefined()
    expect(r.lines[0]?.stdout.trimEnd().split('\n').at(-1)).toBe('done')
  })

  it('the host line is the one its own README runs', () => {
    const command = (code: string) => code.replace(/#.*$/gm, '').trim()
    expect(command(hostLine.code)).toBe(command(hostRun.code))
  })

  it('runs every sh block of the page', () => {
    expect(examples.unverified()).toEqual([])
  })
})

describe('examples/playground/README.md', () => {
  it('the commands are the playground’s scripts: both build backend-wasm first; Vite’s port; dist/; COOP/COEP', async () => {
    const lines = pnpmFilterLines(playgroundCommands.code)
    expect(lines.map((l) => l.script)).toEqual(['dev', 'build', 'preview'])
    expect(new Set(lines.map((l) => l.pkg))).toEqual(new Set(['@bioxen-luavm/example-playground']))
    const scripts = JSON.parse(readFileSync(join(root, 'examples', 'playground', 'package.json'), 'utf8')).scripts
    // "Both scripts first build @bioxen-luavm/backend-wasm"
    for (const s of ['dev', 'build'])
      expect(scripts[s]).toMatch(/^pnpm --filter @bioxen-luavm\/backend-wasm build && vite/)
    const config = playgroundConfig as {
      server?: { port?: number; headers?: Record<string, string> }
      preview?: { headers?: Record<string, string> }
      build?: { outDir?: string }
    }
    expect(lines[0]?.comment).toBe('http://localhost:5173')
    expect(config.server?.port).toBeUndefined()
    expect(lines[1]?.comment).toBe('static files in examples/playground/dist/')
    expect(config.build?.outDir).toBe('dist')
    // "(the dev and preview servers do)"
    const isolation = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    }
    expect(config.server?.headers).toEqual(isolation)
    expect(config.preview?.headers).toEqual(isolation)
    expect(playground.text).toContain('`test/browser/playground.test.ts` builds this page with Vite')
    expect(readFileSync(join(root, 'test', 'browser', 'playground.test.ts'), 'utf8')).toContain('playground')
    expect(await bashSyntaxError(playgroundCommands.code, sandbox.dir)).toBe('')
    expect(playground.unverified()).toEqual([])
  })
})

/** bio_compute's block as Lua checks: each `a --> b` line compares all values of `a` with those of `b`. */
function luaChecks(block: string): { source: string; count: number } {
  let count = 0
  const body = block
    .split('\n')
    .filter((l) => l.trim())
    .map((line) => {
      const m = /^(.*?)\s+-->\s+(.*?)(?:\s+\([^)]*\))?$/.exec(line)
      if (!m) return line
      count++
      return `check(${JSON.stringify(line)}, pack(${m[1]}), pack(${m[2]}))`
    })
  const source = `local function pack(...) return { n = select("#", ...), ... } end
local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
local checked, failed = 0, 0
local function check(line, got, want)
  checked = checked + 1
  if not same(got, want) then failed = failed + 1 print("differs: " .. line) end
end
${body.join('\n')}
print(("%d checked, %d failed"):format(checked, failed))
`
  return { source, count }
}

describe('rocks/bio_compute/README.md', () => {
  const { source, count } = luaChecks(bioLua.code)

  it('every `-->` of the example holds on every native Lua here', async () => {
    expect(count).toBe(8)
    const home = sandbox.home('bio-compute')
    const file = join(home, 'readme.lua')
    writeFileSync(file, source)
    // "pure Lua (5.1–5.4, LuaJIT, …)"
    for (const lua of ['lua5.1', 'lua5.3', 'lua5.4', 'luajit']) {
      const r = await run(lua, [file], {
        cwd: home,
        env: sandbox.env(home, { LUA_PATH: `${join(root, 'rocks', 'bio_compute')}/?.lua;;` }),
      })
      expect(`${r.stdout}${r.stderr}`, lua).toBe(`${count} checked, 0 failed\n`)
    }
  })

  it('…and in the fengari and wasm sandboxes, with the module mounted', async () => {
    const home = sandbox.home('bio-compute-sandboxes')
    const module = readFileSync(join(root, 'rocks', 'bio_compute', 'bio_compute.lua'), 'utf8')
    const r = await runProgram(
      sandbox,
      'bio-compute-sandboxes',
      `import { createFengariVM, createWasmVM } from '@bioxen-luavm/backend-wasm'
const modules = { bio_compute: ${JSON.stringify(module)} }
for (const create of [createFengariVM, createWasmVM]) {
  await using vm = await create({ modules })
  const r = await vm.execute(${JSON.stringify(source)})
  console.log(vm.luaVersion, r.status, r.stdout)
}`,
      { cwd: home, env: sandbox.env(home) },
    )
    expect(r.stderr).toBe('')
    expect(r.logs.map((l) => l.args)).toEqual([
      ['Lua 5.3', 'ok', `${count} checked, 0 failed\n`],
      ['Lua 5.4', 'ok', `${count} checked, 0 failed\n`],
    ])
  })

  it('"Tests: lua5.4 spec/bio_compute_test.lua (from this folder)" passes', async () => {
    const line = /Tests: `(lua5\.4 spec\/bio_compute_test\.lua)` \(from this folder\)/.exec(bio.text)?.[1]
    expect(line).toBeDefined()
    const home = sandbox.home('bio-spec')
    const r = await runShell(line as string, { cwd: join(root, 'rocks', 'bio_compute'), env: sandbox.env(home) })
    expect(r.failure, r.stderr).toBeUndefined()
    expect(r.lines[0]?.stdout).toMatch(/^\d+ checks, 0 failed\n$/)
    expect(bio.unverified()).toEqual([])
  })
})
