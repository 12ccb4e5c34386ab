/**
 * Package management — the original's `Curator` and `EnvironmentManager`:
 * the catalog (search, profiles, recommendations, dependency order) is plain
 * data in core; installing is each backend's job, reached through one call,
 * `vm.installPackage` (or `PackageInstaller` for several packages and VMs).
 *
 * Run (from the repository root, no build needed):
 *
 *   node scripts/run-ts.mjs examples/usage/package-management.ts
 *   node scripts/run-ts.mjs examples/usage/package-management.ts /path/to/rock-server
 *
 * With a rock server — a directory holding .rock files and a luarocks
 * manifest, e.g. one made with `luarocks-admin make_manifest` (see
 * docs/packages.md) that serves `bio_compute` — the example also installs
 * `bio_compute` into a native `process` VM (needs `lua5.4` and `luarocks`)
 * and into every other VM whose backend can install packages, then
 * `require`s it. Nothing is installed system-wide: a VM without a named
 * environment gets a private luarocks tree, removed when it stops.
 */
import { resolve } from 'node:path'
import { processBackend } from '@bioxen-luavm/backend-process'
import { wasmBackend } from '@bioxen-luavm/backend-wasm'
import { BackendRegistry, Catalog, PackageInstaller, VMManager } from '@bioxen-luavm/core'

// ---- the catalog: data, not code ---------------------------------------------
const catalog = Catalog.default()
console.log(`catalog: ${catalog.list().length} packages`)

const found = catalog.search('json')
console.log(`search "json": ${found.map((p) => `${p.name}${p.pure ? ' (pure Lua)' : ' (C)'}`).join(', ')}`)
console.log(
  `search "sequence": ${catalog
    .search('sequence')
    .map((p) => p.name)
    .join(', ')}`,
)

console.log('profiles:')
for (const profile of catalog.profiles()) {
  console.log(`  ${profile.name.padEnd(12)} ${profile.packages.join(', ')}`)
}

// Installing `penlight` needs `luafilesystem` first; resolve() gives the order.
console.log(`install order for penlight: ${catalog.resolve(['penlight']).join(' -> ')}`)

// Recommendations skip what is installed; pureOnly keeps what the WASM
// sandboxes can load (no C modules).
const recommended = catalog.recommend({ installed: ['bio_compute'], limit: 3 })
console.log(`recommended next: ${recommended.map((p) => p.name).join(', ')}`)
const pure = catalog.recommend({ installed: ['bio_compute'], limit: 3, pureOnly: true })
console.log(`recommended, pure Lua only: ${pure.map((p) => p.name).join(', ')}`)

// A host can replace the catalog with its own JSON (validated on load).
const own = Catalog.fromJSON(
  {
    version: 1,
    packages: [{ name: 'bio_compute', category: 'bio', pure: true, description: 'sequence helpers' }],
    profiles: { lab: { description: 'our lab', packages: ['bio_compute'] } },
  },
  'lab catalog',
)
console.log(`own catalog profile "lab": ${own.profile('lab').packages.join(', ')}`)

// ---- installing (only with a rock server) --------------------------------------
const server = process.argv[2]
if (!server) {
  console.log('no rock server given: skipping installs (pass a rock server directory to install bio_compute)')
  console.log('done')
  process.exit(0)
}

const registry = new BackendRegistry().register(wasmBackend).register(processBackend)
const manager = new VMManager({ registry })
const installer = new PackageInstaller({ manager, catalog })
try {
  await manager.createVM('wasm-vm', { type: 'wasm' })
  if ((await processBackend.detect()).available) {
    await manager.createVM('native-vm', { type: 'process', config: { luaExecutable: 'lua5.4' } })
  }
  for (const id of manager.listVMs()) {
    const vm = manager.requireVM(id)
    if (!vm.capabilities.packages) {
      console.log(`[${vm.type}] this backend does not install packages (capabilities.packages is false)`)
      continue
    }
    const outcomes = await installer.installPackages(['bio_compute'], id, { extra: { servers: [resolve(server)] } })
    for (const o of outcomes) {
      console.log(
        `[${vm.type}] ${o.name}: ${o.status}${o.reason ? ` (${o.reason})` : ''}${o.error ? ` (${o.error})` : ''}`,
      )
    }
    if (outcomes.some((o) => o.status === 'failed')) continue
    // A freshly installed rock is require-able at once, without a restart.
    const r = await manager.execute(
      id,
      'local bio = require("bio_compute") return bio._VERSION, bio.gc_content("ATGCGC")',
      {
        echoReturnValues: false,
      },
    )
    console.log(`[${vm.type}] require("bio_compute") -> version ${r.values[0]}, gc_content("ATGCGC") = ${r.values[1]}`)
  }
} finally {
  await manager.shutdownAll()
}
console.log('done')
