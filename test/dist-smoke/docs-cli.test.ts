import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { root } from './packages.js'

// Every command in docs/cli.md runs against the built CLI and prints what
// the page says it prints (scripts/docs-cli.mjs --check).
it('docs/cli.md matches what the CLI really does', () => {
  let out = ''
  try {
    execFileSync(process.execPath, [join(root, 'scripts', 'docs-cli.mjs'), '--check'], {
      cwd: root,
      encoding: 'utf8',
      stdio: 'pipe',
    })
  } catch (error) {
    out = String((error as { stderr?: string }).stderr ?? error)
  }
  expect(out).toBe('')
})
