import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Repository root. */
export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Every published package: folder, npm name, and a value its entry point must export. */
export const packages = [
  { folder: 'core', name: '@bioxen-luavm/core', exportName: 'BackendRegistry' },
  { folder: 'backend-wasm', name: '@bioxen-luavm/backend-wasm', exportName: 'wasmBackend' },
  { folder: 'backend-process', name: '@bioxen-luavm/backend-process', exportName: 'processBackend' },
  { folder: 'backend-xcpng', name: '@bioxen-luavm/backend-xcpng', exportName: 'xcpngBackend' },
  { folder: 'cli', name: '@bioxen-luavm/cli', exportName: 'runCli' },
] as const
