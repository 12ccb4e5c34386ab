export { Catalog, type CatalogData, type CatalogPackage, type CatalogProfile } from './catalog.js'
export {
  type CommandRunner,
  type InstalledRock,
  LuarocksInstaller,
  type LuarocksTarget,
  luarocksArgv,
  luarocksFailure,
  parseLuarocksList,
} from './luarocks.js'
export { validateModuleName, validatePackageName, validatePackageVersion } from './validate.js'
