import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BrowserContext, Page } from 'playwright-core'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium, serveStatic } from './harness.js'

// The wasm backend in real headless Chromium: the published browser build
// (dist/browser) bundled by Vite into a tiny page, served from 127.0.0.1
// with COOP/COEP so host functions can block across the worker boundary.

const here = fileURLToPath(new URL('.', import.meta.url))
const repo = resolve(here, '../..')
const pkg = join(repo, 'packages/backend-wasm')
const out = join(here, '.out')
const site = join(out, 'site')

let server: Server
let context: BrowserContext
let page: Page
let profile: string
let baseUrl: string

type Result = { status: string; stdout: string; values: unknown[]; error?: { message: string } }
const run = (kind: string, code: string, options: Record<string, unknown> = {}) =>
  page.evaluate(
    ([k, c, o]) => (window as unknown as { luavm: { run(...a: unknown[]): Promise<Result> } }).luavm.run(k, c, o),
    [kind, code, options] as const,
  )
const ticks = () => page.evaluate(() => (window as unknown as { luavm: { ticks(): number } }).luavm.ticks())

beforeAll(async () => {
  // The test drives what users install: the package's built browser bundle,
  // bundled into the page with Vite. CI builds before the tests; rebuilding
  // here would empty dist/ under other tests, so only a stale build is redone.
  if (stale(join(pkg, 'src'), join(pkg, 'dist/browser/index.js'))) {
    execFileSync('pnpm', ['--filter', '@bioxen-luavm/backend-wasm', 'build'], { cwd: repo, stdio: 'pipe' })
  }
  rmSync(site, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  await build({
    root: join(here, 'page'),
    logLevel: 'warn',
    configFile: false,
    resolve: {
      // Core from its sources (it is browser-safe); this package from its built browser bundle.
      conditions: ['@bioxen-luavm/source', 'module', 'browser', 'production'],
      alias: { '@bioxen-luavm/backend-wasm': join(pkg, 'dist/browser/index.js') },
    },
    build: { outDir: site, emptyOutDir: true, minify: false },
  })
  server = await serveStatic(site)
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  profile = mkdtempSync(join(tmpdir(), 'luavm-chromium-'))
  context = await launchChromium(profile)
  page = context.pages()[0] ?? (await context.newPage())
  page.on('pageerror', (e) => console.error('page error:', e))
  await page.goto(baseUrl)
  await page.waitForFunction(() => (window as unknown as { luavmReady?: boolean }).luavmReady === true)
}, 180_000)

afterAll(async () => {
  await context?.close()
  await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()))
  if (profile) rmSync(profile, { recursive: true, force: true })
})

describe('wasm backend in headless Chromium', () => {
  it('runs Lua in a Web Worker and shows its output', async () => {
    expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true)
    const r = await run('wasm-worker', 'print("hello from " .. _VERSION) return 6 * 7')
    expect(r).toMatchObject({ status: 'ok', stdout: 'hello from Lua 5.4\n42\n', values: [42] })
    expect(await page.locator('#out').textContent(), 'the page shows the output').toContain('hello from Lua 5.4')
  })

  it('a busy loop times out while the page keeps ticking, and the VM works afterwards', async () => {
    await run('wasm-worker', 'kept = "yes"')
    const before = await ticks()
    const pending = run('wasm-worker', 'while true do end', { timeoutMs: 600 })
    // The page answers while the worker spins: its timer keeps running.
    await page.waitForFunction(
      (t) => (window as unknown as { luavm: { ticks(): number } }).luavm.ticks() > t + 5,
      before,
    )
    const r = await pending
    expect(r.status).toBe('timeout')
    expect((await run('wasm-worker', 'return kept')).values, 'a soft timeout keeps the state').toEqual(['yes'])
  })

  it('a long C call is stopped by terminating the worker; a second execute works', async () => {
    const r = await run('wasm-worker', 'return string.find(("a"):rep(3e4), ".-.-.-.-b$")', { timeoutMs: 300 })
    expect(r.status).toBe('timeout')
    expect(r.error?.message).toMatch(/terminating its worker/)
    const after = await run('wasm-worker', 'return 1 + 1, kept')
    expect(after.values).toEqual([2, null])
    const status = (await page.evaluate(() =>
      (window as unknown as { luavm: { status(k: string): Promise<{ restarts: number }> } }).luavm.status(
        'wasm-worker',
      ),
    )) as { restarts: number }
    expect(status.restarts).toBe(1)
  })

  it('host functions (async) work across the worker boundary', async () => {
    const r = await run('wasm-worker', 'return host.greet("browser")')
    expect(r.values).toEqual(['hello, browser'])
  })

  it('inline isolation and the fengari backend work too', async () => {
    expect((await run('wasm-inline', 'return _VERSION')).values).toEqual(['Lua 5.4'])
    expect((await run('fengari-worker', 'return _VERSION, math.maxinteger')).values).toEqual(['Lua 5.3', 2147483647])
  })

  it('takes a screenshot for the docs', async () => {
    mkdirSync(out, { recursive: true })
    const file = join(out, 'wasm-browser.png')
    await page.screenshot({ path: file, fullPage: true })
    expect(statSync(file).size).toBeGreaterThan(1000)
  })
})

/** True when `built` is missing or older than some file under `sources`. */
function stale(sources: string, built: string): boolean {
  if (!existsSync(built)) return true
  const builtAt = statSync(built).mtimeMs
  const newer = (dir: string): boolean =>
    readdirSync(dir, { withFileTypes: true }).some((e) =>
      e.isDirectory() ? newer(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs > builtAt,
    )
  return newer(sources)
}
