import { readFileSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { extname, join, normalize } from 'node:path'
import { type BrowserContext, chromium } from 'playwright-core'

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.map': 'application/json',
}

/**
 * Serves a built page from `root` on 127.0.0.1 (a free port), cross-origin
 * isolated (COOP/COEP) so SharedArrayBuffer works; close it in teardown.
 * `headers` are added to every response (e.g. a CSP).
 */
export function serveStatic(root: string, headers: Record<string, string> = {}): Promise<Server> {
  const s = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(
      /^(\.\.[/\\])+/,
      '',
    )
    const file = join(root, path === '/' ? 'index.html' : path)
    try {
      if (!file.startsWith(root) || !statSync(file).isFile()) throw new Error('not found')
      res.writeHead(200, {
        'content-type': MIME[extname(file)] ?? 'application/octet-stream',
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
        ...headers,
      })
      res.end(readFileSync(file))
    } catch {
      res.writeHead(404).end()
    }
  })
  return new Promise((ok) => s.listen(0, '127.0.0.1', () => ok(s)))
}

/**
 * Debian's headless Chromium with a fresh profile in `profileDir`, and the
 * flags this machine needs (its closed network refuses Chromium's own
 * background connections).
 */
export function launchChromium(
  profileDir: string,
  options: { viewport?: { width: number; height: number } } = {},
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    ...(options.viewport ? { viewport: options.viewport } : {}),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}
