export { Catalog, type CatalogData, type CatalogPackage, type CatalogProfile } from './catalog.js'
export { type InstallOrderOptions, installInOrder, type PackageOutcome } from './install-order.js'
export {
  type CommandRunner,
  type InstalledRock,
  LuarocksInstaller,
  type LuarocksTarget,
  luarocksArgv,
  luarocksFailure,
  parseLuarocksList,
} from './luarocks.js'
export {
  type BatchInstallOptions,
  PackageInstaller,
  type PackageTargetVM,
  type ProfileInstallResult,
  type VMLookup,
} from './package-installer.js'
export { validateModuleName, validatePackageName, validatePackageVersion } from './validate.js'
