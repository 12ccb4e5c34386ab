import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { root } from './packages.js'

// docs/getting-started.md is one program told in steps: its ```js blocks,
// joined in order, must run against the built packages and print what the
// comments say. (The install step is covered by the tarball test.)
const dir = join(root, 'test', '.tmp-getting-started')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

it('docs/getting-started.md runs as written', () => {
  const doc = readFileSync(join(root, 'docs', 'getting-started.md'), 'utf8')
  const blocks = [...doc.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1] as string)
  expect(blocks.length).toBeGreaterThanOrEqual(4)
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'demo.mjs')
  writeFileSync(file, blocks.join('\n').replace(/^\/\/ demo\.mjs\n/, ''))
  const out = execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 120_000 })
  expect(out).toContain('GC content: 50%\n5\t10\n')
  expect(out).toContain('[ 5, 10 ]')
  expect(out).toMatch(/^ok$/m)
  expect(out).toMatch(/^timeout$/m)
  expect(out).toMatch(/^memory$/m)
  expect(out).toContain('xxxxxxxxxx true')
  expect(out).toMatch(/^incomplete$/m)
  expect(out).toContain("[ 'workers_000', 'workers_001', 'workers_002' ]")
})
