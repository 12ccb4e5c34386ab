import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build as esbuild } from 'esbuild'
import type { BrowserContext, Page } from 'playwright-core'
import { build as viteBuild, createServer as viteServer } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import webpack from 'webpack'
import { launchChromium, serveStatic } from './harness.js'

// The published packages (their built dist/, resolved through node_modules
// like an app's dependencies) in the setups the docs name: Vite dev server,
// Vite build, esbuild and webpack 5. Each is built once into a temporary
// directory and opened as one page that runs both engines in their default
// (worker) isolation. The esbuild site is also served under a strict CSP
// without 'wasm-unsafe-eval', where fengari must work and never fetch
// WebAssembly.

const here = fileURLToPath(new URL('.', import.meta.url))
const repo = resolve(here, '../..')
const app = join(here, 'bundlers')
const browserDist = join(repo, 'packages/backend-wasm/dist/browser')
const ISOLATED = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }
const STRICT_CSP = "default-src 'self'; script-src 'self'; worker-src 'self'; connect-src 'self'"

let tmp: string
let context: BrowserContext
const closers: Array<() => Promise<void>> = []

beforeAll(async () => {
  for (const file of ['packages/core/dist/index.js', 'packages/backend-wasm/dist/browser/index.js']) {
    if (!existsSync(join(repo, file))) throw new Error(`${file} is missing: build the packages first (pnpm -r build)`)
  }
  tmp = mkdtempSync(join(tmpdir(), 'luavm-bundlers-'))
  context = await launchChromium(join(tmp, 'chromium'))
}, 60_000)

afterAll(async () => {
  await context?.close()
  for (const close of closers.reverse()) await close().catch(() => undefined)
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

async function serve(site: string, headers: Record<string, string> = ISOLATED): Promise<string> {
  const server: Server = await serveStatic(site, headers)
  closers.push(() => new Promise((ok) => server.close(() => ok())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
}

/** Each setup builds (or serves) the app and resolves with its page URL. */
const SETUPS: Record<string, (out: string) => Promise<string>> = {
  async 'vite dev'(out) {
    const server = await viteServer({
      root: app,
      configFile: false,
      logLevel: 'warn',
      cacheDir: join(out, 'vite-cache'),
      server: { host: '127.0.0.1', port: 0, headers: ISOLATED, hmr: false },
    })
    await server.listen()
    closers.push(() => server.close())
    const address = server.httpServer?.address() as AddressInfo | undefined
    if (!address) throw new Error('the Vite dev server did not start')
    return `http://127.0.0.1:${address.port}/`
  },
  async 'vite build'(out) {
    await viteBuild({ root: app, configFile: false, logLevel: 'warn', build: { outDir: out, emptyOutDir: true } })
    return serve(out)
  },
  async esbuild(out) {
    // esbuild keeps `new URL('./x', import.meta.url)` as it is: the worker
    // scripts and glue.wasm are copied next to the bundle (docs/backends.md).
    await esbuild({
      entryPoints: [join(app, 'app.js')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      minify: true,
      outdir: out,
      logLevel: 'warning',
    })
    for (const file of ['index.html']) copyFileSync(join(app, file), join(out, file))
    for (const file of ['wasm-worker.js', 'fengari-worker.js', 'glue.wasm']) {
      copyFileSync(join(browserDist, file), join(out, file))
    }
    return serve(out)
  },
  async 'webpack 5'(out) {
    const stats = await new Promise<webpack.Stats | undefined>((ok, fail) =>
      webpack(
        {
          mode: 'production',
          context: app,
          entry: './app.js',
          output: { path: out, filename: 'app.js', publicPath: '/', clean: true },
          devtool: false,
          performance: { hints: false },
        },
        (error, result) => (error ? fail(error) : ok(result)),
      ),
    )
    if (stats?.hasErrors()) throw new Error(stats.toString('errors-only'))
    copyFileSync(join(app, 'index.html'), join(out, 'index.html'))
    return serve(out)
  },
}

type Result = { status: string; stdout?: string; values?: unknown[]; error?: string }

async function open(url: string): Promise<{ page: Page; requests: string[] }> {
  const page = await context.newPage()
  const requests: string[] = []
  page.on('request', (r) => requests.push(new URL(r.url()).pathname + new URL(r.url()).search))
  page.on('pageerror', (e) => console.error('page error:', e))
  await page.goto(url)
  await page.waitForFunction(() => (window as unknown as { luavmReady?: boolean }).luavmReady === true)
  return { page, requests }
}

const run = (page: Page, engine: 'wasm' | 'fengari', code: string, config: Record<string, unknown> = {}) =>
  page.evaluate(
    ([e, c, o]) =>
      (window as unknown as { luavm: { run(...a: unknown[]): Promise<Result> } }).luavm.run(e, c, o) as Promise<Result>,
    [engine, code, config] as const,
  )

describe.each(Object.keys(SETUPS))('%s', (setup) => {
  it('runs fengari without fetching WebAssembly, then wasm; error names survive', async () => {
    const out = join(tmp, setup.replace(/\W+/g, '-'))
    mkdirSync(out, { recursive: true })
    const { page, requests } = await open((await SETUPS[setup]?.(out)) as string)

    const fengari = await run(page, 'fengari', 'print("hi from " .. _VERSION) return 6 * 7')
    expect(fengari, JSON.stringify(fengari)).toMatchObject({
      status: 'ok',
      stdout: 'hi from Lua 5.3\n42\n',
      values: [42],
    })
    expect(
      requests.filter((p) => p.endsWith('.wasm') || p.includes('wasm-worker')),
      'a fengari page loads no wasm',
    ).toEqual([])

    const wasm = await run(page, 'wasm', 'print("hi from " .. _VERSION) return 6 * 7')
    expect(wasm).toMatchObject({ status: 'ok', stdout: 'hi from Lua 5.4\n42\n', values: [42] })

    // A typed error as String() shows it: the _tag, whatever the minifier did to the class.
    const bad = await run(page, 'fengari', 'return 1', { timeoutMs: -1 })
    expect(bad.status).toBe('thrown')
    expect(bad.error).toMatch(/^[A-Z][A-Za-z]+Error: /)
    await page.close()
  }, 240_000)
})

// The next two reuse the esbuild site built above (tests of a file run in order).
describe('esbuild: a missing worker or glue.wasm is named with its option', () => {
  it('names the file and the option that points to it', async () => {
    const out = join(tmp, 'esbuild')
    const url = await serve(out)
    const { page } = await open(url)
    const worker = await run(page, 'fengari', 'return 1', { workerUrl: '/nowhere/fengari-worker.js' })
    expect(worker.error).toMatch(/fengari worker could not start from .*\/nowhere\/fengari-worker\.js/)
    expect(worker.error).toMatch(/fengari-worker\.js .*`workerUrl`/)
    const wasm = await run(page, 'wasm', 'return 1', { wasmUrl: '/nowhere/glue.wasm' })
    expect(wasm.error).toMatch(/cannot load glue\.wasm from .*\/nowhere\/glue\.wasm: HTTP 404.*`wasmUrl`/)
    await page.close()
  }, 60_000)
})

describe('strict CSP without wasm-unsafe-eval', () => {
  it('fengari runs in its worker and nothing fetches or compiles WebAssembly', async () => {
    const url = await serve(join(tmp, 'esbuild'), { ...ISOLATED, 'content-security-policy': STRICT_CSP })
    const { page, requests } = await open(url)
    const r = await run(page, 'fengari', 'print("csp") return _VERSION')
    expect(r, JSON.stringify(r)).toMatchObject({ status: 'ok', stdout: 'csp\nLua 5.3\n', values: ['Lua 5.3'] })
    expect(requests.filter((p) => p.endsWith('.wasm') || p.includes('wasm-worker'))).toEqual([])
    // The policy is in force: the wasm engine cannot compile here.
    const wasm = await run(page, 'wasm', 'return 1')
    expect(wasm.status).toBe('thrown')
    expect(wasm.error).toMatch(/WebAssembly|wasm/i)
    await page.close()
  }, 60_000)
})
