/**
 * Hostile rock servers (issue 13, point 1): manifests, rockspecs and
 * responses crafted to make the host do unbounded work or hold unbounded
 * memory while the wasm/fengari installer reads them on the host thread.
 * Each must end in a PackageError naming the budget and the file, within
 * the install's timeoutMs, with the event loop never stalled for long and
 * the heap not blown up; a real-sized plain manifest must still install.
 * The sandbox kinds only: the process kinds install with luarocks in a
 * child process, whose deadline, group kill and output cap are tested in
 * packages/backend-process/test/local-runner.test.ts.
 */
import { shutdownWorkers } from '@bioxen-luavm/backend-wasm'
import { type BaseLuaVM, PackageError } from '@bioxen-luavm/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { guardHost, SANDBOX_KINDS, startVM } from './support/host-guard.js'
import {
  type CraftedRockServer,
  endless,
  manifestOf,
  type Route,
  silent,
  startRockServer,
  storedZip,
  trickle,
} from './support/rock-server.js'

const MiB = 1024 * 1024
/** Deadline of the installs that must end on a budget, not on time. */
const BUDGET_TIMEOUT_MS = 30_000
/** Deadline of the installs a slow server makes wait. */
const SLOW_TIMEOUT_MS = 2_000

const plain = (name: string, arch = 'all') => manifestOf({ [name]: { '1.0-1': arch } })
const doublings = (n: number) => ['local s = "x"', ...Array.from({ length: n }, () => 's = s .. s')].join('\n')
const rockspec = (name: string, body: string) =>
  `package = "${name}"\nversion = "1.0-1"\nsource = { url = "x.lua" }\n${body}\nbuild = { type = "builtin", modules = { ${name} = "x.lua" } }\n`
const srcRock = (name: string, spec: string) =>
  storedZip({ [`${name}-1.0-1.rockspec`]: spec, 'x.lua': 'return { ok = true }\n' })

// Each case: what the server serves under /<case>/, and what the install must end with.
const CASES: Array<{ name: string; files: Record<string, Route>; error: RegExp; timeoutMs?: number }> = [
  {
    name: 'a manifest that doubles a string thirty times',
    files: { manifest: `${doublings(30)}\nsize = #s\n${plain('evil')}` },
    error: /maxStringLength.*|manifest.*maxStringLength/s,
  },
  {
    name: "a manifest that takes a 1 MiB string's length again and again",
    files: {
      manifest: `${doublings(20)}\nn = ${Array.from({ length: 400 }, () => '#s').join(' + ')}\n${plain('evil')}`,
    },
    error: /budget baseWork/,
  },
  {
    name: 'a manifest that keeps many large strings alive',
    files: {
      manifest: `${doublings(19)}\n${Array.from({ length: 64 }, (_, k) => `a${k} = s .. s`).join('\n')}\n${plain('evil')}`,
    },
    error: /budget maxBuiltLength/,
  },
  {
    name: 'a manifest of deeply nested tables',
    files: { manifest: `repository = ${'{'.repeat(100_000)}` },
    error: /budget maxDepth/,
  },
  {
    name: 'a manifest of millions of tiny tables',
    files: { manifest: `repository = { ${'{},'.repeat(1_000_000)} }` },
    error: /budget maxNodes/,
  },
  {
    name: 'a manifest that shares one big table a thousand times',
    files: {
      manifest: `local v = { ${'{ arch = "all" },'.repeat(1000)} }\nrepository = { ${Array.from({ length: 1000 }, (_, k) => `r${k} = { ["1.0-1"] = v },`).join(' ')} }`,
    },
    error: /stored in only one table/,
  },
  {
    name: 'a manifest that lists one rock in 20 000 versions',
    files: {
      manifest: `repository = { evil = { ${Array.from({ length: 20_000 }, (_, k) => `["${k}.0-1"] = { { arch = "all" } },`).join(' ')} } }`,
    },
    error: /lists 20000 versions, over the limit of 10000/,
  },
  {
    name: 'a rockspec with thousands of long dependencies',
    files: {
      manifest: plain('evil', 'src'),
      'evil-1.0-1.src.rock': srcRock(
        'evil',
        rockspec('evil', `local d = "dep >= ${'1.'.repeat(500)}1"\ndependencies = { ${'d, '.repeat(5000)} }`),
      ),
    },
    error: /evil-1\.0-1\.src\.rock: lists 5000 dependencies, over the limit of 256/,
  },
  {
    name: 'a manifest larger than the cap',
    files: { manifest: endless('-- padding padding padding padding padding padding padding padding\n'.repeat(1000)) },
    error: /manifest-5\.\d is larger than 16777216 bytes/,
  },
  {
    name: 'a manifest response that trickles forever',
    files: { manifest: trickle('repository = {', 100) },
    error: /timed out after 2000 ms/,
    timeoutMs: SLOW_TIMEOUT_MS,
  },
  {
    name: 'a server that never answers',
    files: { manifest: silent },
    error: /timed out after 2000 ms/,
    timeoutMs: SLOW_TIMEOUT_MS,
  },
  {
    name: 'a rockspec that doubles a string thirty times',
    files: { manifest: plain('evil', 'src'), 'evil-1.0-1.src.rock': srcRock('evil', rockspec('evil', doublings(30))) },
    error: /evil-1\.0-1\.rockspec.*budget maxStringLength/,
  },
  {
    name: "a rockspec that takes a 1 MiB string's length again and again",
    files: {
      manifest: plain('evil', 'src'),
      'evil-1.0-1.src.rock': srcRock(
        'evil',
        rockspec('evil', `${doublings(20)}\nn = ${Array.from({ length: 400 }, () => '#s').join(' + ')}`),
      ),
    },
    error: /evil-1\.0-1\.rockspec.*budget baseWork/,
  },
  {
    name: 'a rockspec larger than the cap',
    files: {
      manifest: plain('evil', 'src'),
      'evil-1.0-1.src.rock': srcRock('evil', rockspec('evil', `-- ${'x'.repeat(2 * MiB)}`)),
    },
    error: /evil-1\.0-1\.rockspec is larger than 1048576 bytes/,
  },
  {
    name: 'a rock response that never ends',
    files: { manifest: plain('evil'), 'evil-1.0-1.all.rock': endless('PK'.repeat(32 * 1024)) },
    error: /evil-1\.0-1\.all\.rock is larger than 33554432 bytes/,
  },
  {
    name: 'a rock response that trickles forever',
    files: { manifest: plain('evil'), 'evil-1.0-1.all.rock': trickle('PK', 100) },
    error: /timed out after 2000 ms/,
    timeoutMs: SLOW_TIMEOUT_MS,
  },
]

let server: CraftedRockServer

beforeAll(async () => {
  server = await startRockServer()
  for (const [k, c] of CASES.entries()) {
    for (const [file, route] of Object.entries(c.files)) {
      if (file === 'manifest') {
        for (const name of ['manifest-5.4', 'manifest-5.3']) server.set(`/case${k}/${name}`, route)
      } else server.set(`/case${k}/${file}`, route)
    }
  }
  // A real-sized plain manifest (about 5 MiB, like luarocks.org's) listing a real rock among 60 000 others.
  const rocks: Record<string, Record<string, string>> = {}
  for (let r = 0; r < 5000; r++) {
    rocks[`rock-${r}`] = Object.fromEntries(Array.from({ length: 12 }, (_, v) => [`${v}.${r % 10}.0-1`, 'src']))
  }
  rocks.demo = { '1.0-1': 'all' }
  const big = manifestOf(rocks)
  expect(big.length).toBeGreaterThan(4 * MiB)
  for (const name of ['manifest-5.4', 'manifest-5.3']) server.set(`/real/${name}`, big)
  server.set('/real/demo-1.0-1.all.rock', storedZip({ 'lua/demo.lua': 'return { answer = 42 }\n' }))
})

afterAll(async () => {
  await shutdownWorkers()
  await server?.close()
})

describe.each(SANDBOX_KINDS)('$name: hostile rock servers', (kind) => {
  let vm: BaseLuaVM

  beforeAll(async () => {
    vm = await startVM(kind)
  })

  afterAll(async () => {
    await vm?.stop({ force: true })
  })

  it.each(CASES.map((c, k) => ({ ...c, k })))(
    '$name ends in a PackageError, the host unharmed',
    async ({ k, error, timeoutMs = BUDGET_TIMEOUT_MS }) => {
      const base = `${server.url}/case${k}`
      const guard = guardHost()
      const started = performance.now()
      const result = await vm.installPackage('evil', { servers: [base], timeoutMs }).then(
        () => new Error('installed'),
        (e: unknown) => e,
      )
      const elapsed = performance.now() - started
      const host = guard.stop()
      expect(result).toBeInstanceOf(PackageError)
      expect((result as Error).message).toMatch(error)
      // The message names the file, and stays a message (no megabytes of server data in it).
      expect((result as Error).message).toMatch(/evil|manifest/)
      expect((result as Error).message.length).toBeLessThan(4096)
      expect(elapsed).toBeLessThan(timeoutMs + 5_000)
      expect(host.maxLoopDelayMs).toBeLessThan(Math.min(timeoutMs, 5_000))
      expect(host.heapGrowthBytes).toBeLessThan(256 * MiB)
      // The VM is unharmed too.
      const r = await vm.execute('return 1 + 1')
      expect(r.values).toEqual([2])
    },
    60_000,
  )

  it('a real-sized plain manifest (5 MiB) still installs', async () => {
    const guard = guardHost()
    const r = await vm.installPackage('demo', { servers: [`${server.url}/real`], timeoutMs: 120_000 })
    const host = guard.stop()
    expect(r).toMatchObject({ name: 'demo', version: '1.0-1', modules: ['demo'] })
    expect((await vm.execute("return require('demo').answer")).values).toEqual([42])
    expect(host.heapGrowthBytes).toBeLessThan(512 * MiB)
    // Read in slices of ~10 ms: the event loop gets its turns (generous: the machine may be saturated).
    expect(host.maxLoopDelayMs).toBeLessThan(1_500)
  }, 120_000)
})
