import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import type { Server } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BrowserContext, Page } from 'playwright-core'
import { type Options as TsupOptions, build as tsup } from 'tsup'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import tsupConfig from '../../packages/backend-wasm/tsup.config.js'
import { launchChromium, serveStatic } from './harness.js'

// The playground example (examples/playground) built with its own Vite
// config, served from 127.0.0.1 with COOP/COEP, and driven through its UI
// in headless Chromium. Its screenshot goes to a temporary directory and
// must match the one the docs show in size; LUAVM_UPDATE_SCREENSHOTS=1
// copies it over docs/images/playground.png (a test run leaves the
// checkout as it was).

const here = fileURLToPath(new URL('.', import.meta.url))
const repo = resolve(here, '../..')
const pkg = join(repo, 'packages/backend-wasm')
const playground = join(repo, 'examples/playground')
const docsScreenshot = join(repo, 'docs/images/playground.png')

let tmp: string
let server: Server | undefined
let context: BrowserContext | undefined
let page: Page

/**
 * The package's browser build (its own tsup config), written to a private
 * directory instead of packages/backend-wasm/dist: the other browser test
 * rebuilds that directory, and test files may run in parallel.
 */
async function buildBrowserBundle(outDir: string): Promise<void> {
  const configs = (Array.isArray(tsupConfig) ? tsupConfig : [tsupConfig]) as TsupOptions[]
  const browser = configs.filter((c) => c.outDir === 'dist/browser')
  expect(browser.length, 'tsup config has the browser entries').toBe(2)
  for (const c of browser) {
    const entry = Object.fromEntries(
      Object.entries(c.entry as Record<string, string>).map(([k, v]) => [k, join(pkg, v)]),
    )
    await tsup({ ...c, entry, outDir, onSuccess: undefined, config: false, silent: true })
  }
  copyFileSync(createRequire(join(pkg, 'package.json')).resolve('wasmoon/dist/glue.wasm'), join(outDir, 'glue.wasm'))
}

type Shown = { status: string; stdout: string; stderr: string; values: string; engine: string }

const text = async (selector: string) => (await page.locator(selector).textContent()) ?? ''
const shown = async (): Promise<Shown> => ({
  status: (await page.locator('#status').getAttribute('data-status')) ?? '',
  stdout: await text('#stdout'),
  stderr: await text('#stderr'),
  values: await text('#values'),
  engine: await text('#engine'),
})
const finished = () =>
  page.waitForFunction(() => {
    const s = document.getElementById('status')?.dataset.status
    return s !== undefined && s !== 'running' && s !== 'loading'
  })

/** Fills the form like a user and presses Run; does not wait for the result. */
async function start(code: string, backend: 'wasm' | 'fengari', timeoutMs = 2000): Promise<void> {
  await page.selectOption('#backend', backend)
  await page.fill('#timeout', String(timeoutMs))
  await page.fill('#code', code)
  await page.click('#run')
}

async function runCode(code: string, backend: 'wasm' | 'fengari', timeoutMs?: number): Promise<Shown> {
  await start(code, backend, timeoutMs)
  await finished()
  return shown()
}

const GC_PROGRAM = `-- GC content of a short DNA string
local dna = "ATGCGCGATTACAGGCCTAG"
local function count(pattern)
  return select(2, dna:gsub(pattern, ""))
end

local counts = {}
for _, base in ipairs({ "A", "C", "G", "T" }) do
  counts[#counts + 1] = base .. "=" .. count(base)
end
print(table.concat(counts, " "))
last_gc = count("[GC]") / #dna
print(("length %d, GC %.1f%%"):format(#dna, last_gc * 100))
return last_gc`

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'luavm-playground-'))
  const lib = join(tmp, 'lib')
  const site = join(tmp, 'site')
  await buildBrowserBundle(lib)
  await build({
    root: playground,
    configFile: join(playground, 'vite.config.ts'),
    logLevel: 'warn',
    resolve: {
      alias: [
        { find: /^@bioxen-luavm\/backend-wasm$/, replacement: join(lib, 'index.js') },
        // The private bundle lives outside the workspace: point its core import at core's sources.
        { find: /^@bioxen-luavm\/core$/, replacement: join(repo, 'packages/core/src/index.ts') },
      ],
    },
    build: { outDir: site, emptyOutDir: true },
  })
  server = await serveStatic(site)
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  context = await launchChromium(join(tmp, 'chromium'), { viewport: { width: 1000, height: 700 } })
  page = context.pages()[0] ?? (await context.newPage())
  page.on('pageerror', (e) => console.error('page error:', e))
  await page.goto(url)
  await page.waitForFunction(() => document.body.dataset.ready === 'true')
  await page.waitForFunction(() => document.getElementById('status')?.dataset.status === 'ready')
}, 180_000)

afterAll(async () => {
  await context?.close()
  await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()))
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

/** Width and height from a PNG's IHDR chunk. */
function pngSize(path: string): { width: number; height: number } {
  const bytes = readFileSync(path)
  expect(bytes.subarray(1, 4).toString('latin1'), `${path} is a PNG`).toBe('PNG')
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) }
}

describe('the browser playground (examples/playground)', () => {
  it('runs a GC-content program on wasm and shows output, values and timing', async () => {
    expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true)
    const r = await runCode(GC_PROGRAM, 'wasm')
    expect(r).toMatchObject({
      status: 'ok',
      stdout: 'A=5 C=5 G=6 T=4\nlength 20, GC 55.0%\n',
      stderr: '',
      values: '0.55',
      engine: 'wasm · Lua 5.4',
    })
    expect(await text('#duration')).toMatch(/^\d+\.\d ms$/)

    const shot = join(tmp, 'playground.png')
    await page.screenshot({ path: shot })
    expect(statSync(shot).size).toBeGreaterThan(5000)
    if (process.env.LUAVM_UPDATE_SCREENSHOTS === '1') copyFileSync(shot, docsScreenshot)
    expect(pngSize(docsScreenshot), 'the docs show a screenshot of this page').toEqual(pngSize(shot))
  })

  it('keeps state across runs until Reset recreates the VM', async () => {
    expect((await runCode('return last_gc', 'wasm')).values).toBe('0.55')
    await page.click('#reset')
    await page.waitForFunction(() => document.getElementById('status')?.dataset.status === 'ready')
    expect((await runCode('return last_gc', 'wasm')).values).toBe('null')
  })

  it('switches to fengari (Lua 5.3)', async () => {
    const r = await runCode('return _VERSION', 'fengari')
    expect(r).toMatchObject({ status: 'ok', values: '"Lua 5.3"', engine: 'fengari · Lua 5.3' })
    expect(await page.locator('#memory').isDisabled(), 'no heap cap on fengari').toBe(true)
  })

  it('a busy loop times out while the page stays responsive', async () => {
    // A deadline long enough that the page is seen running on a busy machine.
    await start('while true do end', 'wasm', 2_000)
    // The running timer keeps updating and the editor takes input while the worker spins.
    const first = await text('#duration')
    await page.waitForFunction((t) => {
      const el = document.getElementById('duration')
      return el?.textContent !== t && document.getElementById('status')?.dataset.status === 'running'
    }, first)
    expect(await page.locator('#stop').isEnabled()).toBe(true)
    await finished()
    const r = await shown()
    expect(r.status).toBe('timeout')
    expect(r.stderr).toMatch(/time/i)
    expect((await runCode('return 1 + 1', 'wasm')).values, 'the VM works afterwards').toBe('2')
  })

  it('Stop cancels a run through its AbortSignal', async () => {
    await start('while true do end', 'wasm', 30_000)
    await page.waitForFunction(() => document.getElementById('status')?.dataset.status === 'running')
    await page.click('#stop')
    await finished()
    expect((await shown()).status).toBe('killed')
    expect(await page.locator('#run').isEnabled()).toBe(true)
  })
})
