import { readdirSync, readFileSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join, relative } from 'node:path'
import { build } from 'esbuild'
import { describe, expect, it } from 'vitest'

const src = join(import.meta.dirname, '..', 'src')
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]))

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : []
  })
}

function importsOf(code: string): string[] {
  const specs: string[] = []
  const re =
    /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|require\s*\(\s*['"]([^'"]+)['"]\s*\)/g
  for (const m of code.matchAll(re)) specs.push((m[1] ?? m[2] ?? m[3]) as string)
  return specs
}

// The core is what a browser app installs; nothing in it may reach for Node
// or for a backend.
describe('core is browser-safe', () => {
  const files = sources(src)

  it('finds the sources it checks', () => {
    expect(files.length).toBeGreaterThan(10)
  })

  it('imports no Node built-in and no backend', () => {
    const offenders: string[] = []
    for (const file of files) {
      // The conformance kit runs under vitest in Node only; it may use Node.
      if (relative(src, file).startsWith('testing')) continue
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        if (builtins.has(spec) || spec.startsWith('node:') || spec.startsWith('@bioxen-luavm/backend-')) {
          offenders.push(`${relative(src, file)} imports ${spec}`)
        }
      }
    }
    expect(offenders).toEqual([])
  })

  it('bundles for the browser platform', async () => {
    const result = await build({
      entryPoints: [join(src, 'index.ts')],
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      logLevel: 'silent',
    })
    expect(result.errors).toEqual([])
    expect(result.outputFiles[0]?.text.length).toBeGreaterThan(1000)
  })
})
