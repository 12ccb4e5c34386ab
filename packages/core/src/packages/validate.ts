import { InvalidArgumentError } from '../errors/index.js'

// luarocks' own rules are looser; these are what we pass to a command line,
// so anything that could be read as a flag or a path is refused.
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/
const versionPattern = /^[0-9A-Za-z][0-9A-Za-z.+~-]{0,63}$/

/** Throws `InvalidArgumentError` unless `name` is a safe rock name. */
export function validatePackageName(name: unknown): string {
  if (typeof name !== 'string' || !namePattern.test(name)) {
    throw new InvalidArgumentError(
      `invalid package name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-', starting with a letter or digit`,
    )
  }
  return name
}

/** Throws `InvalidArgumentError` unless `version` is a safe rock version (e.g. `0.1.0-1`, `3.0rc1-2`). */
export function validatePackageVersion(version: unknown): string {
  if (typeof version !== 'string' || !versionPattern.test(version)) {
    throw new InvalidArgumentError(`invalid package version ${JSON.stringify(version)}: e.g. 1.2.0 or 1.2.0-1`)
  }
  return version
}

/** Throws unless `name` is a valid Lua module name (`a.b_c`). */
export function validateModuleName(name: unknown): string {
  if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/.test(name)) {
    throw new InvalidArgumentError(`invalid Lua module name ${JSON.stringify(name)}`)
  }
  return name
}
