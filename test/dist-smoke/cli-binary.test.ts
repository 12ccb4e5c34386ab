/**
 * Every subcommand of the built `bioxen-luavm` binary (packages/cli/dist/bin.js),
 * run as a user runs it: a child process (execa) with stdin piped (not a
 * terminal), a scratch current directory that must stay empty, and config,
 * data and temp directories of its own. Checks exact JSON shapes and exit
 * statuses (docs/cli.md "Exit status"), and the conventions every command
 * keeps: errors are one `error:` line plus a `hint:` line with nothing on
 * stdout, no ANSI escapes off a terminal, secrets never printed, `--help`
 * with examples everywhere. `pkg`/`env` install from a rock repository built
 * here with real luarocks; `xcpng` talks to the XAPI simulator (in this
 * process, so the binary always runs asynchronously).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { connectXapi, OWNER_KEY, type XapiSession } from '@bioxen-luavm/backend-xcpng'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findLeaks } from '../../scripts/leak-oracle.mjs'
import { buildRockRepository, type RockRepository } from '../harness/rock-repo.js'
import { SIM_PASSWORD, startSim, writeFlatXcpngConfig } from '../xapi-sim/fixture.js'
import type { XapiSim } from '../xapi-sim/server.js'
import { root } from './packages.js'

const bin = join(root, 'packages', 'cli', 'dist', 'bin.js')
const version = JSON.parse(readFileSync(join(root, 'packages', 'cli', 'package.json'), 'utf8')).version as string

const since = Date.now()
let work: string // files the tests hand to the CLI
let cwd: string // the CLI's current directory: must stay empty
let home: string // HOME, XDG_CONFIG_HOME, XDG_DATA_HOME of the CLI
let tmp: string // TMPDIR of the CLI: must be empty again at the end
let dataHome: string
let repo: RockRepository
let sim: XapiSim
let admin: XapiSession
let xcpngConfig: string

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs the built binary; checks what must hold for every run. */
async function cli(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const r = await execa(process.execPath, [bin, ...args], {
    cwd,
    reject: false,
    extendEnv: false,
    input: options.input ?? '',
    stripFinalNewline: false,
    timeout: 120_000,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_DATA_HOME: dataHome,
      TMPDIR: tmp,
      LANG: 'C.UTF-8',
      ...options.env,
    },
  })
  const run = { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) }
  const all = run.stdout + run.stderr
  expect(all, 'no ANSI escapes off a terminal').not.toContain('\x1b[')
  expect(all, 'the XAPI password is never printed').not.toContain(SIM_PASSWORD)
  expect(readdirSync(cwd), `\`${args.join(' ')}\` wrote into the current directory`).toEqual([])
  return run
}

/** An error: exit `code`, nothing on stdout, one `error:` line naming `pattern`, one `hint:` line. */
function expectError(r: Run, code: number, pattern: RegExp | string): void {
  expect(r, r.stderr).toMatchObject({ code, stdout: '' })
  expect(r.stderr).toMatch(/^error: [^\n]+\nhint: [^\n]+\n$/)
  const line = r.stderr.split('\n')[0] as string
  if (typeof pattern === 'string') expect(line).toContain(pattern)
  else expect(line).toMatch(pattern)
}

/** With --json: the error as one JSON object on stdout, nothing on stderr. */
function expectJsonError(r: Run, code: number, pattern: string): { tag: string; message: string; hint: string } {
  const { error } = json(r, code) as { error: { tag: string; message: string; hint: string } }
  expect(error).toEqual({ tag: expect.any(String), message: expect.any(String), hint: expect.any(String) })
  expect(error.message).toContain(pattern)
  return error
}

/** Exactly one JSON document on stdout, nothing on stderr. */
function json(r: Run, code = 0): unknown {
  expect(r, r.stderr).toMatchObject({ code, stderr: '' })
  expect(r.stdout.endsWith('\n')).toBe(true)
  return JSON.parse(r.stdout)
}

const RESULT_KEYS = [
  'backend',
  'durationMs',
  'exitCode',
  'luaVersion',
  'status',
  'stderr',
  'stdout',
  'success',
  'truncated',
  'values',
]

/** `run --json`: one line holding an ExecResult with exactly its keys and types. */
function execResult(r: Run, code: number, expected: Record<string, unknown>): Record<string, unknown> {
  const result = json(r, code) as Record<string, unknown>
  expect(r.stdout.split('\n')).toHaveLength(2) // one line, then the final newline
  expect(Object.keys(result).sort()).toEqual('error' in expected ? [...RESULT_KEYS, 'error'].sort() : RESULT_KEYS)
  expect(result).toMatchObject({
    stdout: expect.any(String),
    stderr: expect.any(String),
    values: expect.any(Array),
    truncated: expect.any(Boolean),
    durationMs: expect.any(Number),
    status: expect.any(String),
    success: expect.any(Boolean),
    exitCode: expect.any(Number),
    backend: expect.any(String),
    luaVersion: expect.stringMatching(/^Lua 5\.\d$/),
    ...expected,
  })
  expect(result.exitCode).toBe(code)
  expect(result.success).toBe(code === 0)
  return result
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'luavm-cli-bin-'))
  cwd = join(work, 'cwd')
  home = join(work, 'home')
  tmp = join(work, 'tmp')
  dataHome = join(home, '.local', 'share')
  for (const d of [cwd, home, tmp]) mkdirSync(d)
  ;[repo, sim] = await Promise.all([buildRockRepository(), startSim()])
  admin = await connectXapi({
    xapi_url: sim.url,
    username: 'root',
    password: SIM_PASSWORD,
    fingerprint: [sim.fingerprint],
  })
  // The original library's flat xcpng_config.json, read unchanged.
  xcpngConfig = writeFlatXcpngConfig(sim, join(work, 'xcpng_config.json'))
})

afterAll(async () => {
  await admin?.logout().catch(() => {})
  await sim?.close()
  repo?.cleanup()
  if (work) rmSync(work, { recursive: true, force: true })
})

describe('run', () => {
  it('-e streams output exactly and echoes returned values; exit 0', async () => {
    expect(await cli(['run', '-e', 'io.write("  a  \\n") print(1, nil)'])).toEqual({
      code: 0,
      stdout: '  a  \n1\tnil\n',
      stderr: '',
    })
    expect(await cli(['run', '-e', 'return 2 + 2, "four"'])).toEqual({ code: 0, stdout: '4\tfour\n', stderr: '' })
  })

  it('runs a file, and names it and the line in errors (exit 1)', async () => {
    const ok = join(work, 'ok.lua')
    writeFileSync(ok, 'local n = 0\nfor i = 1, 10 do n = n + i end\nprint("sum", n)\n')
    expect(await cli(['run', ok])).toEqual({ code: 0, stdout: 'sum\t55\n', stderr: '' })
    const bad = join(work, 'bad.lua')
    writeFileSync(bad, 'print("before")\nerror("boom")\n')
    const r = await cli(['run', bad])
    expect(r).toMatchObject({ code: 1, stdout: 'before\n' })
    expect(r.stderr).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: boom\nstack traceback:\n`))
  })

  it('reads the program from stdin with -', async () => {
    expect(await cli(['run', '-'], { input: 'print(("ab"):rep(3))' })).toEqual({
      code: 0,
      stdout: 'ababab\n',
      stderr: '',
    })
    const r = await cli(['run', '--json', '-'], { input: 'return 6 * 7' })
    execResult(r, 0, { status: 'ok', values: [42], stdout: '42\n', backend: 'wasm' })
  })

  it('--json: ok', async () => {
    const r = await cli(['run', '--json', '-e', 'print("GC") return 0.55'])
    execResult(r, 0, {
      status: 'ok',
      stdout: 'GC\n0.55\n',
      stderr: '',
      values: [0.55],
      truncated: false,
      backend: 'wasm',
      luaVersion: 'Lua 5.4',
    })
  })

  it('--json: runtime error, exit 1', async () => {
    const r = await cli(['run', '--json', '-e', 'print("x") error("boom")'])
    execResult(r, 1, {
      status: 'error',
      stdout: 'x\n',
      error: {
        kind: 'runtime',
        message: '(command line):1: boom',
        line: 1,
        traceback: expect.stringMatching(/^stack traceback:/),
      },
    })
  })

  it('--json: syntax error, exit 1', async () => {
    const r = await cli(['run', '--json', '-e', 'x = = 1'])
    execResult(r, 1, {
      status: 'error',
      stdout: '',
      error: { kind: 'syntax', message: "(command line):1: unexpected symbol near '='", line: 1 },
    })
  })

  it('--json: --timeout, exit 3 (a pcall cannot catch it)', async () => {
    const r = await cli([
      'run',
      '--json',
      '--timeout',
      '300',
      '-e',
      'while true do pcall(function() while true do end end) end',
    ])
    execResult(r, 3, { status: 'timeout', error: { kind: 'runtime', message: expect.any(String) } })
  })

  it('--json: --memory, exit 3', async () => {
    const r = await cli([
      'run',
      '--json',
      '--memory',
      '16MB',
      '-e',
      'local t = {} for i = 1, 1e8 do t[i] = ("x"):rep(64) .. i end',
    ])
    execResult(r, 3, { status: 'memory', error: { kind: 'runtime', message: expect.any(String) } })
  })

  it('--json: --max-output cuts to the byte, exit 3', async () => {
    const r = await cli(['run', '--json', '--max-output', '12', '-e', 'print(("x"):rep(100))'])
    execResult(r, 3, {
      status: 'output-limit',
      stdout: 'xxxxxxxxxxxx',
      truncated: true,
      error: { kind: 'runtime', message: expect.any(String) },
    })
  })

  it('without --json, a limit prints its notice on stderr and exits 3', async () => {
    const [timeout, output] = await Promise.all([
      cli(['run', '--timeout', '300', '-e', 'while true do end']),
      cli(['run', '--max-output', '12', '-e', 'print(("x"):rep(100))']),
    ])
    expect(timeout).toEqual({
      code: 3,
      stdout: '',
      stderr: 'stopped: the program ran past its deadline (--timeout)\n',
    })
    expect(output).toEqual({
      code: 3,
      stdout: 'xxxxxxxxxxxx',
      stderr:
        "\nstopped: the program's output went over --max-output (output limit of 12 bytes exceeded); output was truncated\n",
    })
  })

  it('--backend process (and its alias basic): native Lua 5.4, errors exit 1, timeouts exit 3', async () => {
    const [ok, alias, error, timeout] = await Promise.all([
      cli(['run', '--json', '--backend', 'process', '-e', 'print(_VERSION) return math.maxinteger']),
      cli(['run', '--backend', 'basic', '-e', 'print(1 // 1)']),
      cli(['run', '--json', '--backend', 'process', '-e', 'local t = nil; return t.x']),
      cli(['run', '--json', '--backend', 'process', '--timeout', '300', '-e', 'while true do end']),
    ])
    execResult(ok, 0, {
      status: 'ok',
      backend: 'process',
      luaVersion: 'Lua 5.4',
      stdout: 'Lua 5.4\n9223372036854775807\n',
    })
    expect(alias).toEqual({ code: 0, stdout: '1\n', stderr: '' })
    execResult(error, 1, {
      status: 'error',
      backend: 'process',
      error: expect.objectContaining({ kind: 'runtime', line: 1, message: expect.stringContaining("local 't'") }),
    })
    execResult(timeout, 3, { status: 'timeout', backend: 'process', error: expect.any(Object) })
  })

  it('--backend fengari: Lua 5.3 in JavaScript', async () => {
    const [text, result] = await Promise.all([
      cli(['run', '--backend', 'fengari', '-e', 'print(_VERSION, math.maxinteger)']),
      cli(['run', '--json', '--backend', 'fengari', '-e', 'return _VERSION']),
    ])
    expect(text).toEqual({ code: 0, stdout: 'Lua 5.3\t2147483647\n', stderr: '' })
    execResult(result, 0, { status: 'ok', backend: 'fengari', luaVersion: 'Lua 5.3', values: ['Lua 5.3'] })
  })

  it.each([
    ['an unknown option', ['run', '--frobnicate', '-e', 'print(1)'], "unknown option '--frobnicate'"],
    ['no program', ['run'], 'no program given'],
    [
      'a bad --timeout',
      ['run', '--timeout', 'soon', '-e', 'print(1)'],
      '--timeout must be a number of milliseconds above 0 and at most 2147483647 (about 24.8 days), got "soon"',
    ],
    ['a zero --timeout', ['run', '--timeout', '0', '-e', 'print(1)'], 'got 0'],
    ['a --timeout past 2^31 - 1 ms', ['run', '--timeout', '2147483648', '-e', 'print(1)'], 'got 2147483648'],
    [
      'a bad --memory',
      ['run', '--memory', 'lots', '-e', 'print(1)'],
      "--memory expects a size like 1048576 or 64MB, got 'lots'",
    ],
    ['a missing file', ['run', 'no-such-file.lua'], "file 'no-such-file.lua' does not exist"],
    ['an unknown backend', ['run', '--backend', 'nope', '-e', 'print(1)'], "unknown backend type 'nope'"],
  ])('%s is a usage error: exit 2, one line and a hint', async (_what, args, message) => {
    expectError(await cli(args), 2, message)
  })
})

describe('repl', () => {
  it('reads piped stdin line by line on the process backend', async () => {
    expect(await cli(['repl', '--backend', 'process'], { input: 'x=42\nprint(x)\n' })).toEqual({
      code: 0,
      stdout: '42\n',
      stderr: '',
    })
  })

  it('on wasm (the default): expressions print, unfinished chunks wait, errors keep it going (exit 1)', async () => {
    const input = 'x = 42\nprint(x)\nfunction sq(n)\n  return n * n\nend\nsq(9)\n= x + 1\n'
    expect(await cli(['repl'], { input })).toEqual({ code: 0, stdout: '42\n81\n43\n', stderr: '' })
    const r = await cli(['repl', '--backend', 'wasm'], { input: 'error("boom")\nprint("still here")\n' })
    expect(r).toEqual({ code: 1, stdout: 'still here\n', stderr: 'stdin:1: boom\n' })
  })
})

describe('backends', () => {
  const capabilities = {
    sandboxed: expect.any(Boolean),
    persistentState: expect.any(Boolean),
    sessions: expect.any(Boolean),
    packages: expect.any(Boolean),
    networking: expect.any(Boolean),
    memoryLimit: expect.any(Boolean),
    hardTimeout: expect.any(Boolean),
    remote: expect.any(Boolean),
  }

  it('--json: every built-in backend with availability, version and capabilities', async () => {
    const list = json(await cli(['backends', '--json'])) as Record<string, unknown>[]
    expect(list.map((b) => b.type)).toEqual(['wasm', 'fengari', 'process', 'xcpng'])
    for (const b of list) {
      expect(b).toMatchObject({
        type: expect.any(String),
        aliases: expect.any(Array),
        description: expect.any(String),
        available: expect.any(Boolean),
        capabilities,
      })
    }
    expect(list[0]).toMatchObject({
      available: true,
      version: 'Lua 5.4',
      capabilities: { sandboxed: true, memoryLimit: true, hardTimeout: true, packageKinds: ['pure'] },
    })
    expect(list[1]).toMatchObject({ available: true, version: 'Lua 5.3', capabilities: { memoryLimit: false } })
    expect(list[2]).toMatchObject({
      available: true,
      aliases: ['basic'],
      version: expect.stringMatching(/^Lua 5\.\d\.\d+$/),
      capabilities: { sandboxed: false, networking: true, packageKinds: ['pure', 'native'] },
      details: { default: 'lua5.4', interpreters: expect.any(Array) },
    })
    // No XAPI configured in this environment: unavailable, and says what to set.
    expect(list[3]).toMatchObject({ available: false, reason: expect.stringContaining('xapi_url') })
    expect(list[3]).not.toHaveProperty('version')
  })

  it('prints a table and the default backend', async () => {
    const r = await cli(['backends'])
    expect(r).toMatchObject({ code: 0, stderr: '' })
    const lines = r.stdout.split('\n')
    expect(lines[0]).toMatch(/^TYPE\s+AVAILABLE\s+VERSION\s+CAPABILITIES\s+NOTE$/)
    expect(lines[1]).toMatch(/^wasm\s+yes\s+Lua 5\.4\s+sandboxed,/)
    expect(lines[2]).toMatch(/^fengari\s+yes\s+Lua 5\.3\s/)
    expect(lines[3]).toMatch(/^process \(basic\)\s+yes\s+Lua 5\.4\.\d+\s/)
    expect(lines[4]).toMatch(/^xcpng\s+no\s+-\s+.*configure xapi_url/)
    expect(lines.slice(5)).toEqual(['default: wasm', ''])
  })
})

describe('pkg and env', () => {
  const servers = () => ['--servers', repo.dir]
  const envRoot = () => join(dataHome, 'bioxen-luavm', 'envs')

  it('pkg search and pkg profiles, as tables and as JSON', async () => {
    const [text, found, pure, none, profiles, profilesText] = await Promise.all([
      cli(['pkg', 'search', 'json']),
      cli(['pkg', 'search', 'json', '--json']),
      cli(['pkg', 'search', '--pure', 'sequence', '--json']),
      cli(['pkg', 'search', 'no-such-thing-anywhere']),
      cli(['pkg', 'profiles', '--json']),
      cli(['pkg', 'profiles']),
    ])
    expect(text).toMatchObject({ code: 0, stderr: '' })
    expect(text.stdout).toMatch(/^NAME\s+PRIORITY\s+CATEGORY\s+PURE\s+DESCRIPTION\nlua-cjson\s+9\s+data\s+no\s/)
    const packages = json(found) as Record<string, unknown>[]
    expect(packages.map((p) => p.name)).toEqual(['lua-cjson', 'dkjson'])
    for (const p of packages) {
      expect(p).toMatchObject({
        name: expect.any(String),
        version: expect.any(String),
        category: 'data',
        description: expect.any(String),
        dependencies: expect.any(Array),
        priority: expect.any(Number),
        pure: expect.any(Boolean),
        modules: expect.any(Array),
      })
    }
    expect(json(pure)).toEqual([expect.objectContaining({ name: 'bio_compute', pure: true, modules: ['bio_compute'] })])
    expect(none).toEqual({ code: 0, stdout: 'no package matches\n', stderr: '' })
    const list = json(profiles) as Record<string, unknown>[]
    for (const p of list) {
      expect(Object.keys(p).sort()).toEqual(['description', 'name', 'packages'])
      expect(p).toMatchObject({
        name: expect.any(String),
        description: expect.any(String),
        packages: expect.any(Array),
      })
    }
    expect(list.find((p) => p.name === 'bio')).toMatchObject({ packages: ['bio_compute', 'dkjson', 'inspect'] })
    expect(profilesText.stdout).toMatch(/^PROFILE\s+PACKAGES\s+DESCRIPTION\n/)
    expect(profilesText.stdout).toMatch(/^bio\s+bio_compute, dkjson, inspect\s/m)
  })

  it('env create, pkg install --env, env list/show/paths, pkg list: in the data directory, with their JSON shapes', async () => {
    const created = json(await cli(['env', 'create', 'demo', ...servers(), '--json'])) as Record<string, unknown>
    expect(created).toEqual({
      format: 1,
      name: 'demo',
      created: expect.any(String),
      updated: expect.any(String),
      luaVersions: ['5.4'],
      servers: [repo.dir],
      packages: { '5.4': {} },
    })
    expect(readdirSync(envRoot())).toEqual(['demo'])

    const installed = json(
      await cli(['pkg', 'install', 'bio_compute', '--env', 'demo', ...servers(), '--json']),
    ) as Record<string, unknown>
    expect(installed).toEqual({
      name: 'bio_compute',
      version: '0.1.0-1',
      success: true,
      location: join(envRoot(), 'demo', '5.4'),
      modules: ['bio_compute'],
      log: expect.any(String),
    })
    const again = await cli(['pkg', 'install', 'versioned_mod', '--version', '1.0-1', '--env', 'demo', ...servers()])
    expect(again).toEqual({
      code: 0,
      stdout: `installed versioned_mod 1.0-1 into environment 'demo' (Lua 5.4) at ${join(envRoot(), 'demo', '5.4')}\nmodules: versioned_mod\n`,
      stderr: '',
    })

    const [list, show, paths, pathsJson, rocks, oneEnv, text] = await Promise.all([
      cli(['env', 'list', '--json']),
      cli(['env', 'show', 'demo', '--json']),
      cli(['env', 'paths', 'demo']),
      cli(['env', 'paths', 'demo', '--json']),
      cli(['pkg', 'list', '--json']),
      cli(['pkg', 'list', '--env', 'demo', '--lua-version', '5.1', '--json']),
      cli(['env', 'list']),
    ])
    expect(json(list)).toEqual([
      {
        name: 'demo',
        path: join(envRoot(), 'demo'),
        created: created.created,
        updated: expect.any(String),
        luaVersions: ['5.4'],
        servers: [repo.dir],
        packageCount: { '5.4': 2 },
      },
    ])
    expect(text.stdout).toMatch(/^NAME\s+LUA\s+PACKAGES\s+CREATED\s+PATH\ndemo\s+5\.4\s+2\s/)
    const tree = join(envRoot(), 'demo', '5.4')
    const luaPath = `${tree}/share/lua/5.4/?.lua;${tree}/share/lua/5.4/?/init.lua;;`
    const luaCPath = `${tree}/lib/lua/5.4/?.so;;`
    expect(json(show)).toMatchObject({
      name: 'demo',
      path: join(envRoot(), 'demo'),
      manifest: {
        name: 'demo',
        servers: [repo.dir],
        packages: {
          '5.4': {
            bio_compute: {
              version: '0.1.0-1',
              modules: ['bio_compute'],
              installedAt: expect.any(String),
              source: expect.stringContaining(repo.dir),
              explicit: true,
            },
          },
        },
      },
      trees: [
        {
          luaVersion: '5.4',
          path: tree,
          rocks: expect.arrayContaining([
            expect.objectContaining({ name: 'bio_compute', version: '0.1.0-1', status: 'installed' }),
          ]),
          paths: { LUA_PATH: luaPath, LUA_CPATH: luaCPath },
        },
      ],
    })
    expect(paths).toEqual({
      code: 0,
      stdout: `export LUA_PATH='${luaPath}'\nexport LUA_CPATH='${luaCPath}'\n`,
      stderr: '',
    })
    expect(json(pathsJson)).toEqual({ LUA_PATH: luaPath, LUA_CPATH: luaCPath })
    const listed = json(rocks) as Record<string, unknown>[]
    expect(listed.map((r) => r.name).sort()).toEqual(['bio_compute', 'versioned_mod'])
    for (const rock of listed) {
      expect(rock).toEqual({
        environment: 'demo',
        luaVersion: '5.4',
        name: expect.any(String),
        version: expect.any(String),
        modules: expect.any(Array),
        explicit: true,
        installedAt: expect.any(String),
        source: expect.any(String),
      })
    }
    expect(json(oneEnv)).toEqual([])

    // What it installed really loads: eval "$(bioxen-luavm env paths demo)".
    const lua = await execa('lua5.4', ['-e', 'print(require("bio_compute") ~= nil)'], {
      cwd,
      reject: false,
      env: { LUA_PATH: luaPath, LUA_CPATH: luaCPath },
    })
    expect(lua.stdout).toBe('true')
  })

  it('env health: exit 0 when healthy, 1 when an installed module is broken', async () => {
    const healthy = json(await cli(['env', 'health', 'demo', '--json'])) as Record<string, unknown>
    expect(healthy).toMatchObject({
      environment: 'demo',
      luaVersion: '5.4',
      path: expect.any(String),
      interpreter: { ok: true, version: expect.stringMatching(/^Lua 5\.4/) },
      luarocks: { ok: true, version: expect.any(String) },
      installed: expect.any(Array),
      missingFromProfile: [],
      brokenModules: [],
      modulesChecked: 2,
      ok: true,
    })
    const text = await cli(['env', 'health', 'demo'])
    expect(text).toMatchObject({ code: 0, stderr: '' })
    expect(text.stdout).toMatch(/\nhealthy\n$/)

    unlinkSync(join(envRoot(), 'demo', '5.4', 'share', 'lua', '5.4', 'bio_compute.lua'))
    const broken = await cli(['env', 'health', 'demo', '--json'])
    expect(broken.code).toBe(1)
    expect(broken.stderr).toBe('')
    expect(JSON.parse(broken.stdout)).toMatchObject({
      ok: false,
      brokenModules: [expect.objectContaining({ module: 'bio_compute' })],
    })
    const brokenText = await cli(['env', 'health', 'demo'])
    expect(brokenText.code).toBe(1)
    expect(brokenText.stdout).toContain('bio_compute')
    expect(brokenText.stdout).not.toMatch(/\nhealthy\n$/)
  })

  it('pkg remove and env delete', async () => {
    expect(await cli(['pkg', 'remove', 'versioned_mod', '--env', 'demo', '--json'])).toEqual({
      code: 0,
      stdout: '{"removed":"versioned_mod","env":"demo","luaVersion":"5.4"}\n',
      stderr: '',
    })
    expect(await cli(['env', 'delete', 'no-such-env', '--json'])).toMatchObject({
      code: 2,
      stdout: expect.stringMatching(/^\{"error":\{"tag":"\w+","message":"[^"]*no-such-env[^"]*","hint":"[^"]+"\}\}\n$/),
      stderr: '',
    })
    expect(await cli(['env', 'delete', 'demo'])).toEqual({
      code: 0,
      stdout: "deleted environment 'demo'\n",
      stderr: '',
    })
    expect(json(await cli(['env', 'list', '--json']))).toEqual([])
    expect(await cli(['pkg', 'list'])).toEqual({ code: 0, stdout: 'no packages installed\n', stderr: '' })
    expect(readdirSync(envRoot())).toEqual([])
  })

  it('pkg install into a throwaway VM: process (luarocks tree) and wasm (pure rock mounted)', async () => {
    const [processVM, wasmVM] = await Promise.all([
      cli(['pkg', 'install', 'seq_report', '--backend', 'process', ...servers(), '--json']),
      cli(['pkg', 'install', 'seq_report', ...servers(), '--json']),
    ])
    const shape = {
      name: 'seq_report',
      version: '0.1.0-1',
      success: true,
      modules: ['seq_report'],
      log: expect.any(String),
    }
    expect(json(processVM)).toEqual({ ...shape, location: expect.stringContaining(tmp) })
    expect(json(wasmVM)).toEqual({ ...shape, location: 'vm' })
    const text = await cli(['pkg', 'install', 'bio_compute', '--backend', 'fengari', ...servers()])
    expect(text).toEqual({
      code: 0,
      stdout:
        'installed bio_compute 0.1.0-1 into a fengari VM\nmodules: bio_compute\nthe VM was discarded; use --env NAME to keep what you install\n',
      stderr: '',
    })
  })

  it('errors: bad names and missing environments exit 2, a failed install exits 4', async () => {
    const [badName, missing, missingHealth, failed, badProfile] = await Promise.all([
      cli(['env', 'create', 'bad name!']),
      cli(['env', 'show', 'nope']),
      cli(['env', 'health', 'nope', '--json']),
      cli(['pkg', 'install', 'no_such_rock', '--env', 'scratch', ...servers()]),
      cli(['env', 'create', 'prof', '--profile', 'no-such-profile']),
    ])
    expectError(badName, 2, 'invalid environment name "bad name!"')
    expectError(missing, 2, "no environment 'nope'")
    expectJsonError(missingHealth, 2, "no environment 'nope'")
    expectError(failed, 4, 'no_such_rock')
    expectError(badProfile, 2, 'no-such-profile')
    await cli(['env', 'delete', 'scratch']) // if the failed install created it
    expect(readdirSync(envRoot())).toEqual([])
  })
})

describe('xcpng', () => {
  const ownerTag = (overrides: Record<string, unknown> = {}) =>
    JSON.stringify({ host: hostname(), pid: process.pid, created: Date.now(), vm: 'cli-binary', ...overrides })

  async function clone(name: string, owner?: string, running = false): Promise<string> {
    const vm = (await admin.call('VM.clone', [sim.seeded.template, name])) as string
    await admin.call('VM.set_is_a_template', [vm, false])
    if (owner !== undefined) await admin.call('VM.add_to_other_config', [vm, OWNER_KEY, owner])
    if (running) await admin.call('VM.start', [vm, false, false])
    return vm
  }

  const xcpng = (...args: string[]) => cli(['--config', xcpngConfig, 'xcpng', ...args])

  it('check: logs in, finds the template; --json shape', async () => {
    const [report, text] = await Promise.all([xcpng('check', '--json'), xcpng('check')])
    expect(json(report)).toEqual({
      connected: true,
      pool: expect.any(String),
      template: 'debian-lua',
      templateFound: true,
    })
    expect(text).toMatchObject({ code: 0, stderr: '' })
    expect(text.stdout).toMatch(
      /^connected to pool '.*' \(TLS verified, logged in and out\)\ntemplate 'debian-lua': found\n$/,
    )
  })

  it('check: a template that is not there exits 2', async () => {
    const config = join(work, 'xcpng-missing-template.json')
    writeFileSync(
      config,
      JSON.stringify({
        ...JSON.parse(readFileSync(xcpngConfig, 'utf8')),
        template_name: 'no-such-template',
      }),
    )
    const r = await cli(['--config', config, 'xcpng', 'check', '--json'])
    expect(r.code).toBe(2)
    expect(JSON.parse(r.stdout)).toMatchObject({ connected: true, templateFound: false })
  })

  it('list and status: JSON shapes, ours only unless --all', async () => {
    const ours = await clone('cli-bin-ours', ownerTag(), true)
    await clone('cli-bin-foreign')
    const uuid = (await admin.call('VM.get_uuid', [ours])) as string
    const [mine, all, status, table, unknown] = await Promise.all([
      xcpng('list', '--json'),
      xcpng('list', '--all', '--json'),
      xcpng('status', uuid, '--json'),
      xcpng('list'),
      xcpng('status', 'no-such-vm'),
    ])
    const guest = {
      uuid: expect.any(String),
      name: expect.any(String),
      powerState: expect.any(String),
      memoryBytes: expect.any(Number),
      vcpus: expect.any(Number),
    }
    const owned = json(mine) as Record<string, unknown>[]
    expect(owned).toEqual([
      expect.objectContaining({
        ...guest,
        uuid,
        name: 'cli-bin-ours',
        powerState: 'Running',
        owner: { host: hostname(), pid: process.pid, created: expect.any(Number), vm: 'cli-binary' },
      }),
    ])
    const everyone = json(all) as Record<string, unknown>[]
    for (const g of everyone) expect(g).toMatchObject(guest)
    expect(everyone.map((g) => g.name)).toEqual(expect.arrayContaining(['cli-bin-ours', 'cli-bin-foreign']))
    expect(everyone.find((g) => g.name === 'cli-bin-foreign')).not.toHaveProperty('owner')
    expect(json(status)).toMatchObject({ ...guest, uuid, name: 'cli-bin-ours', powerState: 'Running' })
    expect(table.stdout).toMatch(/^UUID\s+NAME\s+STATE\s+MEMORY\s+VCPUS\s+IP\s+OURS\n\S+\s+cli-bin-ours\s+Running\s/)
    expectError(unknown, 2, "VM 'no-such-vm' matches no vm on the pool")
    expect(unknown.stderr).toContain('\nhint: `bioxen-luavm xcpng list --all` lists the guests\n')
  })

  it('stop and destroy ours; a foreign guest only with --force', async () => {
    const [stop, destroy] = [await xcpng('stop', 'cli-bin-ours', '--json'), await xcpng('destroy', 'cli-bin-ours')]
    expect(stop).toMatchObject({ code: 0, stderr: '' })
    expect(json(stop)).toEqual({ stopped: expect.any(String), name: 'cli-bin-ours' })
    expect(destroy).toEqual({ code: 0, stdout: 'destroyed cli-bin-ours\n', stderr: '' })
    expect(json(await xcpng('list', '--json'))).toEqual([])

    const refused = await xcpng('destroy', 'cli-bin-foreign')
    expectError(
      refused,
      2,
      /^error: VM 'cli-bin-foreign' \(\S+\) was not created by bioxen-luavm; refusing to destroy it$/,
    )
    expect(refused.stderr).toContain('\nhint: add --force to destroy it anyway\n')
    const foreign = await xcpng('destroy', 'cli-bin-foreign', '--force', '--json')
    expect(foreign).toMatchObject({ code: 0, stderr: '' })
    expect(json(foreign)).toEqual({ destroyed: expect.any(String), name: 'cli-bin-foreign' })
    const names = (json(await xcpng('list', '--all', '--json')) as { name: string }[]).map((g) => g.name)
    expect(names).not.toContain('cli-bin-foreign')
  })

  it('reap: dry run first, then for real; --json shape', async () => {
    await clone('cli-bin-orphan', ownerTag({ pid: 2 ** 22 + 7, created: Date.now() - 7_200_000 }))
    const dry = json(await xcpng('reap', '--dry-run', '--json')) as Record<string, unknown>[]
    const entry = {
      uuid: expect.any(String),
      name: 'cli-bin-orphan',
      owner: expect.objectContaining({ pid: 2 ** 22 + 7 }),
      ageMs: expect.any(Number),
    }
    expect(dry).toEqual([expect.objectContaining({ ...entry, action: 'would-destroy' })])
    const done = json(await xcpng('reap', '--json')) as Record<string, unknown>[]
    expect(done).toEqual([expect.objectContaining({ ...entry, action: 'destroyed' })])
    expect(await xcpng('reap')).toEqual({ code: 0, stdout: 'no guests created by bioxen-luavm\n', stderr: '' })
  })

  it('a refused password: one line and a hint, the password nowhere', async () => {
    const bad = join(work, 'xcpng-bad-password.json')
    const wrong = 'wrong-pass-5c1d'
    writeFileSync(bad, JSON.stringify({ ...JSON.parse(readFileSync(xcpngConfig, 'utf8')), password: wrong }))
    const r = await cli(['--config', bad, 'xcpng', 'list', '--json'])
    // Wrong settings, not a failure of the SDK: a usage/config status.
    const error = expectJsonError(r, 2, 'SESSION_AUTHENTICATION_FAILED')
    expect(error.hint).toContain('check xapi_url, username, password')
    expect(r.stdout).not.toContain(wrong)
    const text = await cli(['--config', bad, 'xcpng', 'list'])
    expectError(text, 2, 'SESSION_AUTHENTICATION_FAILED')
    expect(text.stderr).toContain('hint: check xapi_url, username, password')
    expect(text.stderr).not.toContain(wrong)
  })

  it('the config has the password; config show redacts it', async () => {
    const r = await cli(['--config', xcpngConfig, 'config', 'show'])
    const shown = json(r) as { backends: { xcpng: Record<string, unknown> } }
    expect(shown.backends.xcpng).toMatchObject({ xapi_url: sim.url, username: 'root', password: '[redacted]' })
  })
})

describe('config', () => {
  it('show: the merged config as JSON (pretty, or one line with --json); secrets redacted', async () => {
    const file = join(work, 'luavm.json')
    writeFileSync(
      file,
      JSON.stringify({
        defaultBackend: 'fengari',
        limits: { timeoutMs: 5000 },
        backends: {
          process: { mode: 'persistent' },
          xcpng: { xapi_url: 'https://xcp.example', password: 'hunter2-x' },
        },
      }),
    )
    const [pretty, oneLine, plain, envOverride] = await Promise.all([
      cli(['--config', file, 'config', 'show']),
      cli(['--config', file, 'config', 'show', '--json']),
      cli(['config', 'show']),
      cli(['config', 'show', '--json'], { env: { LUAVM_CONFIG: file, LUAVM_BACKEND: 'process' } }),
    ])
    const expected = {
      defaultBackend: 'fengari',
      plugins: [],
      limits: { timeoutMs: 5000 },
      backends: {
        process: { mode: 'persistent' },
        xcpng: { xapi_url: 'https://xcp.example', password: '[redacted]' },
      },
    }
    expect(json(pretty)).toEqual(expected)
    expect(pretty.stdout).toContain('\n  "defaultBackend": "fengari",\n')
    expect(json(oneLine)).toEqual(expected)
    expect(oneLine.stdout.split('\n')).toHaveLength(2)
    for (const r of [pretty, oneLine, envOverride]) expect(r.stdout).not.toContain('hunter2-x')
    expect(json(plain)).toEqual({ defaultBackend: 'wasm', plugins: [], limits: {}, backends: {} })
    expect(json(envOverride)).toMatchObject({ defaultBackend: 'process' })
  })

  it('validate: a good config exits 0', async () => {
    const file = join(work, 'good.json')
    writeFileSync(
      file,
      JSON.stringify({ defaultBackend: 'process', backends: { process: { mode: 'pool', poolSize: 2 } } }),
    )
    expect(await cli(['--config', file, 'config', 'validate'])).toEqual({
      code: 0,
      stdout: 'config is valid\n',
      stderr: '',
    })
    expect(json(await cli(['--config', file, 'config', 'validate', '--json']))).toEqual({ valid: true, problems: [] })
  })

  it('validate: a bad config exits 2 and names each key and where it came from', async () => {
    const file = join(work, 'broken.json')
    writeFileSync(file, JSON.stringify({ backends: { process: { mode: 'sometimes', poolSize: 'many' } } }))
    const text = await cli(['--config', file, 'config', 'validate'])
    expect(text).toEqual({
      code: 2,
      stdout: '',
      stderr: `config has 2 problem(s):\n  - backends.process.mode (from file ${file}): must be one of oneshot, persistent, pool, got "sometimes"\n  - backends.process.poolSize (from file ${file}): expected a number, got "many"\n`,
    })
    const report = json(await cli(['--config', file, 'config', 'validate', '--json']), 2)
    expect(report).toEqual({
      valid: false,
      problems: [expect.stringContaining('backends.process.mode (from file'), expect.stringContaining('poolSize')],
    })
    // An environment variable overrides the file, and is named as the source.
    const good = join(work, 'process-section.json')
    writeFileSync(good, JSON.stringify({ backends: { process: { mode: 'persistent' } } }))
    const fromEnv = await cli(['--config', good, 'config', 'validate', '--json'], {
      env: { LUAVM_PROCESS_MODE: 'never' },
    })
    expect(json(fromEnv, 2)).toEqual({
      valid: false,
      problems: [
        'backends.process.mode (from environment variable LUAVM_PROCESS_MODE): must be one of oneshot, persistent, pool, got "never"',
      ],
    })
  })

  it('a command that uses a bad config exits 2 with one line naming the key and its source', async () => {
    const file = join(work, 'broken.json')
    const r = await cli(['--config', file, 'run', '--backend', 'process', '-e', 'print(1)'])
    expectError(r, 2, `backends.process.mode (from file ${file})`)
    expect(r.stderr).toMatch(/\nhint: `bioxen-luavm config validate` checks a config file\n$/)
  })

  it('a config file that is missing or not JSON exits 2', async () => {
    const notJson = join(work, 'not-json.json')
    writeFileSync(notJson, '{ nope')
    const [missing, broken] = await Promise.all([
      cli(['--config', join(work, 'missing.json'), 'config', 'show']),
      cli(['--config', notJson, 'backends']),
    ])
    expectError(missing, 2, 'missing.json')
    expectError(broken, 2, /not-json\.json.*is not valid JSON|is not valid JSON.*not-json\.json/)
  })
})

describe('--plugin', () => {
  let plugin: string
  beforeAll(() => {
    // A third-party backend built on core's contract: BaseLuaVM from the built core.
    plugin = join(work, 'tiny-plugin.mjs')
    const core = pathToFileURL(join(root, 'packages', 'core', 'dist', 'index.js')).href
    writeFileSync(
      plugin,
      `import { BaseLuaVM } from ${JSON.stringify(core)}
const capabilities = { sandboxed: true, persistentState: false, sessions: false, packages: false, networking: false, memoryLimit: false, hardTimeout: false, remote: false }
class TinyVM extends BaseLuaVM {
  capabilities = capabilities
  async doStart() { this.setLuaVersion('Lua 5.4') }
  async doStop() {}
  async runCode(code) { return this.result({ status: 'ok', stdout: 'tiny ran ' + code.length + ' bytes\\n', values: [code.length] }) }
}
export const tinyBackend = {
  type: 'tiny',
  description: 'a test plugin',
  capabilities,
  detect: async () => ({ available: true, version: 'tiny 1.0' }),
  load: async () => ({ createVM: (init) => new TinyVM(init) }),
}
`,
    )
    writeFileSync(join(work, 'no-backend.mjs'), 'export const answer = 42\n')
  })

  it('a plugin backend is listed by backends and runs with run --backend', async () => {
    const [listed, text, result, fromConfig] = await Promise.all([
      cli(['--plugin', plugin, 'backends', '--json']),
      cli(['--plugin', plugin, 'run', '--backend', 'tiny', '-e', 'print(1)']),
      cli(['--plugin', plugin, 'run', '--json', '--backend', 'tiny', '-e', 'print(1)']),
      cli(['backends'], { env: { LUAVM_CONFIG: writeConfig({ plugins: [plugin] }) } }),
    ])
    const list = json(listed) as Record<string, unknown>[]
    expect(list.map((b) => b.type)).toEqual(['wasm', 'fengari', 'process', 'xcpng', 'tiny'])
    expect(list[4]).toEqual({
      type: 'tiny',
      aliases: [],
      description: 'a test plugin',
      available: true,
      version: 'tiny 1.0',
      capabilities: expect.objectContaining({ sandboxed: true, sessions: false }),
    })
    expect(text).toEqual({ code: 0, stdout: 'tiny ran 8 bytes\n', stderr: '' })
    execResult(result, 0, { status: 'ok', backend: 'tiny', stdout: 'tiny ran 8 bytes\n', values: [8] })
    expect(fromConfig.stdout).toMatch(/^tiny\s+yes\s+tiny 1\.0\s+sandboxed\s+a test plugin$/m)
  })

  it('a missing module and a module with no backend exit 2 with one line naming the module', async () => {
    const missing = join(work, 'no-such-plugin.mjs')
    const empty = join(work, 'no-backend.mjs')
    const [notFound, notFoundPackage, noBackend] = await Promise.all([
      cli(['--plugin', missing, 'backends']),
      cli(['--plugin', 'no-such-luavm-plugin-package', 'run', '-e', 'print(1)']),
      cli(['--plugin', empty, 'backends']),
    ])
    expectError(notFound, 2, `plugin '${missing}' failed to load`)
    expectError(notFoundPackage, 2, "plugin 'no-such-luavm-plugin-package' was not found")
    expectError(noBackend, 2, `plugin '${empty}' exports no backend descriptor`)
  })

  function writeConfig(config: unknown): string {
    const file = join(work, `config-${readdirSync(work).length}.json`)
    writeFileSync(file, JSON.stringify(config))
    return file
  }
})

describe('conventions', () => {
  it('--version and -V print the package version', async () => {
    const [long, short] = await Promise.all([cli(['--version']), cli(['-V'])])
    expect(long).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' })
    expect(short).toEqual(long)
  })

  // Every command, found by walking the help's "Commands:" lists, must be
  // one of these, and each prints usage with examples.
  const everyCommand = [
    [],
    ['run'],
    ['repl'],
    ['backends'],
    ['completion'],
    ['config'],
    ['config', 'show'],
    ['config', 'validate'],
    ['pkg'],
    ['pkg', 'search'],
    ['pkg', 'profiles'],
    ['pkg', 'install'],
    ['pkg', 'remove'],
    ['pkg', 'list'],
    ['env'],
    ['env', 'create'],
    ['env', 'list'],
    ['env', 'show'],
    ['env', 'paths'],
    ['env', 'health'],
    ['env', 'delete'],
    ['xcpng'],
    ['xcpng', 'check'],
    ['xcpng', 'list'],
    ['xcpng', 'status'],
    ['xcpng', 'stop'],
    ['xcpng', 'destroy'],
    ['xcpng', 'reap'],
  ]

  it('--help on every command and subcommand: usage and an Examples section, exit 0', async () => {
    const seen: string[][] = []
    const walk = async (path: string[]): Promise<void> => {
      seen.push(path)
      const r = await cli([...path, '--help'])
      const name = ['bioxen-luavm', ...path].join(' ')
      expect(r, name).toMatchObject({ code: 0, stderr: '' })
      expect(r.stdout, name).toMatch(new RegExp(`^Usage: ${name} `))
      expect(r.stdout, name).toMatch(/\nExamples:\n {2}\$ (eval "\$\()?bioxen-luavm /)
      const commands = /\nCommands:\n([\s\S]*?)(\n\n|$)/.exec(r.stdout)?.[1] ?? ''
      const subs = [...commands.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1] as string).filter((s) => s !== 'help')
      await Promise.all(subs.map((s) => walk([...path, s])))
    }
    await walk([])
    expect(seen.map((p) => p.join(' ')).sort()).toEqual(everyCommand.map((p) => p.join(' ')).sort())
  })

  it('help COMMAND prints what COMMAND --help prints', async () => {
    const [viaHelp, viaFlag] = await Promise.all([cli(['help', 'run']), cli(['run', '--help'])])
    expect(viaHelp).toEqual(viaFlag)
    expect(viaFlag.stdout).toContain('Exit status: 0 ok')
  })

  it('a usage error names the help of the command typed', async () => {
    const [option, argument, command, none] = await Promise.all([
      cli(['pkg', 'install', '--bogus', 'x']),
      cli(['env', 'show']),
      cli(['frobnicate']),
      cli([]),
    ])
    expectError(option, 2, "unknown option '--bogus'")
    expect(option.stderr).toContain('\nhint: `bioxen-luavm pkg install --help` shows usage and examples\n')
    expectError(argument, 2, "missing required argument 'name'")
    expect(argument.stderr).toContain('\nhint: `bioxen-luavm env show --help`')
    expectError(command, 2, "unknown command 'frobnicate'")
    expectError(none, 2, 'no command given (the interactive menu needs a terminal)')
  })

  it('NO_COLOR=1 on a colour terminal type: still no escape codes anywhere', async () => {
    const env = { NO_COLOR: '1', TERM: 'xterm-256color', COLORTERM: 'truecolor' }
    const runs = await Promise.all([
      cli(['backends'], { env }),
      cli(['run', '-e', 'error("red?")'], { env }),
      cli(['run', '--timeout', 'x', '-e', '1'], { env }),
      cli(['pkg', 'search', 'bio'], { env }),
      cli(['repl'], { env, input: 'print("hi")\nerror("no")\n' }),
      cli(['run', '--help'], { env }),
    ])
    // cli() rejects any ESC [; these must also have printed something to check.
    expect(runs.map((r) => r.code)).toEqual([0, 1, 2, 0, 1, 0])
    for (const r of runs) expect((r.stdout + r.stderr).length).toBeGreaterThan(0)
  })

  it('a reader that stops early (`| head`) ends the CLI quietly, exit 0', async () => {
    for (const backend of ['wasm', 'process']) {
      const child = execa(
        process.execPath,
        [bin, 'run', '--backend', backend, '-e', 'for i = 1, 1e6 do print(i) end'],
        {
          cwd,
          reject: false,
          extendEnv: false,
          env: { PATH: process.env.PATH, HOME: home, TMPDIR: tmp },
        },
      )
      child.stdout?.once('data', () => child.stdout?.destroy())
      const r = await child
      expect(r.stderr, backend).toBe('')
      expect(r.exitCode, backend).toBe(0)
    }
  })

  it('leaves nothing behind: no current-directory files, no temp entries, no Lua processes', async () => {
    expect(readdirSync(cwd)).toEqual([])
    expect(readdirSync(tmp)).toEqual([])
    expect(findLeaks(since, { root: process.pid, tmp })).toEqual([])
  })
})
