// The package installer of the wasm and fengari backends; loaded on the first installPackage.
export {
  type InstalledPackage,
  type PackageHost,
  type RockBytes,
  type SandboxInstallOptions,
  SandboxPackages,
} from './installer.js'
export type { FileAccess } from './servers.js'
