/**
 * Every usage example under examples/usage/ runs from source as a reader
 * would run it (`node scripts/run-ts.mjs …`), exits 0 and prints what it
 * promises. The xcpng example runs against the XAPI simulator and a real
 * throwaway sshd; the package example installs from a rock server built by
 * the test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildRockRepository, type RockRepository } from '../harness/rock-repo.js'
import { type SshdHarness, startSshd } from '../harness/sshd.js'
import { SIM_PASSWORD, simConfig, startSim } from '../xapi-sim/fixture.js'
import type { XapiSim } from '../xapi-sim/server.js'
import { describeRun, runExample } from './helpers.js'

/** Runs an example and expects exit 0 and every line in `expected` (exact lines). */
async function expectExample(entry: string, expected: readonly string[], args: readonly string[] = [], env = {}) {
  const run = await runExample(entry, args, { env })
  expect(run.code, describeRun(run)).toBe(0)
  const lines = run.stdout.split('\n')
  for (const line of expected) expect(lines, `${line}\n${describeRun(run)}`).toContain(line)
  return run
}

describe('examples/usage', () => {
  it('basic-execution: exact output, values, errors and limits on wasm and process', async () => {
    const expected = (tag: string) => [
      `[${tag}] exact output: "  padded  \\n\\n"`,
      `[${tag}] return 2 + 2 -> stdout "4\\n", values [4]`,
      `[${tag}] several values -> ["gc",0.5,{"bases":10,"gc":5},[1,2,3]]`,
      `[${tag}] runtime error -> status=error kind=runtime line=2`,
      `[${tag}]   message: demo.lua:2: attempt to index a nil value (local 't')`,
      `[${tag}] syntax error -> status=error kind=syntax line=1`,
      `[${tag}] throwOnError -> LuaRuntimeError (E_LUA_RUNTIME)`,
      `[${tag}] executeFile gc_content.lua -> overall GC content: 55.08%`,
      `[${tag}] timeout: status=timeout`,
      `[${tag}] after the timeout: ["still here"]`,
      `[${tag}] output cap: status=output-limit stdout="0123456789" truncated=true`,
      `[${tag}] memory cap: status=memory`,
    ]
    await expectExample('examples/usage/basic-execution.ts', [...expected('wasm'), ...expected('process'), 'done'])
  })

  it('managed-vms: VMManager execute, jobs, cancel, clusters, stats, shutdownAll', async () => {
    await expectExample('examples/usage/managed-vms.ts', [
      'duplicate id -> VMManagerError',
      'VMs: calc, native',
      'execute calc -> values [42], stdout "42\\n"',
      'execute native -> Lua 5.4',
      'jobs done -> 6765, 10946, 17711 (done, done, done)',
      'cancelled job -> job cancelled, result killed',
      'calc still works -> 55',
      'cluster workers: workers_000, workers_001, workers_002',
      '  workers_000 -> 5050',
      '  workers_001 -> 15050',
      '  workers_002 -> 25050',
      'cluster sum 1..300 = 45150',
      'glob broadcast -> 2 ok, 1 failed',
      'cleanupCluster removed 3 VMs',
      'after shutdownAll -> VMManagerError',
      'done',
    ])
  })

  it('interactive-session: framed REPL, multi-line input, readOutput until, attach/detach', async () => {
    const run = await expectExample('examples/usage/interactive-session.ts', [
      '> x                  complete "42\\n"',
      '> = x + 1            complete "43\\n"',
      '> function fact(n)             incomplete',
      '> end                          complete',
      '> fact(10)           complete "3628800\\n"',
      '> (three lines)      complete "2 * 3 = 6\\n"',
      '> error("oops")      error "chunk:1: oops\\n" session open',
      'readOutput until "ready" -> "tick 1\\ntick 2\\ntick 3\\nready\\n"',
      'input after close -> InteractiveSessionError',
      '[process] attached listener saw "attached, count = 1\\n"',
      '[process] while detached, readOutput -> "detached, count = 42\\n"',
      '[process] listener unchanged: yes',
      '[process] detach twice -> DetachError',
      '[process] after re-attach the listener saw "re-attached, count = 42\\n"',
      '[process] after terminateSession: VMs []',
      '[process] id reused -> "nil\\n"',
      'done',
    ])
    expect(run.stdout).toContain('[process] sessions: [{"vmId":"lab","attached":true,"state":"open"}]')
  })

  describe('package-management', () => {
    let rocks: RockRepository | undefined

    beforeAll(async () => {
      rocks = await buildRockRepository()
    })
    afterAll(() => rocks?.cleanup())

    it('searches the catalog without a rock server', async () => {
      const run = await expectExample('examples/usage/package-management.ts', [
        'search "json": lua-cjson (C), dkjson (pure Lua)',
        'search "sequence": bio_compute',
        'install order for penlight: luafilesystem -> penlight',
        'own catalog profile "lab": bio_compute',
        'no rock server given: skipping installs (pass a rock server directory to install bio_compute)',
        'done',
      ])
      expect(run.stdout).toMatch(/^ {2}bio {10}bio_compute, dkjson, inspect$/m)
      expect(run.stdout).toMatch(/^recommended next: (?!.*bio_compute)/m)
    })

    it('installs bio_compute from a local rock server into a process VM and requires it', async () => {
      await expectExample(
        'examples/usage/package-management.ts',
        [
          '[process] bio_compute: installed',
          '[process] require("bio_compute") -> version 0.1.0, gc_content("ATGCGC") = 0.6666666666666666',
          'done',
        ],
        [rocks!.dir],
      )
    })
  })

  it('networked: echo server and clients on 127.0.0.1 through LuaSocket templates', async () => {
    const run = await expectExample('examples/usage/networked.ts', [
      'client 1: status=ok greeting="Hello from Lua Server! What\'s your message?" reply="echo: hello"',
      'client 2: status=ok greeting="Hello from Lua Server! What\'s your message?" reply="echo: a \\"quoted\\" message; os.exit() -- stays text"',
      'server finished: status=ok clients=2 messages=2',
      'greeting matches SERVER_GREETING: true',
      'hostile host -> NetworkingError',
      'privileged port -> NetworkingError',
      'done',
    ])
    expect(run.stdout).toMatch(/^ {2}server\| Lua Server: Listening on 127\.0\.0\.1:\d+\.\.\.$/m)
  })

  describe('xcpng-execution against the XAPI simulator and a real sshd', () => {
    let sim: XapiSim | undefined
    let sshd: SshdHarness | undefined
    let dir: string | undefined

    beforeAll(async () => {
      sshd = await startSshd()
      sim = await startSim()
      dir = mkdtempSync(join(tmpdir(), 'luavm-example-xcpng-'))
    })

    afterAll(async () => {
      await sim?.close()
      await sshd?.stop()
      if (dir) rmSync(dir, { recursive: true, force: true })
    })

    it('provisions a guest from a config file, runs Lua, stops, leaves nothing behind', async () => {
      // The file carries no secret: the password comes from XCPNG_PASSWORD,
      // and the SSH key is referenced by path, as docs/xcpng.md recommends.
      const { password: _password, ssh_private_key: _key, ...fileConfig } = simConfig(sim!, sshd!)
      const configPath = join(dir!, 'xcpng_config.json')
      writeFileSync(configPath, JSON.stringify({ ...fileConfig, ssh_key_path: sshd!.privateKeyPath }, null, 2))

      const run = await expectExample(
        'examples/usage/xcpng-execution.ts',
        [
          'execute -> stdout "hello from the guest\\nLua 5.4\\t42\\n" values ["Lua 5.4",42]',
          'gc content on the guest -> 0.5',
          'lua error -> status=error message=remote.lua:1: remote failure',
          'timeout -> status=timeout',
          'after the timeout -> 2',
          'stopped: state=stopped',
          'done',
        ],
        [configPath, 'example-vm'],
        { XCPNG_PASSWORD: SIM_PASSWORD },
      )
      expect(run.stdout).toContain('"password":"[redacted]"')
      expect(run.stdout).toMatch(/^running: state=running lua=Lua 5\.4 power=Running$/m)
      expect(run.stdout + run.stderr, 'the password never appears in output').not.toContain(SIM_PASSWORD)
      expect(sim!.leaks(), 'the example destroyed what it created').toEqual([])
    })
  })
})
