import { fileURLToPath } from 'node:url'

let pending: Promise<{ eval: string }> | undefined

/**
 * Running from TypeScript sources (vitest, the monorepo's own tests) there
 * is no built worker file and Node cannot start a worker from `.ts`, so the
 * worker entry is bundled once per process with esbuild, which the monorepo
 * has as a dev dependency, and started from memory (`eval`): no file is
 * written, so nothing is left behind when a test runner ends its processes
 * without exit handlers. Published builds never take this path: their
 * worker is `dist/node-worker.js`.
 */
export function devWorkerScript(entry: URL): Promise<{ eval: string }> {
  pending ??= build(entry)
  return pending
}

async function build(entry: URL): Promise<{ eval: string }> {
  const name = 'esbuild'
  const esbuild = (await import(/* @vite-ignore */ name)) as typeof import('esbuild')
  const result = await esbuild.build({
    entryPoints: [fileURLToPath(entry)],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    conditions: ['@bioxen-luavm/source'],
    logLevel: 'silent',
  })
  const out = result.outputFiles[0]
  if (!out) throw new Error('esbuild produced no worker bundle')
  return { eval: out.text }
}
