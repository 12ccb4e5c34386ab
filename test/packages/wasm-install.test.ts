/**
 * installPackage on the wasm and fengari backends: rocks from an offline
 * rock server (a local directory, or the same directory over HTTP) or from
 * bytes the host gives, unpacked in memory and mounted into the VM.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { processBackend } from '@bioxen-luavm/backend-process'
import { fengariBackend, shutdownWorkers, wasmBackend } from '@bioxen-luavm/backend-wasm'
import {
  BackendRegistry,
  type BaseLuaVM,
  InvalidArgumentError,
  PackageError,
  PackageInstaller,
} from '@bioxen-luavm/core'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildRockRepository, type RockRepository } from '../harness/rock-repo.js'
import { fixtureCatalog } from './helpers.js'

const COMBOS = [
  { type: 'wasm', isolation: 'worker' },
  { type: 'wasm', isolation: 'inline' },
  { type: 'fengari', isolation: 'worker' },
  { type: 'fengari', isolation: 'inline' },
] as const

let repo: RockRepository
let repoListing: string[]
let http: { server: Server; url: string; requests: string[]; delayMs: number }
const registry = new BackendRegistry().register(wasmBackend).register(fengariBackend).register(processBackend)
const vms: BaseLuaVM[] = []
let n = 0

async function vm(type: string, config: Record<string, unknown> = {}): Promise<BaseLuaVM> {
  const v = await registry.create(type, `wasm-pkg-${++n}`, config)
  vms.push(v)
  return v
}

async function value(v: BaseLuaVM, code: string): Promise<unknown> {
  const r = await v.execute(code, { echoReturnValues: false })
  if (r.status !== 'ok') throw new Error(`${r.status}: ${r.error?.message}`)
  return r.values[0]
}

function rockBytes(fileName: string): { bytes: Uint8Array; fileName: string } {
  return { bytes: new Uint8Array(readFileSync(join(repo.dir, fileName))), fileName }
}

async function packagesOf(v: BaseLuaVM): Promise<Record<string, { version: string; explicit: boolean }>> {
  return (await v.getStatus()).details?.packages as Record<string, { version: string; explicit: boolean }>
}

beforeAll(async () => {
  repo = await buildRockRepository()
  repoListing = readdirSync(repo.dir).sort()
  // The same repository over HTTP, for the fetch path; it logs what was asked for.
  const requests: string[] = []
  const server = createServer((req, res) => {
    const file = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '')
    requests.push(file)
    const send = () => {
      if (!/^[\w.-]+$/.test(file) || !repoListing.includes(file)) {
        res.writeHead(404).end('not found')
        return
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(join(repo.dir, file)))
    }
    if (http.delayMs > 0) setTimeout(send, http.delayMs)
    else send()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  http = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, delayMs: 0 }
}, 180_000)

afterEach(async () => {
  http.delayMs = 0
  vi.restoreAllMocks()
  await Promise.allSettled(vms.splice(0).map((v) => v.stop({ force: true })))
})

afterAll(async () => {
  await shutdownWorkers()
  http?.server.closeAllConnections()
  await new Promise((resolve) => http?.server.close(resolve))
  repo?.cleanup()
})

describe.each(COMBOS)('$type / $isolation: installPackage', ({ type, isolation }) => {
  it("installs bio_compute from a rock server; require('bio_compute').gc_content('ATGC') is 0.5", async () => {
    const v = await vm(type, { isolation, servers: [repo.dir] })
    expect(v.capabilities).toMatchObject({ packages: true, packageKinds: ['pure'] })
    const r = await v.installPackage('bio_compute')
    expect(r).toMatchObject({
      name: 'bio_compute',
      version: '0.1.0-1',
      success: true,
      location: 'vm',
      modules: ['bio_compute'],
    })
    expect(await value(v, "return require('bio_compute').gc_content('ATGC')")).toBe(0.5)
    expect(await packagesOf(v)).toMatchObject({
      bio_compute: { version: '0.1.0-1', arch: 'all', modules: ['bio_compute'], explicit: true },
    })
    // Installing what is there already is a no-op: module state is kept.
    await v.execute("require('bio_compute').marker = 1")
    const again = await v.installPackage('bio_compute')
    expect(again.log).toMatch(/already installed/)
    expect(await value(v, "return require('bio_compute').marker")).toBe(1)
  })

  it('pulls in dependencies: seq_report brings bio_compute', async () => {
    const v = await vm(type, { isolation, servers: [repo.dir] })
    const r = await v.installPackage('seq_report')
    expect(r).toMatchObject({ name: 'seq_report', version: '0.1.0-1', modules: ['seq_report'] })
    expect(r.log).toMatch(/installed bio_compute 0\.1\.0-1 \(all, for seq_report\)/)
    expect(await value(v, "return require('seq_report').report('ATGC')")).toBe('len=4 gc=0.50 revcomp=GCAT')
    expect(await packagesOf(v)).toMatchObject({
      seq_report: { version: '0.1.0-1', explicit: true },
      bio_compute: { version: '0.1.0-1', explicit: false },
    })
  })

  it('installs a .src.rock the host gives as bytes (dependencies from the servers)', async () => {
    const bare = await vm(type, { isolation })
    const r = await bare.installPackage('bio_compute', { rock: rockBytes('bio_compute-0.1.0-1.src.rock') })
    expect(r).toMatchObject({ version: '0.1.0-1', modules: ['bio_compute'] })
    expect(await value(bare, "return require('bio_compute').gc_content('GGCC')")).toBe(1)
    expect((await packagesOf(bare)).bio_compute).toMatchObject({
      arch: 'src',
      source: expect.stringMatching(/^\(bytes\)/),
    })

    // seq_report's dependency is in this VM already, so no server is needed ...
    const ok = await bare.installPackage('seq_report', {
      rock: rockBytes('seq_report-0.1.0-1.src.rock'),
      version: '0.1.0-1',
    })
    expect(ok.log).toMatch(/bio_compute 0\.1\.0-1 is already installed/)
    const fresh = await vm(type, { isolation })
    const missing = await fresh
      .installPackage('seq_report', { rock: rockBytes('seq_report-0.1.0-1.src.rock') })
      .catch((e: unknown) => e)
    // ... but not in a fresh VM: the missing dependency is named.
    expect(missing).toBeInstanceOf(PackageError)
    expect((missing as Error).message).toMatch(/'seq_report' depends on 'bio_compute >= 0\.1\.0'/)
    const withServers = await fresh.installPackage('seq_report', {
      rock: rockBytes('seq_report-0.1.0-1.src.rock'),
      servers: [repo.dir],
    })
    expect(withServers.log).toMatch(/installed bio_compute/)
    expect(await value(fresh, "return require('seq_report').report('AT')")).toBe('len=2 gc=0.00 revcomp=AT')
  })

  it('refuses native_hello (a C module) with a PackageError that explains why', async () => {
    const v = await vm(type, { isolation, servers: [repo.dir] })
    const error = await v.installPackage('native_hello').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PackageError)
    expect((error as Error).message).toMatch(/C modules \(native_hello\)/)
    expect((error as Error).message).toMatch(/can only load pure-Lua modules/)
    expect((error as Error).message).toMatch(/process backend/)
    expect((error as PackageError).details).toMatchObject({ name: 'native_hello', native: true })
    const fromBytes = await v
      .installPackage('native_hello', { rock: rockBytes('native_hello-0.1.0-1.src.rock') })
      .catch((e: unknown) => e)
    expect(fromBytes).toBeInstanceOf(PackageError)
    expect((await v.execute("return require('native_hello')")).status).toBe('error')
    expect(await packagesOf(v)).toEqual({})
  })
})

describe('wasm and fengari: versions, errors, servers', () => {
  it.each(['wasm', 'fengari'])('%s: two VMs hold versioned_mod 1.0-1 and 2.0-1 at once', async (type) => {
    const [one, two, newest] = await Promise.all([
      vm(type, { servers: [repo.dir] }),
      vm(type, { servers: [repo.dir], isolation: 'inline' }),
      vm(type, { servers: [repo.dir] }),
    ])
    const [a, b, c] = await Promise.all([
      one.installPackage('versioned_mod', { version: '1.0-1' }),
      two.installPackage('versioned_mod', { version: '2.0' }),
      newest.installPackage('versioned_mod'),
    ])
    expect([a.version, b.version, c.version]).toEqual(['1.0-1', '2.0-1', '2.0-1'])
    const code = "return require('versioned_mod').version"
    expect(await Promise.all([value(one, code), value(two, code), value(newest, code)])).toEqual(['1.0', '2.0', '2.0'])
    // Upgrading in place mounts the new source; the next require loads it.
    await one.installPackage('versioned_mod', { version: '2.0-1' })
    expect(await value(one, code)).toBe('2.0')
  })

  it('a bad name, version, server or rock is an InvalidArgumentError before anything is read', async () => {
    const v = await vm('wasm', { servers: [`${http.url}/`] })
    const fetchSpy = vi.spyOn(globalThis, 'fetch')
    const before = http.requests.length
    for (const bad of ['--server=/evil', '../bio_compute', '', 'a b']) {
      await expect(v.installPackage(bad)).rejects.toBeInstanceOf(InvalidArgumentError)
    }
    await expect(v.installPackage('bio_compute', { version: '1 2' })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(v.installPackage('bio_compute', { servers: ['ftp://example.org/rocks'] })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(v.installPackage('bio_compute', { servers: [42] as never })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(
      v.installPackage('bio_compute', { rock: { bytes: new Uint8Array(4), fileName: 'evil.zip' } }),
    ).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(v.installPackage('bio_compute', { rock: rockBytes('seq_report-0.1.0-1.all.rock') })).rejects.toThrow(
      /is 'seq_report', not 'bio_compute'/,
    )
    expect(fetchSpy).not.toHaveBeenCalled()
    expect(http.requests.length).toBe(before)
    expect(await packagesOf(v)).toEqual({})
  })

  it('a missing rock, an unknown version or no servers at all is a PackageError', async () => {
    const v = await vm('fengari', { servers: [repo.dir] })
    const missing = await v.installPackage('no_such_rock').catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(PackageError)
    expect((missing as Error).message).toMatch(/'no_such_rock' is not found on /)
    const version = await v.installPackage('versioned_mod', { version: '3.0-1' }).catch((e: unknown) => e)
    expect(version).toBeInstanceOf(PackageError)
    expect((version as Error).message).toMatch(/no version matches == 3\.0-1 \(available: 1\.0-1, 2\.0-1\)/)
    const bare = await vm('wasm')
    await expect(bare.installPackage('bio_compute')).rejects.toThrow(/no rock servers/)
    const nowhere = await v.installPackage('bio_compute', { servers: [join(repo.dir, 'nope')] }).catch((e) => e)
    expect(nowhere).toBeInstanceOf(PackageError)
    expect((nowhere as Error).message).toMatch(/no manifest-5\.3 or manifest/)
  })

  it('reads rock servers over HTTP with fetch: manifest-5.4 for wasm, manifest-5.3 for fengari', async () => {
    http.requests.length = 0
    const w = await vm('wasm', { servers: [http.url] })
    await w.installPackage('seq_report')
    expect(await value(w, "return require('seq_report').report('GC')")).toBe('len=2 gc=1.00 revcomp=GC')
    expect(http.requests).toEqual(['manifest-5.4', 'seq_report-0.1.0-1.all.rock', 'bio_compute-0.1.0-1.all.rock'])
    http.requests.length = 0
    const f = await vm('fengari', { isolation: 'inline' })
    // An unreachable server first: luarocks-style, the next one is used.
    await f.installPackage('bio_compute', { servers: [`${http.url}/missing`, http.url] })
    expect(http.requests).toEqual([
      'missing/manifest-5.3',
      'missing/manifest',
      'manifest-5.3',
      'bio_compute-0.1.0-1.all.rock',
    ])
    expect(await value(f, "return require('bio_compute').gc_content('ATGC')")).toBe(0.5)
  })

  it('an install times out, and stopping the VM cancels one', async () => {
    http.delayMs = 2_000
    const v = await vm('wasm', { servers: [http.url] })
    const timedOut = await v.installPackage('bio_compute', { timeoutMs: 100 }).catch((e: unknown) => e)
    expect(timedOut).toBeInstanceOf(PackageError)
    expect((timedOut as Error).message).toMatch(/timed out after 100 ms/)
    const controller = new AbortController()
    const cancelled = v.installPackage('bio_compute', { signal: controller.signal }).catch((e: unknown) => e)
    setTimeout(() => controller.abort(), 50)
    expect((await cancelled) as Error).toMatchObject({ message: expect.stringMatching(/was cancelled/) })
    const pending = v.installPackage('bio_compute').catch((e: unknown) => e)
    await new Promise((r) => setTimeout(r, 50))
    await v.stop()
    expect(((await pending) as Error).message).toMatch(/stopped during the install/)
  })

  it.each(['wasm', 'fengari'])('%s: installed modules survive a hard kill (worker restart)', async (type) => {
    const v = await vm(type, { servers: [repo.dir], isolation: 'worker' })
    await v.installPackage('seq_report')
    const r = await v.execute('return string.find(("a"):rep(3e4), ".-.-.-.-b$")', { timeoutMs: 200 })
    expect(r.status).toBe('timeout')
    const status = await v.getStatus()
    expect(status.restarts).toBeGreaterThanOrEqual(1)
    expect(Object.keys(status.details?.packages as object).sort()).toEqual(['bio_compute', 'seq_report'])
    expect(await value(v, "return require('seq_report').report('ATGC')")).toBe('len=4 gc=0.50 revcomp=GCAT')
  })

  it.each(['wasm', 'fengari'])('%s: PackageInstaller installs profiles and skips native packages', async (type) => {
    const v = await vm(type, { servers: [repo.dir] })
    const installer = new PackageInstaller({ catalog: fixtureCatalog() })
    const bio = await installer.installProfile('bio', v)
    expect(bio.ok).toBe(true)
    expect(bio.outcomes.map((o) => `${o.name}:${o.status}`)).toEqual(['bio_compute:installed', 'seq_report:installed'])
    const native = await installer.installProfile('native', v)
    expect(native.outcomes.map((o) => `${o.name}:${o.status}`)).toEqual([
      'native_hello:skipped',
      'bio_compute:installed',
    ])
    expect(native.outcomes[0]?.reason).toMatch(/native \(C\) code; backend '(wasm|fengari)' takes pure-Lua rocks only/)
    expect(native.ok).toBe(true)
    const broken = await installer.installProfile('partly_broken', v)
    expect(broken.outcomes.map((o) => `${o.name}:${o.status}`)).toEqual([
      'bio_compute:installed',
      'not_in_repo:failed',
      'needs_missing:skipped',
      'versioned_mod:installed',
    ])
    await expect(installer.installInVM('native_hello', v)).rejects.toThrow(/takes pure-Lua rocks only/)
  })
})

describe.each(['process', 'wasm', 'fengari'])('acceptance on %s', (type) => {
  it("installPackage('bio_compute') then require('bio_compute').gc_content('ATGC') is 0.5, offline", async () => {
    const v = await vm(
      type,
      type === 'process' ? { luaExecutable: 'lua5.4', servers: [repo.dir] } : { servers: [repo.dir] },
    )
    const r = await v.installPackage('bio_compute')
    expect(r).toMatchObject({ name: 'bio_compute', version: '0.1.0-1', success: true, modules: ['bio_compute'] })
    expect(await value(v, "return require('bio_compute').gc_content('ATGC')")).toBe(0.5)
  })
})

describe('hygiene', () => {
  it('installs only read the rock server', () => {
    expect(readdirSync(repo.dir).sort()).toEqual(repoListing)
  })
})
