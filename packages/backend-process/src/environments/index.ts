export { type BootstrapOptions, type BootstrapReport, bootstrapEnvironment } from './bootstrap.js'
export {
  type EnvInstallOptions,
  type EnvironmentDetails,
  EnvironmentManager,
  type EnvironmentManagerOptions,
  type EnvironmentSummary,
  type EnvironmentTree,
} from './environment-manager.js'
export {
  type BrokenModule,
  checkEnvironmentHealth,
  formatHealthReport,
  type HealthOptions,
  type HealthReport,
} from './health.js'
export { LocalCommandRunner, type LocalRunnerOptions, type LocalRunOptions } from './local-runner.js'
export { type EnvironmentManifest, type ManifestPackage, manifestFile } from './manifest.js'
export {
  checkEnvironmentRoot,
  defaultEnvironmentRoot,
  interpretersFor,
  LUA_VERSIONS,
  luaVersionOf,
  normalizeServers,
  prependPath,
  treePaths,
  validateEnvironmentName,
  validateLuaVersion,
} from './paths.js'
