import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { root } from './packages.js'

// The published typings in a browser project: lib ES2022 + DOM, no
// @types/node, strict, skipLibCheck off. A Node type leaking into a .d.ts,
// or AsyncDisposable (esnext.disposable) assumed, fails this tsc run.

const tmp = mkdtempSync(join(tmpdir(), 'luavm-browser-types-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const PROGRAM = `import { BackendRegistry, isLuaVMError, type ExecResult } from '@bioxen-luavm/core'
import { fengariBackend, wasmBackend } from '@bioxen-luavm/backend-wasm'

export async function run(code: string): Promise<ExecResult> {
  const registry = new BackendRegistry().register(wasmBackend).register(fengariBackend)
  const vm = await registry.create('fengari', 'page', { isolation: 'worker', workerUrl: new URL('/fengari-worker.js', location.href) })
  try {
    return await vm.execute(code, { onStdout: (text) => document.body.append(text) })
  } catch (error) {
    if (isLuaVMError(error)) console.log(error._tag)
    throw error
  } finally {
    await vm.stop()
  }
}
`

describe('published typings in a browser project without @types/node', () => {
  it('type-check with lib ["ES2022", "DOM"]', () => {
    const modules = join(tmp, 'node_modules', '@bioxen-luavm')
    mkdirSync(modules, { recursive: true })
    for (const name of ['core', 'backend-wasm']) symlinkSync(join(root, 'packages', name), join(modules, name), 'dir')
    for (const name of ['core', 'backend-wasm']) {
      const dts = readFileSync(join(root, 'packages', name, 'dist/index.d.ts'), 'utf8')
      expect(dts, `${name}'s typings reference no Node types`).not.toMatch(/reference types="node"|from ['"]node:/)
    }
    writeFileSync(join(tmp, 'main.ts'), PROGRAM)
    writeFileSync(
      join(tmp, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2022', 'DOM'],
          module: 'ESNext',
          moduleResolution: 'bundler',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: [],
        },
        files: ['main.ts'],
      }),
    )
    const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc')
    let output = ''
    try {
      execFileSync(process.execPath, [tsc, '-p', join(tmp, 'tsconfig.json')], { cwd: tmp, encoding: 'utf8' })
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error)
    }
    expect(output).toBe('')
  }, 120_000)
})
