import { createRequire } from 'node:module'
import { isAbsolute, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { processBackend } from '@bioxen-luavm/backend-process'
import { fengariBackend, wasmBackend } from '@bioxen-luavm/backend-wasm'
import { xcpngBackend } from '@bioxen-luavm/backend-xcpng'
import { type BackendDescriptor, BackendRegistry } from '@bioxen-luavm/core'
import { UsageError } from './errors.js'

/** Backends the CLI ships with, in the order listings show them (the embedded sandbox first). */
export const builtinBackends: readonly BackendDescriptor<never>[] = [
  wasmBackend as BackendDescriptor<never>,
  fengariBackend as BackendDescriptor<never>,
  processBackend as BackendDescriptor<never>,
  xcpngBackend as BackendDescriptor<never>,
]

/** A registry with the built-in backends and every plugin module registered. */
export async function buildRegistry(plugins: readonly string[], cwd: string): Promise<BackendRegistry> {
  const registry = new BackendRegistry()
  for (const d of builtinBackends) registry.register(d)
  for (const spec of plugins) {
    for (const d of await loadPlugin(spec, cwd)) registry.register(d, { replace: true })
  }
  return registry
}

/**
 * Imports a plugin module (a package name resolved from `cwd`, or a path)
 * and returns the backend descriptors it exports: its default export (one
 * descriptor or a list) or every named export that is a descriptor.
 */
export async function loadPlugin(spec: string, cwd: string): Promise<BackendDescriptor<never>[]> {
  let url: string
  try {
    const isPath = spec.startsWith('.') || isAbsolute(spec)
    url = pathToFileURL(isPath ? resolve(cwd, spec) : createRequire(join(cwd, 'noop.js')).resolve(spec)).href
  } catch {
    throw new UsageError(`plugin '${spec}' was not found`, `hint: install it (npm install ${spec}) or pass a path`)
  }
  let mod: Record<string, unknown>
  try {
    mod = (await import(url)) as Record<string, unknown>
  } catch (error) {
    throw new UsageError(
      `plugin '${spec}' failed to load: ${(error as Error).message}`,
      'hint: pass the path of an ES module, or the name of an installed package',
    )
  }
  const found = exportedDescriptors(mod)
  if (found.length === 0) {
    throw new UsageError(
      `plugin '${spec}' exports no backend descriptor`,
      'hint: a plugin exports objects with type, capabilities, detect() and load()',
    )
  }
  return found
}

/**
 * The descriptors a module exports: its default export (one or a list),
 * else its named exports. A package name resolves to the package's
 * `require` build; imported from here, a CommonJS module arrives whole as
 * `default` (its own `default` inside), so that layer is searched too.
 */
function exportedDescriptors(mod: Record<string, unknown>): BackendDescriptor<never>[] {
  const cjs = mod.default
  for (const layer of [mod, typeof cjs === 'object' && cjs !== null ? (cjs as Record<string, unknown>) : undefined]) {
    if (!layer) continue
    const candidates = layer.default !== undefined ? [layer.default].flat() : Object.values(layer)
    const found = candidates.filter(isDescriptor)
    if (found.length > 0) return found
  }
  return []
}

function isDescriptor(value: unknown): value is BackendDescriptor<never> {
  const d = value as Partial<BackendDescriptor>
  return (
    typeof d === 'object' &&
    d !== null &&
    typeof d.type === 'string' &&
    typeof d.load === 'function' &&
    typeof d.detect === 'function' &&
    typeof d.capabilities === 'object'
  )
}
