/**
 * Turns the bytes of a `.rock` into the pure-Lua modules it provides, in
 * memory. An `.all.rock` holds the installed layout (`lua/a/b.lua`); a
 * `.src.rock` holds the rockspec and the source archive, and the rockspec's
 * `build` table says which file is which module. Anything that needs a C
 * compiler or a native library is refused with {@link NativeRockError}.
 */
import { validateModuleName, validatePackageName, validatePackageVersion } from '@bioxen-luavm/core'
import { ArchiveError, type ByteBudget, gunzipBounded, readTar, sniffArchive, ZipReader } from './archive.js'
import { MAX_DEPENDENCIES, MAX_DEPENDENCY_LENGTH, MAX_ROCKSPEC_BYTES, ROCKSPEC_LIMITS } from './limits.js'
import {
  type LuaData,
  LuaDataError,
  LuaDataLimitError,
  LuaTable,
  preview,
  readLuaAssignments,
  stringAt,
  tableAt,
} from './lua-data.js'
import { type Dependency, parseDependency } from './versions.js'

/** What a rock file name says: `name-version-revision.arch.rock`. */
export interface RockFileName {
  name: string
  /** `0.1.0-1`. */
  version: string
  /** `all`, `src`, or a platform (`linux-x86_64`) for binary rocks. */
  arch: string
}

/** Reads `seq_report-0.1.0-1.src.rock`; undefined when the name does not have that shape. */
export function parseRockFileName(fileName: string): RockFileName | undefined {
  const m = /^(.+)-([^-/\\]+-\d+)\.([A-Za-z0-9_-]+)\.rock$/.exec(fileName)
  if (!m) return undefined
  return { name: m[1] ?? '', version: m[2] ?? '', arch: m[3] ?? '' }
}

/** A rock unpacked: the modules `require` should find, and what it needs. */
export interface UnpackedRock {
  name: string
  version: string
  arch: string
  /** Module name → Lua source text. */
  modules: Map<string, string>
  /** Rockspec dependencies other than `lua` itself. */
  dependencies: Dependency[]
  /** Things worth knowing that did not stop the install (skipped files, lossy text). */
  notes: string[]
}

/** The rock needs native code: the sandbox cannot load it. */
export class NativeRockError extends Error {
  override readonly name = 'NativeRockError'
}

/** The rock is malformed or cannot be read (bad rockspec, missing file). */
export class RockFormatError extends Error {
  override readonly name = 'RockFormatError'
}

// Native-library suffixes found in binary rocks.
const NATIVE_FILE = /\.(so|dll|dylib|a|lib|o)(\.\d+)*$/i
// Directories luarocks' builtin autodetection never takes modules from.
const AUTODETECT_SKIP = new Set(['spec', '.luarocks', 'lua_modules', 'test.lua', 'tests.lua'])

/**
 * Unpacks `bytes` (the rock `file`) within `budget`. Throws
 * {@link NativeRockError} for C code, {@link RockFormatError} or
 * `ArchiveError` for a rock that cannot be read.
 */
export function unpackRock(bytes: Uint8Array, file: RockFileName, budget: ByteBudget): UnpackedRock {
  const label = `${file.name}-${file.version}.${file.arch}.rock`
  const zip = new ZipReader(bytes, label)
  const notes: string[] = []
  const spec = readRockspec(zip, file, label, budget)
  const dependencies = specDependencies(spec, label)
  const modules =
    file.arch === 'src' ? sourceModules(zip, spec, label, budget, notes) : installedModules(zip, label, budget, notes)
  if (modules.size === 0) notes.push(`${label} provides no Lua modules`)
  // An archive of many odd files would otherwise make a log of millions of lines.
  if (notes.length > MAX_NOTES) notes.splice(MAX_NOTES, notes.length, `… and ${notes.length - MAX_NOTES} more notes`)
  return { name: file.name, version: file.version, arch: file.arch, modules, dependencies, notes }
}

function readRockspec(
  zip: ZipReader,
  file: RockFileName,
  label: string,
  budget: ByteBudget,
): Map<string, LuaData> | undefined {
  const expected = `${file.name}-${file.version}.rockspec`
  const entry = zip.get(expected) ?? zip.entries.find((e) => !e.name.includes('/') && e.name.endsWith('.rockspec'))
  if (!entry) {
    // An .all.rock can do without (its layout says it all); a .src.rock cannot.
    if (file.arch === 'src') throw new RockFormatError(`${label} has no rockspec (${expected})`)
    return undefined
  }
  if (entry.size > MAX_ROCKSPEC_BYTES) {
    throw new RockFormatError(`${label}: ${entry.name} is larger than ${MAX_ROCKSPEC_BYTES} bytes`)
  }
  const spec = parseLua(decodeText(zip.read(entry, budget)).text, `${label}: ${entry.name}`, budget)
  const pkg = stringAt(spec, 'package')
  const version = stringAt(spec, 'version')
  if (pkg !== undefined && pkg.toLowerCase() !== file.name.toLowerCase()) {
    throw new RockFormatError(`${label}: its rockspec is for package '${preview(pkg)}'`)
  }
  if (version !== undefined && version !== file.version) {
    throw new RockFormatError(`${label}: its rockspec is for version '${preview(version)}'`)
  }
  return spec
}

function specDependencies(spec: Map<string, LuaData> | undefined, label: string): Dependency[] {
  const list = tableAt(spec, 'dependencies')
  if (!list) return []
  if (list.items.length > MAX_DEPENDENCIES) {
    throw new RockFormatError(
      `${label}: lists ${list.items.length} dependencies, over the limit of ${MAX_DEPENDENCIES}`,
    )
  }
  const deps: Dependency[] = []
  for (const item of list.items) {
    if (typeof item !== 'string') throw new RockFormatError(`${label}: dependencies must be strings`)
    // Version parsing is not linear in the text: no real dependency is this long.
    if (item.length > MAX_DEPENDENCY_LENGTH) {
      throw new RockFormatError(`${label}: a dependency is longer than ${MAX_DEPENDENCY_LENGTH} characters`)
    }
    let dep: Dependency
    try {
      dep = parseDependency(item)
    } catch (error) {
      throw new RockFormatError(`${label}: ${(error as Error).message}`)
    }
    if (dep.name.toLowerCase() === 'lua') continue
    try {
      validatePackageName(dep.name)
    } catch {
      throw new RockFormatError(`${label}: dependency '${preview(item)}' has an invalid rock name`)
    }
    deps.push(dep)
  }
  return deps
}

/** `.all.rock` (and binary rocks): `lua/**.lua` are the modules; any native library refuses the rock. */
function installedModules(zip: ZipReader, label: string, budget: ByteBudget, notes: string[]): Map<string, string> {
  const native = zip.entries.filter(
    (e) => !e.directory && (e.name.startsWith('lib/') || (e.name.startsWith('lua/') && NATIVE_FILE.test(e.name))),
  )
  if (native.length > 0) {
    throw new NativeRockError(`${label} contains native libraries (${someOf(native.map((e) => e.name))})`)
  }
  const modules = new Map<string, string>()
  for (const entry of zip.entries) {
    if (entry.directory || !entry.name.startsWith('lua/') || !entry.name.endsWith('.lua')) continue
    const module = pathToModule(entry.name.slice(4))
    addModule(modules, module, zip.read(entry, budget), `${label}: ${entry.name}`, notes)
  }
  return modules
}

/** `.src.rock`: the rockspec's build table, applied to the source archive. */
function sourceModules(
  zip: ZipReader,
  spec: Map<string, LuaData> | undefined,
  label: string,
  budget: ByteBudget,
  notes: string[],
): Map<string, string> {
  const build = tableAt(spec, 'build')
  const format = stringAt(spec, 'rockspec_format') ?? '1.0'
  // rockspec_format 3.0 made `builtin` the default build type.
  const type = stringAt(build, 'type') ?? (Number.parseFloat(format) >= 3 ? 'builtin' : undefined)
  if (type === undefined) throw new RockFormatError(`${label}: the rockspec has no build.type`)
  if (type !== 'builtin' && type !== 'module' && type !== 'none') {
    throw new NativeRockError(`${label} is built with build.type '${preview(type)}', which runs a native build`)
  }
  const install = tableAt(build, 'install')
  const installLib = tableAt(install, 'lib')
  if (installLib && (installLib.items.length > 0 || installLib.fields.size > 0)) {
    throw new NativeRockError(`${label} installs native libraries (build.install.lib)`)
  }
  if (tableAt(build, 'platforms')) notes.push(`${label}: build.platforms overrides were ignored`)

  // module → path inside the source tree
  const wanted = new Map<string, string>()
  const declared = tableAt(build, 'modules')
  if (declared) {
    const nativeModules: string[] = []
    for (const [module, info] of declared.fields) {
      if (typeof info === 'string' && /\.lua$/i.test(info)) wanted.set(module, info)
      else if (typeof info === 'string' || info instanceof LuaTable) nativeModules.push(module)
      else throw new RockFormatError(`${label}: build.modules.${module} is neither a file nor a table`)
    }
    if (nativeModules.length > 0) {
      throw new NativeRockError(`${label} has C modules (${someOf(nativeModules)}) in build.modules`)
    }
  }
  const installLua = tableAt(install, 'lua')
  if (installLua) {
    for (const [module, file] of installLua.fields) if (typeof file === 'string') wanted.set(module, file)
    for (const file of installLua.items) {
      if (typeof file === 'string') wanted.set(pathToModule(file.slice(file.lastIndexOf('/') + 1)), file)
    }
  }

  const source = tableAt(spec, 'source')
  const tree = sourceTree(zip, source, label, budget)
  if (!declared && type !== 'none') {
    // luarocks 3 finds the modules itself: the first of src/, lua/, lib/, else the top.
    for (const [module, file] of autodetect(tree, label)) if (!wanted.has(module)) wanted.set(module, file)
  }

  const modules = new Map<string, string>()
  for (const [module, file] of wanted) {
    const data = tree.get(normalizePath(file))
    if (!data)
      throw new RockFormatError(
        `${label}: module '${preview(module)}' names '${preview(file)}', which is not in the sources`,
      )
    addModule(modules, module, data, `${label}: ${file}`, notes)
  }
  return modules
}

/** The source archive's files, relative to `source.dir`. */
function sourceTree(
  zip: ZipReader,
  source: LuaTable | undefined,
  label: string,
  budget: ByteBudget,
): Map<string, Uint8Array> {
  const url = stringAt(source, 'url') ?? ''
  const named = stringAt(source, 'file') ?? basename(url.replace(/[?#].*$/, ''))
  const archives = zip.entries.filter((e) => !e.directory && !e.name.includes('/') && !e.name.endsWith('.rockspec'))
  const entry = zip.get(named) ?? (archives.length === 1 ? archives[0] : undefined)
  if (!entry) {
    throw new RockFormatError(`${label} does not contain its source archive${named ? ` (${named})` : ''}`)
  }
  const bytes = zip.read(entry, budget)
  const where = `${label}: ${entry.name}`
  let files: Array<{ name: string; data: Uint8Array }>
  switch (sniffArchive(bytes)) {
    case 'gzip':
      files = readTar(gunzipBounded(bytes, budget, where), where)
      break
    case 'tar':
      files = readTar(bytes, where)
      break
    case 'zip': {
      const inner = new ZipReader(bytes, where)
      files = inner.entries.filter((e) => !e.directory).map((e) => ({ name: e.name, data: inner.read(e, budget) }))
      break
    }
    case 'bzip2':
    case 'xz':
      throw new ArchiveError(`${where}: bzip2/xz sources are not supported; use .tar.gz or .zip`)
    default:
      // A single-file source (source.url pointing at a .lua file) is kept as is.
      files = [{ name: entry.name, data: bytes }]
  }
  const normalized = files.map((f) => ({ name: normalizePath(f.name), data: f.data })).filter((f) => f.name !== '')
  // source.dir, else the one top-level directory everything is in, else the top.
  const dir = stringAt(source, 'dir')
  let base = ''
  if (dir !== undefined && normalized.some((f) => f.name.startsWith(`${normalizePath(dir)}/`))) {
    base = `${normalizePath(dir)}/`
  } else {
    const tops = new Set(normalized.map((f) => (f.name.includes('/') ? f.name.slice(0, f.name.indexOf('/')) : '')))
    const [only] = tops
    if (tops.size === 1 && only) base = `${only}/`
  }
  const tree = new Map<string, Uint8Array>()
  for (const f of normalized) if (f.name.startsWith(base)) tree.set(f.name.slice(base.length), f.data)
  return tree
}

function autodetect(tree: Map<string, Uint8Array>, label: string): Map<string, string> {
  const names = [...tree.keys()]
  const parent = ['src', 'lua', 'lib'].find((p) => names.some((n) => n.startsWith(`${p}/`)))
  const prefix = parent ? `${parent}/` : ''
  const found = new Map<string, string>()
  const cFiles: string[] = []
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const rel = name.slice(prefix.length)
    if (AUTODETECT_SKIP.has(rel.split('/')[0] ?? '')) continue
    if (rel.endsWith('.lua')) found.set(pathToModule(rel), name)
    else if (rel.endsWith('.c')) cFiles.push(name)
  }
  if (cFiles.length > 0) throw new NativeRockError(`${label} has C sources (${someOf(cFiles)})`)
  return found
}

/**
 * `a/b.lua` → `a.b`; `a/init.lua` → `a`, the name Lua's `?/init.lua`
 * search path finds it under once luarocks has installed it.
 */
export function pathToModule(path: string): string {
  let p = path.replace(/\.lua$/i, '')
  if (p.endsWith('/init')) p = p.slice(0, -'/init'.length)
  return p.replace(/\//g, '.').replace(/^\.+|\.+$/g, '')
}

function addModule(
  modules: Map<string, string>,
  module: string,
  data: Uint8Array,
  where: string,
  notes: string[],
): void {
  try {
    validateModuleName(module)
  } catch {
    notes.push(`${where}: skipped, '${preview(module)}' is not a valid module name`)
    return
  }
  const { text, lossy } = decodeText(data)
  if (lossy) notes.push(`${where}: not valid UTF-8; invalid bytes were replaced`)
  modules.set(module, text)
}

/**
 * Lua sources are bytes, mounts are JS strings: UTF-8 is decoded exactly;
 * anything else is decoded with replacement characters and noted, because
 * the VM's `mount` takes text.
 */
function decodeText(data: Uint8Array): { text: string; lossy: boolean } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(data), lossy: false }
  } catch {
    return { text: new TextDecoder('utf-8').decode(data), lossy: true }
  }
}

function parseLua(text: string, what: string, budget: ByteBudget): Map<string, LuaData> {
  try {
    // The install's deadline and AbortSignal reach the reader through the unpack budget.
    return readLuaAssignments(text, what, { limits: ROCKSPEC_LIMITS, stop: () => budget.check() })
  } catch (error) {
    if (!(error instanceof LuaDataError)) throw error
    if (error instanceof LuaDataLimitError) throw new RockFormatError(`cannot read ${error.message}`)
    // Rockspecs that define functions are, in practice, those of C libraries
    // with per-platform builds: say where such a rock can be installed.
    throw new RockFormatError(
      `cannot read ${(error as Error).message} (rockspecs are read as data here, never run; a rock whose rockspec needs code can be installed on the process backend)`,
    )
  }
}

/** Removes `./`, empty and `.` segments; a `..` segment makes the path unusable (''). */
function normalizePath(path: string): string {
  const parts: string[] = []
  for (const part of path.replace(/\\/g, '/').split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') return ''
    parts.push(part)
  }
  return parts.join('/')
}

const MAX_NOTES = 50

/** A list for a message: the first few items, each cut short, and how many more there are. */
function someOf(items: readonly string[], max = 10): string {
  const shown = items.slice(0, max).map((item) => preview(item))
  return items.length > max ? `${shown.join(', ')}, … ${items.length - max} more` : shown.join(', ')
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/** Checks a rock file name's parts and returns them; throws `InvalidArgumentError`. */
export function checkedRockFileName(fileName: string): RockFileName | undefined {
  const parsed = parseRockFileName(fileName)
  if (!parsed) return undefined
  validatePackageName(parsed.name)
  validatePackageVersion(parsed.version)
  return parsed
}
