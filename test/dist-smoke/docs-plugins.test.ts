/**
 * The plugin pages, run: docs/plugins.md (the guide), docs/architecture.md
 * (its summary of the same) and examples/plugin-http-runner/README.md (the
 * real plugin package).
 *
 * The plugin is built with its own tsup config and "installed" into a
 * sandbox the way npm would unpack it; its README's server block starts the
 * runners every other block talks to. The guide's three files become a
 * package of their own, the architecture page's two blocks another (its
 * `./impl.js` is the guide's), the README's descriptor a third; core's
 * conformance kit runs on all three in one child vitest, with the URL of a
 * real runner in place of the pages' `http://127.0.0.1:8080|8787`.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { httpRunnerBackend, httpRunnerConfigSchema } from '../../examples/plugin-http-runner/src/index.js'
import tsupConfig from '../../examples/plugin-http-runner/tsup.config.js'
import { runTsup } from '../harness/tsup.js'
import {
  bashSyntaxError,
  Doc,
  makeSandbox,
  npmInstalls,
  type RunningProgram,
  run,
  runProgram,
  runShell,
  type Sandbox,
  startProgram,
  substitute,
  typecheck,
  workspacePackages,
} from './docs-blocks.js'
import { packages, root } from './packages.js'

const guide = new Doc('plugins.md')
const guideIndex = guide.take('ts', '// src/index.ts')
const guideImpl = guide.take('ts', '// src/impl.ts')
const guideTest = guide.take('ts', '// test/conformance.test.ts')

const arch = new Doc('architecture.md')
const archGraph = arch.take('mermaid', 'graph TD')
const archDiagram = arch.take('text', 'BackendRegistry')
const archIndex = arch.take('ts', '// src/index.ts')
const archTest = arch.take('ts', '// test/conformance.test.ts')

const readme = Doc.at('examples/plugin-http-runner/README.md')
const installBlock = readme.take('sh', 'npm install')
const serverBlock = readme.take('ts', 'startHttpRunnerServer(')
const hostBlock = readme.take('ts', "registry.create('http-runner'")
const cliBlock = readme.take('sh', 'bioxen-luavm --plugin')
const descriptorBlock = readme.take('ts', '// src/index.ts')
const readmeTest = readme.take('ts', '// test/conformance.test.ts')
const devBlock = readme.take('sh dev', 'pnpm build')

const PLUGIN = 'bioxen-luavm-backend-http-runner'

/**
 * The architecture page's `./impl.js`: it leaves MyVM to the plugin guide,
 * so this is the guide's, handed the (untyped) config its descriptor gets.
 */
const ARCH_IMPL = `import type { VMInit } from '@bioxen-luavm/core'
import { createVM as guideVM } from '../../guide/src/impl.js'
import type { MyConfig } from '../../guide/src/index.js'

export const createVM = (init: VMInit) => guideVM(init as unknown as VMInit<MyConfig>)
`
const pluginDir = join(root, 'examples', 'plugin-http-runner')
const TOKEN = 'docs-token-5d1c'

let sandbox: Sandbox
let home: string
/** The plugin as npm would unpack it. */
let installed: string
let build: { code: number | null; output: string }
/** The README's server block, with a token; and without one, for each of the pages' conformance runs. */
let runner: RunningProgram
let runnerUrl = ''
const OPEN = ['guide', 'arch', 'readme-plugin'] as const
const openRunners: RunningProgram[] = []
const openUrl: Record<(typeof OPEN)[number], string> = { guide: '', arch: '', 'readme-plugin': '' }

/** tsup's command line for the plugin's own tsup.config.ts (no config file: nothing is written next to it). */
function tsupArgs(outDir: string): string[] {
  const config = tsupConfig as Record<string, unknown>
  const args: string[] = ['--no-config', ...(config.entry as string[])]
  for (const [key, value] of Object.entries(config)) {
    if (key === 'entry') continue
    else if (key === 'format') args.push('--format', (value as string[]).join(','))
    else if (key === 'target' || key === 'platform') args.push(`--${key}`, String(value))
    else if (key === 'dts' || key === 'sourcemap' || key === 'clean') {
      if (value === true) args.push(`--${key}`)
    } else if (key === 'splitting') {
      if (value !== true) args.push('--no-splitting')
    } else throw new Error(`tsup.config.ts has ${key}, which this test does not pass on`)
  }
  return [...args, '--out-dir', outDir]
}

/** Runs the plugin's build (tsup, the repository's) in its folder, writing to `outDir`. */
const tsup = (outDir: string) => runTsup(pluginDir, tsupArgs(outDir))

/** The README's server block, kept running until `finish()`, which then runs its "later" line. */
function startRunner(name: string, env: Record<string, string>): RunningProgram {
  const code = substitute(serverBlock.code, {
    'port: 8787': 'port: 0',
    '// later: await server.close()':
      'await new Promise((resolve) => process.stdin.on("end", resolve).resume())\nawait server.close()',
  })
  return startProgram(sandbox, name, code, { cwd: home, env: sandbox.env(home, env) })
}

const runnerLine = (runningProgram: RunningProgram) =>
  runningProgram.waitForLog((c) => /^runner on /.test(String(c.args[0])))

beforeAll(async () => {
  sandbox = makeSandbox()
  home = sandbox.home('home')
  installed = join(sandbox.dir, 'node_modules', PLUGIN)
  mkdirSync(installed)
  build = await tsup(join(installed, 'dist'))
  // What npm unpacks: package.json and the `files` of the manifest.
  const manifest = JSON.parse(readFileSync(join(pluginDir, 'package.json'), 'utf8'))
  writeFileSync(join(installed, 'package.json'), JSON.stringify(manifest, null, 2))
  expect(manifest.files).toEqual(['dist', 'README.md'])
  cpSync(join(pluginDir, 'README.md'), join(installed, 'README.md'))
  if (build.code !== 0) return
  runner = startRunner('runner', { RUNNER_TOKEN: TOKEN })
  for (const name of OPEN) openRunners.push(startRunner(`runner-${name}`, {}))
  runnerUrl = String((await runnerLine(runner)).args[0]).replace('runner on ', '')
  for (const [i, name] of OPEN.entries()) {
    openUrl[name] = String((await runnerLine(openRunners[i] as RunningProgram)).args[0]).replace('runner on ', '')
  }
}, 120_000)

afterAll(async () => {
  await Promise.all([runner, ...openRunners].map((r) => r?.finish()))
  sandbox?.cleanup()
})

describe('examples/plugin-http-runner/README.md', () => {
  it('the tsup build makes ESM, CJS and declarations for both entries (`pnpm build`)', () => {
    expect(build.code, build.output).toBe(0)
    const files = readdirSync(join(installed, 'dist'))
    for (const f of ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts', 'server.js', 'server.cjs', 'server.d.ts']) {
      expect(files, f).toContain(f)
    }
  })

  it('the install lines name the published core packages and this package', () => {
    const installs = npmInstalls(installBlock.code)
    expect(installs.map((i) => i.names)).toEqual([['@bioxen-luavm/core', PLUGIN], ['@bioxen-luavm/backend-wasm']])
    const workspace = workspacePackages()
    const published = packages.map((p) => p.name) as string[]
    for (const name of ['@bioxen-luavm/core', '@bioxen-luavm/backend-wasm']) {
      expect(workspace.get(name)?.manifest.private, name).toBeUndefined()
      // The tarball test packs and npm-installs every published package.
      expect(published, name).toContain(name)
    }
    // This package: the example's folder, private in the monorepo as the page says.
    expect(workspace.get(PLUGIN)?.folder).toBe('examples/plugin-http-runner')
    expect(workspace.get(PLUGIN)?.manifest.private).toBe(true)
    expect(readme.text).toMatch(/"private": true`; remove that in your own plugin/)
    // "only where the runner runs": the backend entry does not load it, the server entry does.
    const manifest = workspace.get(PLUGIN)?.manifest as unknown as Record<string, Record<string, unknown>>
    expect(manifest.peerDependenciesMeta?.['@bioxen-luavm/backend-wasm']).toEqual({ optional: true })
    for (const f of readdirSync(join(installed, 'dist')).filter((n) => /\.c?js$/.test(n))) {
      const text = readFileSync(join(installed, 'dist', f), 'utf8')
      expect(text.includes('@bioxen-luavm/backend-wasm'), f).toBe(f.startsWith('server.'))
    }
  })

  it('the runner block starts a runner on 127.0.0.1 and prints its URL', () => {
    // "// http://127.0.0.1:8787", with the port the OS chose in place of 8787.
    const documented = /\/\/ (http:\/\/127\.0\.0\.1:)8787\n/.exec(serverBlock.code)?.[1]
    expect(documented).toBe('http://127.0.0.1:')
    for (const url of [runnerUrl, ...Object.values(openUrl)]) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  })

  it('the host block runs Lua on the runner: r.stdout "42\\n", r.values [42]', async () => {
    const code = `${substitute(hostBlock.code, { 'http://127.0.0.1:8787': runnerUrl })}console.log(r.stdout, r.values)\n`
    const r = await runProgram(sandbox, 'host', code, {
      cwd: home,
      env: sandbox.env(home, { RUNNER_TOKEN: TOKEN }),
    })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const claim = /\/\/ r\.stdout ("[^"]*"), r\.values (\[.*\])\n/.exec(hostBlock.code)
    expect(r.logs.map((l) => l.args)).toEqual([[JSON.parse(claim?.[1] as string), JSON.parse(claim?.[2] as string)]])
  })

  it('the CLI block loads the plugin by package name and by path', async () => {
    const code = substitute(cliBlock.code, {
      'http://127.0.0.1:8787': runnerUrl,
      'HTTP_RUNNER_TOKEN=…': `HTTP_RUNNER_TOKEN=${TOKEN}`,
    })
    // --plugin takes "a package name resolved from the current directory": the sandbox, where it is installed.
    const r = await runShell(code, { cwd: sandbox.dir, env: sandbox.env(home) })
    expect(r.lines.map((l) => l.command.split(' ')[0])).toEqual(['export', 'export', 'bioxen-luavm', 'bioxen-luavm'])
    expect(r.failure, `${r.stdout}\n${r.stderr}`).toBeUndefined()
    expect(r.lines[2]).toMatchObject({ stdout: '1\n', stderr: '' })
    expect(r.lines[3]?.stdout).toMatch(/^http-runner +yes +/m)
  })

  it('the abridged descriptor is the real one: same type, capabilities and config keys', async () => {
    const r = await runProgram(
      sandbox,
      'descriptor',
      `${descriptorBlock.code.replace("import('./http-vm.js')", 'Promise.resolve({ createVM() {} })')}
console.log(JSON.stringify({ ...httpRunnerBackend, detect: await httpRunnerBackend.detect() }))`,
      { cwd: home, env: sandbox.env(home) },
    )
    expect(r.stderr).toBe('')
    const abridged = JSON.parse(String(r.logs[0]?.args[0]))
    expect(abridged.type).toBe(httpRunnerBackend.type)
    expect(abridged.description).toBe(httpRunnerBackend.description)
    expect(abridged.capabilities).toEqual({ ...httpRunnerBackend.capabilities })
    expect(abridged.detect.available).toBe((await httpRunnerBackend.detect()).available)
    const fields = (schema: Record<string, Record<string, unknown>>) =>
      Object.fromEntries(Object.entries(schema).map(([key, { description: _d, pattern: _p, ...rest }]) => [key, rest]))
    expect(fields(abridged.configSchema)).toEqual(
      fields(JSON.parse(JSON.stringify(httpRunnerConfigSchema)) as Record<string, Record<string, unknown>>),
    )
    // The configuration table says the same.
    const rows = readme.text
      .split('\n')
      .filter((l) => /^\| `[a-zA-Z]+` \|/.test(l))
      .map((l) => l.split('|').map((c) => c.trim()))
    expect(rows.map((c) => c[1]?.replaceAll('`', ''))).toEqual(Object.keys(httpRunnerConfigSchema))
    for (const [, key, defaults] of rows) {
      const field = httpRunnerConfigSchema[(key as string).replaceAll('`', '')]
      if (field?.required) expect(defaults).toMatch(/required/)
      else if (field?.default === undefined) expect(defaults).toBe('none')
      else expect(Number(defaults)).toBe(field.default)
    }
  })

  it('`pnpm test` and `pnpm build` are the package scripts the page says', async () => {
    const scripts = workspacePackages().get(PLUGIN)?.manifest.scripts
    expect(devBlock.code).toMatch(/^pnpm test +# in this folder: vitest run/m)
    expect(devBlock.code).toMatch(/^pnpm build +# tsup: dist\/ with ESM, CJS and \.d\.ts for both entries/m)
    expect(scripts?.test).toBe('vitest run')
    expect(scripts?.build).toBe('tsup')
    expect(await bashSyntaxError(devBlock.code, home)).toBe('')
  })
})

describe('docs/architecture.md', () => {
  it('the package graph is the packages’ dependencies', () => {
    const ids: Record<string, string> = {}
    for (const m of archGraph.code.matchAll(/(\w+)\["(@bioxen-luavm\/[\w-]+|your-backend)/g)) {
      ids[m[1] as string] = m[2] as string
    }
    const edges = [...archGraph.code.matchAll(/^\s*(\w+)(?:\[[^\]]*\])? --> (\w+)/gm)]
      .map((m) => `${ids[m[1] as string]} -> ${ids[m[2] as string]}`)
      .filter((e) => !e.startsWith('your-backend'))
      .sort()
    const real: string[] = []
    for (const [name, { folder, manifest }] of workspacePackages()) {
      if (!folder.startsWith('packages/')) continue
      const deps = (manifest as unknown as { dependencies?: Record<string, string> }).dependencies ?? {}
      for (const dep of Object.keys(deps).filter((d) => d.startsWith('@bioxen-luavm/'))) real.push(`${name} -> ${dep}`)
    }
    expect(edges).toEqual(real.sort())
    expect(
      Object.values(ids)
        .filter((n) => n.startsWith('@'))
        .sort(),
    ).toEqual(packages.map((p) => p.name).sort())
  })

  it('the runtime diagram names real files and exports', async () => {
    for (const f of ['runtime.lua', 'driver.lua']) {
      expect(archDiagram.code).toContain(f)
      expect(readdirSync(join(root, 'packages', 'core', 'lua'))).toContain(f)
    }
    const core = await import('@bioxen-luavm/core')
    for (const name of ['BackendRegistry', 'BaseLuaVM', 'VMManager']) {
      expect(archDiagram.code).toContain(name)
      expect(core, name).toHaveProperty(name)
    }
  })

  it('"Where to find things" points at files that exist', () => {
    const rows = arch.text.slice(arch.text.indexOf('## Where to find things')).split('\n')
    const paths = rows.flatMap((l) => [...l.matchAll(/\| `(packages\/[^`]+)` \|/g)].map((m) => m[1] as string))
    expect(paths.length).toBeGreaterThanOrEqual(8)
    for (const p of paths) expect(readdirSync(join(root, p, p.endsWith('/') ? '' : '..')).length, p).toBeGreaterThan(0)
    for (const p of paths.filter((x) => !x.endsWith('/'))) {
      expect(readdirSync(join(root, p, '..')), p).toContain(p.split('/').at(-1))
    }
  })

  it('its descriptor is the plugin guide’s, without the config schema', async () => {
    const load = (code: string, name: string) =>
      runProgram(
        sandbox,
        name,
        `${code.replace("import('./impl.js')", 'Promise.resolve({})')}
const { configSchema, ...rest } = myBackend
console.log(JSON.stringify({ ...rest, detect: await myBackend.detect(), hasSchema: configSchema !== undefined }))`,
        { cwd: home, env: sandbox.env(home) },
      )
    const [a, g] = await Promise.all([
      load(archIndex.code, 'arch-descriptor'),
      load(guideIndex.code, 'guide-descriptor'),
    ])
    expect(a.stderr + g.stderr).toBe('')
    const archValue = JSON.parse(String(a.logs[0]?.args[0]))
    const guideValue = JSON.parse(String(g.logs[0]?.args[0]))
    expect(archValue).toEqual({ ...guideValue, hasSchema: false })
    expect(guideValue.hasSchema).toBe(true)
  })
})

describe('the conformance kit on the pages’ backends', () => {
  let report: {
    testResults: Array<{
      name: string
      assertionResults: Array<{ title: string; status: string; failureMessages: string[] }>
    }>
  }
  let kitRun: { code: number | null; stdout: string; stderr: string }

  beforeAll(async () => {
    expect(Object.values(openUrl)).not.toContain('')
    const dir = sandbox.dir
    const write = (file: string, text: string) => {
      mkdirSync(join(dir, file, '..'), { recursive: true })
      writeFileSync(join(dir, file), text)
    }
    // The guide's package: its three files as the page names them.
    write('guide/src/index.ts', guideIndex.code)
    write('guide/src/impl.ts', guideImpl.code)
    write('guide/test/conformance.test.ts', substitute(guideTest.code, { 'http://127.0.0.1:8080': openUrl.guide }))
    // The architecture page's: its MyVM is the guide's.
    write('arch/src/index.ts', archIndex.code)
    write('arch/src/impl.ts', ARCH_IMPL)
    write('arch/test/conformance.test.ts', substitute(archTest.code, { 'http://127.0.0.1:8080': openUrl.arch }))
    // The README's descriptor next to the real implementation it loads.
    cpSync(join(pluginDir, 'src'), join(dir, 'readme-plugin', 'src'), { recursive: true })
    write('readme-plugin/src/readme-index.ts', descriptorBlock.code)
    write(
      'readme-plugin/test/conformance.test.ts',
      substitute(readmeTest.code, {
        'http://127.0.0.1:8787': openUrl['readme-plugin'],
        "'../src/index.js'": "'../src/readme-index.js'",
      }),
    )
    write(
      'vitest.config.mjs',
      `export default { test: { include: ['{guide,arch,readme-plugin}/test/*.test.ts'], testTimeout: 60000 } }\n`,
    )
    kitRun = await run(
      process.execPath,
      [
        join(root, 'node_modules', 'vitest', 'vitest.mjs'),
        'run',
        '--config',
        'vitest.config.mjs',
        '--reporter=json',
        '--outputFile=kit.json',
      ],
      { cwd: dir, env: sandbox.env(home), timeoutMs: 180_000 },
    )
    report = JSON.parse(readFileSync(join(dir, 'kit.json'), 'utf8'))
  }, 200_000)

  const results = (folder: string) => {
    const file = report.testResults.find((f) => f.name.includes(`/${folder}/test/`))
    expect(file, folder).toBeDefined()
    return file?.assertionResults ?? []
  }
  const failures = (folder: string) =>
    results(folder)
      .filter((t) => t.status === 'failed')
      .map((t) => `${t.title}: ${t.failureMessages.join('\n')}`)

  it('docs/plugins.md: my-runner passes 18 checks and 4 absence checks, skips none', () => {
    expect(failures('guide'), kitRun.stderr).toEqual([])
    const all = results('guide')
    const claim =
      /passes\s+its (\d+) checks and (\d+) absence checks \(state, sessions, memory and packages\);\s+nothing is\s+skipped/.exec(
        guide.text,
      )
    expect(all.map((t) => t.status)).toEqual(Array(Number(claim?.[1]) + Number(claim?.[2])).fill('passed'))
    expect(all.filter((t) => t.title.startsWith('without ')).map((t) => t.title)).toEqual([
      "without 'persistentState': executions do not share globals",
      "without 'sessions': openSession rejects with BackendUnavailableError",
      "without 'memoryLimit': a memory cap is refused with ConfigError, not ignored",
      "without 'packages': installPackage rejects with PackageError",
    ])
    // "The kit's 24 checks": conformanceChecks, absence checks apart.
    const kitChecks = results('readme-plugin').filter((t) => !t.title.startsWith('without '))
    expect(guide.text).toContain(`The kit's ${kitChecks.length} checks`)
  })

  it('docs/architecture.md: the same backend passes the same checks', () => {
    expect(failures('arch')).toEqual([])
    const status = (folder: string) => results(folder).map((t) => `${t.title} ${t.status}`)
    expect(status('arch')).toEqual(status('guide'))
  })

  it('the README’s descriptor with the real VM: all 24 checks and the packages absence check, none skipped', () => {
    expect(failures('readme-plugin')).toEqual([])
    const all = results('readme-plugin')
    expect(all.map((t) => t.status)).toEqual(Array(25).fill('passed'))
    expect(all.at(-1)?.title).toBe("without 'packages': installPackage rejects with PackageError")
    expect(readme.text).toContain('all 24 checks and the absence check for `packages`, none skipped')
    expect(kitRun.code, kitRun.stderr).toBe(0)
  })
})

describe('docs/plugins.md', () => {
  it('hosts register it; the registry validates its config; the CLI loads it by package name', async () => {
    // The guide's package, compiled and installed as `my-backend-package` (ESM, like a tsup build).
    const pkg = join(sandbox.dir, 'node_modules', 'my-backend-package')
    mkdirSync(join(pkg, 'dist'), { recursive: true })
    writeFileSync(
      join(pkg, 'package.json'),
      JSON.stringify({ name: 'my-backend-package', type: 'module', exports: './dist/index.js' }),
    )
    const { transformSync } = await import('esbuild')
    for (const [name, block] of [
      ['index', guideIndex],
      ['impl', guideImpl],
    ] as const) {
      writeFileSync(join(pkg, 'dist', `${name}.js`), transformSync(block.code, { loader: 'ts', format: 'esm' }).code)
    }
    // "Hosts: registry.register(myBackend) then registry.create('my-runner', id, config)"
    const host = await runProgram(
      sandbox,
      'guide-host',
      `import { BackendRegistry } from '@bioxen-luavm/core'
import { myBackend } from 'my-backend-package'
const registry = new BackendRegistry().register(myBackend)
await using vm = await registry.create('my-runner', 'vm-1', { url: ${JSON.stringify(openUrl.guide)} })
console.log((await vm.execute('return 6 * 7')).values)
console.log(await registry.create('my-runner', 'vm-2', {}).catch((e) => e))`,
      { cwd: home, env: sandbox.env(home) },
    )
    expect(host.stderr).toBe('')
    expect(host.logs.map((l) => l.args[0])).toEqual([
      [42],
      expect.objectContaining({ _tag: 'ConfigError', message: expect.stringMatching(/url/) }),
    ])
    // "The CLI: bioxen-luavm --plugin my-backend-package run --backend my-runner -e 'print(1)'"
    const line = /`(bioxen-luavm --plugin my-backend-package [^`]+)`/.exec(guide.text)?.[1] as string
    const cli = await runShell(line, {
      cwd: sandbox.dir,
      env: sandbox.env(home, { LUAVM_MY_RUNNER_URL: openUrl.guide }),
    })
    expect(cli.failure, cli.stderr).toBeUndefined()
    expect(cli.lines[0]).toMatchObject({ stdout: '1\n', stderr: '' })
  })
})

describe('the pages’ TypeScript', () => {
  it('type-checks against the published declarations', () => {
    const dir = join(sandbox.dir, 'typecheck')
    cpSync(join(pluginDir, 'src'), join(dir, 'readme-plugin', 'src'), { recursive: true })
    expect(
      typecheck(sandbox, {
        'guide/src/index': guideIndex.code,
        'guide/src/impl': guideImpl.code,
        'guide/test/conformance.test': guideTest.code,
        'arch/src/index': archIndex.code,
        'arch/src/impl': ARCH_IMPL,
        'arch/test/conformance.test': archTest.code,
        'readme-plugin/src/readme-index': descriptorBlock.code,
        'readme-plugin/test/conformance.test': readmeTest.code.replace("'../src/index.js'", "'../src/readme-index.js'"),
        'readme/server': serverBlock.code,
        'readme/host': hostBlock.code,
      }),
    ).toBe('')
  })

  it('every ts, sh and json block of the three pages is run', () => {
    expect([...guide.unverified(), ...arch.unverified(), ...readme.unverified()]).toEqual([])
  })
})

describe('the runners', () => {
  it('close with the README\'s "later: await server.close()" and exit cleanly', async () => {
    const ends = await Promise.all([runner, ...openRunners].map((r) => r.finish()))
    for (const end of ends) expect(end).toMatchObject({ code: 0, stderr: '' })
  })
})
