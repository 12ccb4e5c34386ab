/**
 * The guard over every Markdown file a user reads: each fenced block is
 * labelled with an info string docs-blocks.ts knows, and every page with a
 * block to run (```ts, ```js, ```sh, ```json, ```lua, ```console, or a
 * ```sh host|guest|dev block to syntax-check) is taken by a test file that
 * asserts `unverified()` is empty for it — so a new page, or a new block on a
 * page, fails here or there until a test runs it or it is labelled.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Doc, KNOWN, NOT_IN_CI } from './docs-blocks.js'
import { root } from './packages.js'

/** Which test file runs each page's blocks. */
const COVERED: Record<string, string> = {
  'README.md': 'readmes.test.ts',
  'packages/core/README.md': 'readmes.test.ts',
  'packages/backend-wasm/README.md': 'readmes.test.ts',
  'packages/backend-process/README.md': 'readmes.test.ts',
  'packages/backend-xcpng/README.md': 'readmes.test.ts',
  'packages/cli/README.md': 'readmes.test.ts',
  'examples/README.md': 'readmes-examples.test.ts',
  'examples/bioxen-host/README.md': 'readmes-examples.test.ts',
  'examples/playground/README.md': 'readmes-examples.test.ts',
  'rocks/bio_compute/README.md': 'readmes-examples.test.ts',
  'examples/plugin-http-runner/README.md': 'docs-plugins.test.ts',
  'docs/plugins.md': 'docs-plugins.test.ts',
  'docs/architecture.md': 'docs-plugins.test.ts',
  'docs/getting-started.md': 'docs-pages.test.ts',
  'docs/reliability.md': 'docs-pages.test.ts',
  'docs/packages.md': 'docs-packages.test.ts',
  'docs/xcpng.md': 'docs-xcpng.test.ts',
  // Its ```console blocks are run by scripts/docs-cli.mjs --check (docs-cli.test.ts).
  'docs/cli.md': 'docs-cli.test.ts',
}

/** Every Markdown file of the repository a user reads (changeset entries are release notes in the making). */
function pages(): string[] {
  return execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.md'], {
    cwd: root,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((f) => f && !f.startsWith('.changeset/'))
    .sort()
}

const RUN_OR_CHECK = (info: string) =>
  ['ts', 'js', 'sh', 'json', 'lua', 'console', 'console varies'].includes(info) ||
  NOT_IN_CI.some((l) => info === `sh ${l}`)

describe('every Markdown page', () => {
  const problems: string[] = []
  const where: string[] = []
  for (const page of pages()) {
    const doc = Doc.at(page)
    const bare = doc.blocks.filter((b) => b.info === '')
    if (bare.length > 0) {
      problems.push(
        `${page}: ${bare.length} block${bare.length === 1 ? '' : 's'} without an info string (\`\`\`text for sample output)`,
      )
      where.push(`${page}: no info string at lines ${bare.map((b) => b.line).join(', ')}`)
    }
    for (const b of doc.blocks.filter((x) => x.info !== '' && !KNOWN.includes(x.info))) {
      problems.push(`${page}: unknown info string ${b.info}`)
      where.push(`${page}:${b.line}: \`\`\`${b.info} (known: ${KNOWN.join(', ')})`)
    }
    const runnable = doc.blocks.filter((b) => RUN_OR_CHECK(b.info))
    if (runnable.length > 0 && !COVERED[page]) {
      const infos = [...new Set(runnable.map((b) => `\`\`\`${b.info}`))].join(', ')
      problems.push(`${page}: no test runs its ${infos} blocks`)
      where.push(`${page}: blocks to run at lines ${runnable.map((b) => b.line).join(', ')}`)
    }
  }

  it('labels every block, and every page with blocks to run has a test', () => {
    expect(problems, where.join('\n')).toEqual([])
  })

  it('each covering test reads its page and fails on any block it does not run', () => {
    for (const [page, file] of Object.entries(COVERED)) {
      const source = readFileSync(join(root, 'test', 'dist-smoke', file), 'utf8')
      if (page === 'docs/cli.md') {
        // docs-cli.mjs runs every ```console block; the page has no other block to run.
        expect(source).toContain("'docs-cli.mjs'")
        expect(readFileSync(join(root, 'scripts', 'docs-cli.mjs'), 'utf8')).toContain('/^```console(\\s+varies)?\\s*$/')
        const other = Doc.at(page).blocks.filter((b) => RUN_OR_CHECK(b.info) && !b.info.startsWith('console'))
        expect(other, page).toEqual([])
        continue
      }
      const opened = page.startsWith('docs/')
        ? source.includes(`new Doc('${page.slice('docs/'.length)}')`) || source.includes(`Doc.at('${page}')`)
        : source.includes(`Doc.at('${page}')`)
      expect(opened, `${file} reads ${page}`).toBe(true)
      expect(source, `${file} checks unverified()`).toMatch(/\.unverified\(\)/)
    }
  })

  it('covers the pages that exist, and only those', () => {
    const all = pages()
    for (const page of Object.keys(COVERED)) expect(all, page).toContain(page)
  })
})
