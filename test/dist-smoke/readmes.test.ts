/**
 * The README files of the repository and of each published package, run.
 *
 * Install lines run with a test `npm` that links the built workspace
 * package (and fails for any name this repository does not publish;
 * tarballs.test.ts installs the real tarballs); the usage blocks then run in
 * that directory and print what their comments say. The root README's
 * quick start runs scripts/quickstart.sh in a view of the repository, with
 * `pnpm` recording instead of installing and building (the test's own build
 * is what it would make); its second command is what .ci/run runs.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildRockRepository, type RockRepository } from '../harness/rock-repo.js'
import { type Env, SIM_PASSWORD, startEnv } from '../xapi-sim/fixture.js'
import {
  Doc,
  type DocBlock,
  jsLiteral,
  makeSandbox,
  npmInstalls,
  run,
  runProgram,
  runShell,
  type Sandbox,
  substitute,
  typecheck,
  workspacePackages,
} from './docs-blocks.js'
import { packages, root } from './packages.js'
import { Terminal } from './tmux.js'

const readme = Doc.at('README.md')
const quickStart = readme.take('sh', 'scripts/quickstart.sh')
const readmeTs = readme.take('ts', "registry.create('wasm')")
const readmeCli = readme.take('sh', 'bioxen-luavm run -e \'print("hello")\'')
const readmeMenu = readme.take('text', 'What do you want to do?')

const core = Doc.at('packages/core/README.md')
const coreInstall = core.take('sh', 'npm install')
const coreTs = core.take('ts', 'BackendRegistry')

const wasm = Doc.at('packages/backend-wasm/README.md')
const wasmInstall = wasm.take('sh', 'npm install')
const wasmUsage = wasm.take('ts', 'fengariBackend, wasmBackend')
const wasmHost = wasm.take('ts', 'createWasmBackend')
const wasmPackages = wasm.take('ts', "installPackage('seq_report')")

const proc = Doc.at('packages/backend-process/README.md')
const procInstall = proc.take('sh', 'npm install')
const procTs = proc.take('ts', 'processBackend')

const xcpng = Doc.at('packages/backend-xcpng/README.md')
const xcpngInstall = xcpng.take('sh', 'npm install')
const xcpngTs = xcpng.take('ts', 'xcpngBackend')

const cli = Doc.at('packages/cli/README.md')
const cliRun = cli.take('sh', 'npm install -g @bioxen-luavm/cli')
const cliEnv = cli.take('sh', 'bioxen-luavm env create')

let sandbox: Sandbox
let rocks: RockRepository
beforeAll(async () => {
  sandbox = makeSandbox()
  rocks = await buildRockRepository()
}, 120_000)
afterAll(() => {
  rocks?.cleanup()
  sandbox?.cleanup()
})

/** The comment at the end of the block's line containing `marker`. */
function comment(block: DocBlock, marker: string): string {
  const line = block.code.split('\n').find((l) => l.includes(marker))
  const text = line?.split(/\/\/ /).slice(1).join('// ')
  if (!text) throw new Error(`no commented line with ${marker} in:\n${block.code}`)
  return text.trim()
}

/** Runs an install block in a fresh project directory (after `npm init`), then a program there. */
async function installThenRun(
  name: string,
  installBlock: DocBlock,
  program: string,
  extraEnv: Record<string, string> = {},
) {
  const home = sandbox.home(name)
  const project = join(home, 'project')
  mkdirSync(project)
  const env = sandbox.env(home, extraEnv)
  const init = await run('npm', ['init', '-y'], { cwd: project, env })
  expect(init.code, init.stderr).toBe(0)
  const installs = installBlock.code
    .split('\n')
    .filter((l) => l.startsWith('npm '))
    .join('\n')
  const installed = await runShell(installs, { cwd: project, env })
  expect(installed.failure, installed.stderr).toBeUndefined()
  const r = await runProgram(sandbox, name, program, { cwd: project, env, dir: project })
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  return { ...r, project, home }
}

/** Each npm install of the block names published packages that it installs into the project. */
function expectPublished(block: DocBlock, expected: string[][]) {
  const names = npmInstalls(block.code).map((i) => i.names)
  expect(names).toEqual(expected)
  const published = packages.map((p) => p.name) as string[]
  for (const name of names.flat()) {
    expect(published, name).toContain(name)
    expect(workspacePackages().get(name)?.manifest.private, name).toBeUndefined()
  }
}

describe('README.md', () => {
  it('Quick start 1: scripts/quickstart.sh sets up and runs the program through the CLI on wasm', async () => {
    const view = sandbox.checkout()
    const home = sandbox.home('quickstart')
    const bin = join(home, 'bin')
    mkdirSync(bin)
    const calls = join(home, 'calls.txt')
    // pnpm answers its version and records the rest; the tools setup.sh must not need without --tests fail loudly.
    const realPnpm = (process.env.PATH ?? '')
      .split(':')
      .map((d) => join(d, 'pnpm'))
      .find((f) => existsSync(f))
    expect(realPnpm).toBeDefined()
    writeFileSync(
      join(bin, 'pnpm'),
      `#!/bin/sh\nif [ "$1" = --version ]; then exec ${realPnpm} --version; fi\necho "pnpm $*" >> ${calls}\n`,
      { mode: 0o755 },
    )
    for (const tool of ['npm', 'apt-get', 'sudo', 'dpkg-query']) {
      writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> ${calls}\nexit 1\n`, { mode: 0o755 })
    }
    const env = sandbox.env(home)
    env.PATH = `${bin}:${env.PATH}`
    const [first, second] = quickStart.code.split('\n').filter((l) => l.trim() && !l.startsWith('#'))
    expect(first).toBe('bash scripts/quickstart.sh examples/lua/gc_content.lua')
    const r = await runShell(first as string, { cwd: view, env, timeoutMs: 60_000 })
    expect(r.failure, `${r.stdout}\n${r.stderr}`).toBeUndefined()
    // "install, build": setup.sh installs the workspace and builds the packages, nothing from apt.
    const build = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.build as string
    expect(readFileSync(calls, 'utf8').split('\n').filter(Boolean)).toEqual([
      'pnpm install --reporter=silent',
      build.replaceAll("'", ''),
    ])
    // "…and run a Lua program through the CLI on the embedded WASM backend": what native Lua prints.
    const native = await run('lua5.4', ['examples/lua/gc_content.lua'], { cwd: root, env: sandbox.env(home) })
    expect(native.stdout).toMatch(/^overall GC content: \d+\.\d\d%$/m)
    expect(r.lines[0]?.stdout).toBe(native.stdout)
    expect(r.lines[0]?.stderr).toContain('$ bioxen-luavm run examples/lua/gc_content.lua\n')
    expect(readFileSync(join(root, 'scripts', 'quickstart.sh'), 'utf8')).toMatch(/run --backend wasm "\$program"\n$/)

    // Quick start 2 is the whole test suite, so CI cannot run it from inside itself: it is what CI runs.
    expect(second).toBe('bash scripts/test.sh')
    const ci = readFileSync(join(root, '.ci', 'run'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'))
    expect(ci.at(-1)).toBe(`exec ${second}`)
    // "install everything the tests need (pnpm, Debian's lua5.4, luarocks, sshd, chromium, …)"
    expect(readFileSync(join(root, 'scripts', 'test.sh'), 'utf8')).toContain('bash scripts/setup.sh --tests')
    const apt = /APT_PACKAGES=\(([^)]*)\)/.exec(readFileSync(join(root, 'scripts', 'setup.sh'), 'utf8'))?.[1]
    for (const p of ['lua5.4', 'luarocks', 'openssh-server', 'chromium']) expect(apt?.split(' '), p).toContain(p)
  })

  it('the TypeScript block prints exact bytes and returns [4]; its status list is ExecStatus', async () => {
    const r = await runProgram(
      sandbox,
      'readme',
      `${readmeTs.code}console.log(result.stdout, result.values, result.status)\n`,
      {
        cwd: sandbox.dir,
        env: sandbox.env(sandbox.home('readme')),
      },
    )
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const stdout = jsLiteral(comment(readmeTs, 'result.stdout').split('  —')[0] as string)
    const values = jsLiteral(comment(readmeTs, 'result.values'))
    const statuses = comment(readmeTs, 'result.status').split(' | ')
    expect(r.logs.map((l) => l.args)).toEqual([[stdout, values, jsLiteral(statuses[0] as string)]])
    // The union in the comment is core's ExecStatus, no more, no less.
    const check = `import type { ExecStatus } from '@bioxen-luavm/core'
type Documented = ${statuses.join(' | ')}
export const same: [Documented] extends [ExecStatus] ? ([ExecStatus] extends [Documented] ? true : false) : false = true
`
    expect(typecheck(sandbox, { 'readme-status': check, readme: readmeTs.code })).toBe('')
  })

  it('The CLI: the three commands print what they say; the exit statuses are the documented ones', async () => {
    const home = sandbox.home('readme-cli')
    writeFileSync(join(home, 'script.lua'), 'print(("GC %d%%"):format(50))\n')
    const r = await runShell(readmeCli.code, { cwd: home, env: sandbox.env(home) })
    expect(r.failure, r.stderr).toBeUndefined()
    expect(r.lines.map((l) => l.stdout)).toEqual(['hello\n', 'GC 50%\n', expect.any(String)])
    expect(JSON.parse(r.lines[2]?.stdout as string)).toMatchObject({
      status: 'ok',
      stdout: '42\n',
      values: [42],
      backend: 'wasm',
    })
    // "Exit status: 0 ok, 1 Lua error, 2 usage or configuration error, 3 timeout / memory / output limit / cancelled"
    const statuses = await runShell(
      [
        `bioxen-luavm run -e 'error("boom")'   # exit 1`,
        'bioxen-luavm run --no-such-flag   # exit 2',
        `bioxen-luavm run --timeout 200 -e 'while true do end'   # exit 3`,
        `bioxen-luavm run --max-output 10 -e 'print(("x"):rep(100))'   # exit 3`,
      ].join('\n'),
      { cwd: home, env: sandbox.env(home) },
    )
    expect(statuses.failure, statuses.stderr).toBeUndefined()
    expect(readme.text).toMatch(/Exit status: 0 ok, 1 Lua error, 2 usage or configuration error, 3 timeout \/\nmemory/)
  })

  it('the menu shown is the menu a terminal gets', async () => {
    const home = sandbox.home('menu')
    const term = new Terminal(['node', join(root, 'packages', 'cli', 'dist', 'bin.js')], {
      env: {
        HOME: home,
        XDG_CONFIG_HOME: join(home, '.config'),
        XDG_DATA_HOME: join(home, '.local', 'share'),
        NO_COLOR: '1',
      },
    })
    try {
      const screen = await term.waitFor(/navigate/)
      const lines = (text: string) =>
        text
          .split('\n')
          .map((l) => l.trimEnd())
          .filter(Boolean)
      expect(lines(screen)).toEqual(lines(readmeMenu.code))
    } finally {
      term.kill()
    }
  })

  it('runs every ts and sh block of the page', () => {
    expect(readme.unverified()).toEqual([])
  })
})

describe('packages/core/README.md', () => {
  it('installs, then runs the example: "4\\n", [4], \'ok\'', async () => {
    expectPublished(coreInstall, [['@bioxen-luavm/core', '@bioxen-luavm/backend-wasm']])
    const r = await installThenRun('core', coreInstall, `${coreTs.code}console.log(stdout, values, status)\n`)
    expect(r.logs.map((l) => l.args)).toEqual([jsLiteral(`[${comment(coreTs, 'vm.execute(')}]`)])
    expect(JSON.parse(readFileSync(join(r.project, 'package.json'), 'utf8')).dependencies).toEqual({
      '@bioxen-luavm/core': '^0.1.0',
      '@bioxen-luavm/backend-wasm': '^0.1.0',
    })
  })

  it('its code type-checks; every block is run', () => {
    expect(typecheck(sandbox, { core: coreTs.code })).toBe('')
    expect(core.unverified()).toEqual([])
  })
})

describe('packages/backend-wasm/README.md', () => {
  it('Usage and host functions (one program): what the comments say', async () => {
    expectPublished(wasmInstall, [['@bioxen-luavm/core', '@bioxen-luavm/backend-wasm']])
    const program = `${wasmUsage.code}
console.log(r.status, r.stdout, r.values)
${substitute(wasmHost.code, {
  'await direct.reset()': `await direct.execute('x = 1')
console.log((await direct.execute('return x, require("stats").mean({ 1, 2, 3 })')).values)
await direct.reset()`,
})}
console.log(m.values)
console.log((await direct.execute('return x, require("stats").mean({ 2, 4 })')).values)
// The registry's wasm descriptor was replaced: its VMs get the host function.
await using other = await registry.create('wasm', 'vm-2')
console.log((await other.execute('return host.fetchSequence("NM_000546").bases')).values)
`
    const r = await installThenRun('wasm', wasmInstall, program)
    const claims = comment(wasmUsage, 'r.status')
      .split(', r.')
      .map((c) => c.replace(/^r\./, ''))
    const documented = claims.map((c) => jsLiteral(c.slice(c.indexOf(' ') + 1)))
    expect(claims.map((c) => c.split(' ')[0])).toEqual(['status', 'stdout', 'values'])
    expect(r.logs.map((l) => l.args)).toEqual([
      documented,
      [[1, 2]],
      [jsLiteral(comment(wasmHost, 'm.values').replace('m.values ', ''))],
      // "globals gone, mounted modules stay"
      [[null, 3]],
      [['ATGGAGGAGCCGCAG']],
    ])
  })

  it('Packages: installs seq_report with bio_compute from a rock server; the result is as shown', async () => {
    const program = `${substitute(wasmPackages.code, { '/srv/rocks': rocks.dir })}
console.log(r)
console.log((await vm.execute("return require('seq_report').report('ATGC')")).values)
console.log(Object.keys((await vm.getStatus()).details.packages).sort())
`
    const r = await installThenRun('wasm-packages', wasmInstall, program)
    const [result, report, installed] = r.logs.map((l) => l.args[0]) as [Record<string, unknown>, unknown, unknown]
    // r: { name: 'seq_report', version: '0.1.0-1', success: true, location: 'vm', modules: ['seq_report'], log }
    expect(result).toMatchObject({
      name: 'seq_report',
      version: '0.1.0-1',
      success: true,
      location: 'vm',
      modules: ['seq_report'],
    })
    expect(result).toHaveProperty('log')
    expect(report).toEqual(['len=4 gc=0.50 revcomp=GCAT'])
    expect(installed).toEqual(['bio_compute', 'seq_report', 'versioned_mod'])
  })

  it('its code type-checks; every block is run', () => {
    expect(
      typecheck(sandbox, {
        'wasm-usage': `${wasmUsage.code}\n${wasmHost.code}`,
        'wasm-packages': wasmPackages.code,
      }),
    ).toBe('')
    expect(wasm.unverified()).toEqual([])
  })
})

describe('packages/backend-process/README.md', () => {
  it('Install: the Debian packages named are the ones the interpreters and prlimit come from', async () => {
    expectPublished(procInstall, [['@bioxen-luavm/core', '@bioxen-luavm/backend-process']])
    const apt = [...procInstall.code.matchAll(/^apt-get install (\S+)/gm)].map((m) => m[1] as string)
    expect(apt).toEqual(['lua5.4', 'lua-socket'])
    const home = sandbox.home('apt')
    // The whole block, with apt-get simulating (CI is no root with a network): each package is already installed.
    const r = await runShell(`apt-get() { command apt-get --simulate "$@"; }\n${procInstall.code}`, {
      cwd: home,
      env: sandbox.env(home),
    })
    expect(r.failure, `${r.stdout}\n${r.stderr}`).toBeUndefined()
    expect(r.lines.map((l) => l.command.split(' ').slice(0, 2).join(' '))).toEqual([
      'apt-get() {',
      'npm install',
      'apt-get install',
      'apt-get install',
    ])
    expect(r.lines[2]?.stdout).toMatch(/^lua5\.4 is already the newest version/m)
    expect(r.lines[3]?.stdout).toMatch(/^lua-socket is already the newest version/m)
    const setup = /APT_PACKAGES=\(([^)]*)\)/.exec(readFileSync(join(root, 'scripts', 'setup.sh'), 'utf8'))?.[1]
    for (const p of [...apt, 'util-linux']) expect(setup?.split(' '), p).toContain(p)
    // "prlimit (memory limits) comes with util-linux"
    const owner = await run('sh', ['-c', 'dpkg -S "$(command -v prlimit)"'], { cwd: home, env: sandbox.env(home) })
    expect(owner.stdout).toMatch(/^util-linux: /)
  })

  it('the example runs on lua5.4 as commented; the other interpreters named work too', async () => {
    const others = ['lua5.1', 'lua5.3', 'luajit']
    const program = `${procTs.code}
console.log(r.stdout, r.values, r.luaVersion, r.status)
for (const luaExecutable of ${JSON.stringify(others)}) {
  await using other = await registry.create('process', luaExecutable, { luaExecutable })
  console.log((await other.execute('return 6 * 7')).values, other.luaVersion)
}
`
    const r = await installThenRun('process', procInstall, program)
    const claims = Object.fromEntries(
      comment(procTs, 'r.stdout ===')
        .split(', ')
        .map((c) => /^r\.(\w+) === (.*)$/.exec(c)?.slice(1) as [string, string])
        .map(([k, v]) => [k, jsLiteral(v)]),
    )
    expect(r.logs[0]?.args).toEqual([claims.stdout, claims.values, claims.luaVersion, claims.status])
    expect(r.logs.slice(1).map((l) => l.args)).toEqual([
      [[42], 'Lua 5.1'],
      [[42], 'Lua 5.3'],
      [[42], expect.stringMatching(/^LuaJIT 2\./)],
    ])
    expect(proc.text).toContain('any of lua5.1 … lua5.4 or luajit works')
  })

  it('its code type-checks; every block is run', () => {
    expect(typecheck(sandbox, { process: procTs.code })).toBe('')
    expect(proc.unverified()).toEqual([])
  })
})

describe('packages/backend-xcpng/README.md', () => {
  let env: Env
  beforeAll(async () => {
    env = await startEnv()
  }, 120_000)
  afterAll(async () => {
    await env?.stop()
  })

  it('the example provisions a VM on the (simulated) pool and runs 2 + 2 on it', async () => {
    expectPublished(xcpngInstall, [['@bioxen-luavm/core', '@bioxen-luavm/backend-xcpng']])
    const home = sandbox.home('xcpng-home')
    // "ssh_key_path: '~/.ssh/id_ed25519'" in the program's HOME.
    mkdirSync(join(home, '.ssh'), { mode: 0o700 })
    copyFileSync(env.sshd.privateKeyPath, join(home, '.ssh', 'id_ed25519'))
    // The simulator and the test sshd stand in for the pool and the template's guest.
    const program = `${substitute(xcpngTs.code, {
      "'https://xcp-master.example/'": JSON.stringify(env.sim.url),
      "'3A:9F:…:C4'": JSON.stringify(env.sim.fingerprint),
      "'SHA256:q7m…'": JSON.stringify(env.sshd.hostKeyFingerprint),
      "ssh_user: 'luavm',": `ssh_user: ${JSON.stringify(env.sshd.user)}, ssh_port: ${env.sshd.port}, boot_timeout_ms: 20_000,`,
    })}console.log(r.stdout, (await vm.getStatus()).details)\n`
    const r = await installThenRun('xcpng', xcpngInstall, program, { HOME: home, XCPNG_PASSWORD: SIM_PASSWORD })
    expect(r.logs[0]?.args[0]).toBe(jsLiteral(comment(xcpngTs, 'r.stdout')))
    // vm_memory: '2GB' (binary units), vm_vcpus: 2, template 'debian-lua'
    expect(r.logs[0]?.args[1]).toMatchObject({ owned: true, memoryBytes: 2 * 1024 ** 3, vcpus: 2 })
    // `await using` stopped it: nothing left on the pool, no session, nothing on the guest.
    expect(env.sim.leaks()).toEqual([])
    expect(env.sim.sessions()).toEqual([])
    expect(await env.sshd.userProcesses()).toEqual([])
  })

  it('its code type-checks; every block is run', () => {
    expect(typecheck(sandbox, { xcpng: xcpngTs.code })).toBe('')
    expect(xcpng.unverified()).toEqual([])
  })
})

describe('packages/cli/README.md', () => {
  it('the global install and the run commands', async () => {
    expectPublished(cliRun, [['@bioxen-luavm/cli']])
    expect(npmInstalls(cliRun.code)[0]?.global).toBe(true)
    const home = sandbox.home('cli-run')
    writeFileSync(join(home, 'script.lua'), 'print(#"ATGC")\n')
    const r = await runShell(cliRun.code, { cwd: home, env: sandbox.env(home) })
    expect(r.failure, r.stderr).toBeUndefined()
    expect(r.lines.map((l) => l.stdout)).toEqual([
      'added 1 package\n',
      'hello from the WebAssembly sandbox\n',
      '4\n',
      expect.stringContaining('"values":[42]'),
      '1\n',
      '4\n',
    ])
  })

  it('the environment commands, against a local rock server', async () => {
    const home = sandbox.home('cli-env')
    const r = await runShell(substitute(cliEnv.code, { '/srv/rocks': rocks.dir }), {
      cwd: home,
      env: sandbox.env(home),
    })
    expect(r.failure, `${r.stdout}\n${r.stderr}`).toBeUndefined()
    const out = (i: number) => `${r.lines[i]?.stdout}${r.lines[i]?.stderr}`
    expect(out(1)).toMatch(/^installed seq_report 0\.1\.0-1 into environment 'bio'/)
    expect(out(2)).toMatch(/^installed versioned_mod 1\.0-1 into environment 'bio'/)
    // "+ bio_compute, its dependency"
    expect(r.lines[3]?.stdout.split('\n').map((l) => l.split(/ +/))).toEqual([
      ['ENV', 'LUA', 'NAME', 'VERSION', 'MODULES', 'HOW'],
      ['bio', '5.4', 'bio_compute', '0.1.0-1', 'bio_compute', 'dependency'],
      ['bio', '5.4', 'seq_report', '0.1.0-1', 'seq_report', 'asked'],
      ['bio', '5.4', 'versioned_mod', '1.0-1', 'versioned_mod', 'asked'],
      [''],
    ])
    expect(out(4)).toMatch(/\nhealthy\n$/)
    // "exit 1 when a module does not load": break one and ask again.
    const broken = await runShell(
      `echo 'error("broken")' > "$(find ~/.local/share/bioxen-luavm/envs/bio -name versioned_mod.lua)"
bioxen-luavm env health bio   # exit 1`,
      { cwd: home, env: sandbox.env(home) },
    )
    expect(broken.failure, broken.stderr).toBeUndefined()
    expect(cli.text).toMatch(/`1` Lua error \(or `env health`: unhealthy\)/)
  })

  it('every block is run', () => {
    expect(cli.unverified()).toEqual([])
  })
})
