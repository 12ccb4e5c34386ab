/**
 * The third-party plugin example (examples/plugin-http-runner): its own
 * suite (core's conformance kit against its runner, plus its typed errors),
 * a tsup build to ESM + CJS + declarations whose backend part never loads
 * the wasm backend, and the CLI loading it with `--plugin` — from its
 * source entry and from the built dist — to run `print(1)` on the runner.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { runCliInMemory } from '@bioxen-luavm/cli'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type HttpRunnerServer, startHttpRunnerServer } from '../../examples/plugin-http-runner/src/server.js'
import { describeHttpRunner } from '../../examples/plugin-http-runner/test/suite.js'
import { runTsup } from '../harness/tsup.js'
import { repoRoot } from './helpers.js'

const pluginDir = join(repoRoot, 'examples', 'plugin-http-runner')
const TOKEN = 'cli-token-81f0'

// The runners (wasm VMs in this process) are closed by the suites' own afterAll hooks first.

describe('plugin-http-runner: its own suite', () => {
  describeHttpRunner()
})

/** Runs the CLI in-process with only the given environment. */
function cli(argv: string[], env: Record<string, string>) {
  // No config file or backend choice inherited from the machine running the tests.
  return runCliInMemory(argv, { env: { XDG_CONFIG_HOME: '/nonexistent-luavm-test', ...env } })
}

/** Runs tsup (the repository's) in the plugin's folder, writing to `outDir`. */
const tsup = (outDir: string) => runTsup(pluginDir, ['--out-dir', outDir])

describe('plugin-http-runner: the CLI loads it with --plugin', () => {
  let runner: HttpRunnerServer | undefined
  let buildDir: string | undefined
  let built: { code: number | null; output: string } | undefined
  const env = () => ({ LUAVM_HTTP_RUNNER_URL: runner!.url, HTTP_RUNNER_TOKEN: TOKEN })

  beforeAll(async () => {
    runner = await startHttpRunnerServer({ token: TOKEN })
    // Inside the package (git-ignored .tmp/), so the build's own imports of
    // @bioxen-luavm/core resolve through the package's node_modules.
    mkdirSync(join(pluginDir, '.tmp'), { recursive: true })
    buildDir = mkdtempSync(join(pluginDir, '.tmp', 'build-'))
    built = await tsup(buildDir)
  }, 120_000)

  afterAll(async () => {
    await runner?.close()
    if (buildDir) rmSync(buildDir, { recursive: true, force: true })
    // Remove .tmp itself when this test created nothing else there.
    const tmp = join(pluginDir, '.tmp')
    if (readdirSync(tmp).length === 0) rmSync(tmp, { recursive: true, force: true })
  })

  it('from the source entry: run --backend http-runner -e print(1) prints "1\\n"', async () => {
    const r = await cli(
      ['--plugin', join(pluginDir, 'src', 'index.ts'), 'run', '--backend', 'http-runner', '-e', 'print(1)'],
      env(),
    )
    expect(r, r.stderr).toMatchObject({ code: 0, stdout: '1\n', stderr: '' })
    expect(runner!.sessions, 'the CLI stopped its VM, freeing the remote session').toBe(0)
  })

  it('a Lua error exits 1 with the message; a missing token exits 2 (configuration)', async () => {
    const plugin = join(pluginDir, 'src', 'index.ts')
    const failed = await cli(
      ['--plugin', plugin, 'run', '--backend', 'http-runner', '-e', 'error("remote boom")'],
      env(),
    )
    expect(failed.code).toBe(1)
    expect(failed.stderr).toContain('remote boom')
    const refused = await cli(['--plugin', plugin, 'run', '--backend', 'http-runner', '-e', 'print(1)'], {
      LUAVM_HTTP_RUNNER_URL: runner!.url,
    })
    expect(refused.code, refused.stderr).toBe(2)
    expect(refused.stderr).toContain('it needs a token')
  })

  it('builds with tsup to ESM + CJS + declarations; only the server entry imports the wasm backend', async () => {
    expect(built?.code, built?.output).toBe(0)
    const files = readdirSync(buildDir!)
    for (const f of ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts', 'server.js', 'server.cjs', 'server.d.ts']) {
      expect(files, f).toContain(f)
    }
    for (const f of files.filter((name) => /\.c?js$/.test(name))) {
      const text = readFileSync(join(buildDir!, f), 'utf8')
      const importsWasm = text.includes('@bioxen-luavm/backend-wasm')
      expect(importsWasm, `${f} ${importsWasm ? 'imports' : 'does not import'} the wasm backend`).toBe(
        f.startsWith('server.'),
      )
    }
    expect(readFileSync(join(buildDir!, 'index.d.ts'), 'utf8')).toContain("from '@bioxen-luavm/core'")
  })

  it('from the built dist: the same run, with --json', async () => {
    expect(built?.code, built?.output).toBe(0)
    const r = await cli(
      ['--plugin', join(buildDir!, 'index.js'), 'run', '--json', '--backend', 'http-runner', '-e', 'print(1) return 2'],
      env(),
    )
    expect(r.code, r.stderr).toBe(0)
    const result = JSON.parse(r.stdout)
    expect(result).toMatchObject({ status: 'ok', stdout: '1\n2\n', values: [2], backend: 'http-runner' })
  })
})
