#!/usr/bin/env node
// Runs a TypeScript program (an example, a benchmark) straight from the
// sources of a fresh checkout:
// no build, no tsx (there is none here). esbuild — a root devDependency —
// bundles the entry with the workspace's `@bioxen-luavm/source` condition
// into a throwaway .mjs, which is then imported and deleted.
//
//   node scripts/run-ts.mjs examples/usage/basic-execution.ts [args...]
//   node --expose-gc scripts/run-ts.mjs bench/wasm.bench.ts
//
// Two things make every backend work from a bundle:
//
// 1. Third-party packages (wasmoon, fengari, ssh2, effect, xmlrpc, …) are
//    not bundled: each import is pointed at the file esbuild resolved, by
//    absolute path. They then load exactly as they would from dist/ — native
//    addons (ssh2's optional crypto binding) and files found next to the
//    package (wasmoon's glue.wasm) keep working.
// 2. `import.meta.url` in workspace sources is replaced by the URL of the
//    source file it appears in. Code that locates things relative to itself
//    (backend-wasm's worker script and glue.wasm, the BioXen host's data
//    files) sees its real location instead of the temporary bundle's.
//
// The bundle is written under .tmp/run-ts/ (git-ignored), not the OS temp
// directory, so that a bare `import('esbuild')` made at run time (backend-wasm
// bundles its worker on the fly when running from sources) still resolves
// from the repository's node_modules.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { dirname, extname, join, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const entry = process.argv[2]
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <entry.ts> [args...]')
  process.exit(2)
}

const tmpRoot = join(here, '..', '.tmp', 'run-ts')
mkdirSync(tmpRoot, { recursive: true })
const dir = mkdtempSync(join(tmpRoot, 'run-'))
const outfile = join(dir, 'entry.mjs')
// The entry may end the process itself (process.exit, a crash), skipping
// `finally`: the bundle must not outlive it either way.
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))

const inNodeModules = (path) => path.split(sep).includes('node_modules')

/** Keeps third-party packages out of the bundle, imported by absolute path. */
const externalPackages = {
  name: 'external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData?.resolving || args.path.startsWith('node:')) return undefined
      const found = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: { resolving: true },
      })
      if (found.errors.length > 0 || found.external || !found.path) return undefined
      // Workspace packages resolve (through their symlinks) to src/: bundle them.
      if (!inNodeModules(found.path)) return undefined
      return { path: found.path, external: true }
    })
  },
}

/** `import.meta.url` (and `dirname`, `filename`) of a workspace source become that source's own. */
const sourceLocation = {
  name: 'source-location',
  setup(b) {
    b.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, (args) => {
      if (inNodeModules(args.path)) return undefined
      const text = readFileSync(args.path, 'utf8')
      if (!text.includes('import.meta.')) return undefined
      const ext = extname(args.path).slice(1)
      const contents = text
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
        .replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path)))
        .replaceAll('import.meta.filename', JSON.stringify(args.path))
      return {
        contents,
        loader: ext.startsWith('ts') || ext.endsWith('ts') ? 'ts' : 'js',
        resolveDir: dirname(args.path),
      }
    })
  },
}

try {
  await build({
    entryPoints: [resolve(entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@bioxen-luavm/source'],
    plugins: [externalPackages, sourceLocation],
    logLevel: 'warning',
    // Bundled CommonJS code calls require(); give the ES module bundle one.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  })
  process.argv.splice(2, 1)
  await import(pathToFileURL(outfile).href)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
