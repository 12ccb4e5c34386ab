/**
 * docs/getting-started.md and docs/reliability.md, run.
 *
 * getting-started: the install block runs as written in a fresh directory —
 * `npm init` and `npm pkg` for real, `npm install` with the test npm that
 * links the built packages (tarballs.test.ts installs the real tarballs) —
 * and the page's ```js blocks, joined in order as the page says, run there
 * as demo.mjs and print what their comments say. The playground commands
 * (```sh dev) are checked against the playground's package and Vite config.
 *
 * reliability: the three long runs run as written, with small values for
 * the bracketed options, in a view of the repository (run-ts.mjs writes its
 * bundle next to itself); the bench/run.mjs line (```sh dev) rewrites
 * bench/RESULTS.md, so only what it names is checked.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import playgroundConfig from '../../examples/playground/vite.config.js'
import {
  bashSyntaxError,
  Doc,
  makeSandbox,
  npmInstalls,
  pnpmFilterLines,
  runProgram,
  runShell,
  type Sandbox,
  workspacePackages,
} from './docs-blocks.js'
import { packages, root } from './packages.js'

const start = new Doc('getting-started.md')
const installBlock = start.take('sh', 'npm install')
const demoBlocks = start.takeAll('js')
const playgroundBlock = start.take('sh dev', 'example-playground')

const reliability = new Doc('reliability.md')
const longRuns = reliability.take('sh', 'bench/reliability/load.ts')
const benchRun = reliability.take('sh dev', 'bench/run.mjs')

let sandbox: Sandbox
beforeAll(() => {
  sandbox = makeSandbox()
})
afterAll(() => sandbox?.cleanup())

describe('docs/getting-started.md', () => {
  it('1. Install: makes the project, installs the two packages the page names', async () => {
    const names = npmInstalls(installBlock.code)
    expect(names).toEqual([{ global: false, names: ['@bioxen-luavm/core', '@bioxen-luavm/backend-wasm'] }])
    // Section 6's installs name published packages too.
    const later = npmInstalls(start.text.slice(start.text.indexOf('## 6.')))
    expect(later).toEqual([
      { global: false, names: ['@bioxen-luavm/backend-process'] },
      { global: true, names: ['@bioxen-luavm/cli'] },
    ])
    // tarballs.test.ts packs and npm-installs `packages`: every package of packages/ that is not private.
    const published = packages.map((p) => p.name) as string[]
    const workspace = [...workspacePackages()].filter(
      ([, p]) => p.folder.startsWith('packages/') && !p.manifest.private,
    )
    expect(workspace.map(([name]) => name).sort()).toEqual([...published].sort())
    for (const { names: n } of [...names, ...later]) for (const name of n) expect(published, name).toContain(name)
  })

  it('2–5. demo.mjs, built from the ```js blocks in the directory the install made, prints what the comments say', async () => {
    const home = sandbox.home('getting-started')
    const env = sandbox.env(home)
    const installed = await runShell(installBlock.code, { cwd: home, env })
    expect(installed.failure, `${installed.stdout}\n${installed.stderr}`).toBeUndefined()
    const project = join(home, 'lua-demo')
    const manifest = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'))
    expect(manifest.type).toBe('module')
    expect(Object.keys(manifest.dependencies)).toEqual(['@bioxen-luavm/core', '@bioxen-luavm/backend-wasm'])

    expect(demoBlocks.length).toBeGreaterThanOrEqual(4)
    expect(demoBlocks[0]?.code).toMatch(/^\/\/ demo\.mjs\n/)
    // "The snippets below continue this file"
    const r = await runProgram(sandbox, 'demo', demoBlocks.map((b) => b.code).join('\n'), {
      cwd: project,
      env,
      dir: project,
    })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(existsSync(join(project, 'demo.mjs'))).toBe(true)
    expect(r.logs.map((l) => l.args)).toEqual([
      ['GC content: 50%\n5\t10\n'],
      [[5, 10]],
      ['ok'],
      ['timeout'],
      ['memory'],
      ['xxxxxxxxxx', true],
      ['42\n'],
      ['incomplete'],
      ['42\n'],
      [['workers_000', 'workers_001', 'workers_002']],
    ])
    // The comments say the same, in order (the JS literals of each `// …` after a console.log).
    const claims = demoBlocks
      .flatMap((b) => b.code.split('\n'))
      .filter((l) => l.startsWith('console.log') || l.startsWith('//          '))
      .map((l) => /\/\/\s+(.*)$/.exec(l)?.[1] ?? '')
    expect(claims.filter(Boolean).map((c) => c.split(/ +[—(]| {2}/)[0])).toEqual([
      '"GC content: 50%\\n5\\t10\\n"',
      '[5, 10]',
      '"ok"',
      '"timeout"',
      '"memory"',
      '"xxxxxxxxxx" true',
      '"42\\n"',
      '"incomplete"',
      '"42\\n"',
      "[ 'workers_000', 'workers_001', 'workers_002' ]",
    ])
  })

  it('7. Playground: the commands are the playground package’s scripts, on Vite’s defaults', async () => {
    const lines = pnpmFilterLines(playgroundBlock.code)
    expect(lines.map((l) => `${l.pkg} ${l.script}`)).toEqual([
      '@bioxen-luavm/example-playground dev',
      '@bioxen-luavm/example-playground build',
    ])
    const config = playgroundConfig as { server?: { port?: number }; build?: { outDir?: string } }
    // "dev server on http://localhost:5173": Vite's default port, not overridden.
    expect(lines[0]?.comment).toBe('dev server on http://localhost:5173')
    expect(config.server?.port).toBeUndefined()
    // "static files in examples/playground/dist/"
    expect(lines[1]?.comment).toBe('static files in examples/playground/dist/')
    expect(config.build?.outDir).toBe('dist')
    expect(await bashSyntaxError(playgroundBlock.code, sandbox.dir)).toBe('')
  })

  it('runs every js and sh block of the page', () => {
    expect(start.unverified()).toEqual([])
  })
})

/** Small values for the bracketed options, per script: a short run of each. */
const SHORT: Record<string, Record<string, number>> = {
  load: { executions: 300, concurrency: 16, seed: 7 },
  fuzz: { programs: 40, seed: 7, show: 3 },
  soak: { seconds: 2, every: 1, concurrency: 4 },
}

describe('docs/reliability.md', () => {
  it('the long runs run, with small values for their options, and print what the comments say', async () => {
    const view = sandbox.checkout()
    const scripts: string[] = []
    const code = longRuns.code.replace(
      /^(node --expose-gc scripts\/run-ts\.mjs bench\/reliability\/(\w+)\.ts)((?: \[--\w+ \w+\])*)$/gm,
      (_line, command: string, script: string, options: string) => {
        scripts.push(script)
        const source = readFileSync(join(root, 'bench', 'reliability', `${script}.ts`), 'utf8')
        const args = [...options.matchAll(/\[--(\w+) (\w+)\]/g)].map(([, flag]) => {
          // The option is one the script reads, and this test gives it a small value.
          expect(source, `${script}.ts reads --${flag}`).toMatch(new RegExp(`(?:numberArg|arg)\\('${flag}'`))
          const value = SHORT[script]?.[flag as string]
          if (value === undefined) throw new Error(`no short value for ${script} --${flag}`)
          return `--${flag} ${value}`
        })
        return [command, ...args].join(' ')
      },
    )
    expect(scripts).toEqual(['load', 'fuzz', 'soak'])
    const home = sandbox.home('reliability')
    const r = await runShell(code, { cwd: view, env: sandbox.env(home), timeoutMs: 120_000 })
    expect(r.failure, `${r.stdout}\n${r.stderr}`).toBeUndefined()
    const [load, fuzz, soak] = r.lines.map((l) => l.stdout)

    // load: "prints p50/p99, exits 1 on any lost/duplicated/misattributed result"
    expect(load).toMatch(/^300 executions at concurrency 16 in /m)
    expect(load).toMatch(/^ {2}all +p50 [\d.]+ ms .* p99 [\d.]+ ms/m)
    expect(load).toMatch(/^ {2}lost 0, duplicated 0, wrong 0$/m)
    expect(readFileSync(join(root, 'bench', 'reliability', 'load.ts'), 'utf8')).toMatch(
      /process\.exitCode = report\.problems\.length \|\| report\.lost\.length \|\| report\.duplicated\.length \? 1 : 0/,
    )
    // fuzz: "prints every process/wasm disagreement and fengari's by category"
    expect(fuzz).toMatch(/^fuzz: 40 programs, seed 7$/m)
    expect(fuzz).toMatch(/^process vs wasm disagreements: \d+$/m)
    expect(fuzz).toMatch(/^fengari differences by category \{/m)
    // soak: "RSS/heap/latency every --every seconds, drift first → last window"
    expect(soak).toMatch(/^seed \d+, concurrency 4\n\d+ executions in 2 s, /m)
    const samples = (soak ?? '')
      .split('\n')
      .filter((l) => /^ +\d+ s +rss +[\d.]+ MiB +heap +[\d.]+ MiB .* p50 .* p99 /.test(l))
    expect(samples.length).toBeGreaterThanOrEqual(3)
    expect(soak).toMatch(/^drift \(first window → last\): rss [+-][\d.]+ MiB, heap [+-][\d.]+ MiB, p50 .*, p99 /m)
    expect(soak).toMatch(/^after shutdown: 0 Lua processes left$/m)
    // Nothing was written into the repository: run-ts.mjs bundled into the view's .tmp/ and removed it.
    expect(existsSync(join(view, '.tmp', 'run-ts'))).toBe(true)
  })

  it('the defaults the page states are the scripts’ defaults', () => {
    const defaults = (script: string) =>
      Object.fromEntries(
        [
          ...readFileSync(join(root, 'bench', 'reliability', `${script}.ts`), 'utf8').matchAll(
            /(?:numberArg|arg)\('(\w+)', ([\d_]+)\)/g,
          ),
        ].map((m) => [m[1], Number((m[2] as string).replaceAll('_', ''))]),
      )
    const text = reliability.text.replace(/\s+/g, ' ')
    const stated =
      /\(load: (\d+) executions at concurrency (\d+); fuzz: (\d+) programs, showing (\d+) per category; soak: (\d+) s, a sample every (\d+) s, concurrency (\d+)\)/.exec(
        text,
      )
    expect(stated).not.toBeNull()
    const [, executions, concurrency, programs, show, seconds, every, soakConcurrency] = (stated as string[]).map(
      Number,
    )
    expect(defaults('load')).toEqual({ executions, concurrency })
    expect(defaults('fuzz')).toEqual({ programs, show })
    expect(defaults('soak')).toEqual({ seconds, every, concurrency: soakConcurrency })
  })

  it('bench/run.mjs knows the two benchmarks; the soak there is 60 s and the report goes to bench/RESULTS.md', async () => {
    const names = /^node bench\/run\.mjs ((?:[\w-]+ ?)+)$/m.exec(benchRun.code)?.[1]?.trim().split(' ')
    expect(names).toEqual(['reliability-load', 'reliability-soak'])
    const runner = readFileSync(join(root, 'bench', 'run.mjs'), 'utf8')
    for (const name of names ?? []) expect(runner).toContain(`name: '${name}'`)
    expect(runner).toMatch(
      /name: 'reliability-soak',\s+file: 'bench\/reliability\/soak\.ts',\s+args: \['--seconds', '60'\]/,
    )
    expect(runner).toContain("const resultsPath = join(root, 'bench', 'RESULTS.md')")
    expect(runner).toMatch(/else writeFileSync\(resultsPath, /)
    expect(await bashSyntaxError(benchRun.code, sandbox.dir)).toBe('')
  })

  it('runs every sh block of the page', () => {
    expect(reliability.unverified()).toEqual([])
  })
})
