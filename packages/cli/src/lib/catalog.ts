import { readFile } from 'node:fs/promises'
import { Catalog, ConfigError } from '@bioxen-luavm/core'

/**
 * The package catalog: `--catalog FILE|URL`, else `LUAVM_CATALOG`, else the
 * one shipped with core. A file or URL holds catalog JSON (see
 * docs/packages.md); a bad one is a `ConfigError` (exit 2) that says where.
 */
export async function loadCatalog(ref: string | undefined, env: Record<string, string | undefined>): Promise<Catalog> {
  const source = ref ?? (env.LUAVM_CATALOG || undefined)
  if (source === undefined) return Catalog.default()
  if (/^https?:\/\//i.test(source)) return Catalog.fromURL(source)
  let text: string
  try {
    text = await readFile(source, 'utf8')
  } catch (error) {
    throw new ConfigError(`cannot read catalog ${source}: ${(error as Error).message}`, { cause: error })
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (error) {
    throw new ConfigError(`catalog ${source} is not valid JSON: ${(error as Error).message}`, { cause: error })
  }
  return Catalog.fromJSON(data, source)
}
