/**
 * XCP-ng execution — the seed spec's `create_vm(vm_type="xcpng", config=…)`:
 * provision a guest from a template through XAPI, run Lua on it over SSH,
 * and stop it (the guest and its disks are destroyed; nothing is left on
 * the pool).
 *
 * Run (from the repository root, no build needed):
 *
 *   XCPNG_PASSWORD=… node scripts/run-ts.mjs examples/usage/xcpng-execution.ts path/to/xcpng_config.json
 *
 * The config file is the original library's flat `xcpng_config.json`
 * (`xapi_url`, `username`, `template_name`, `ssh_user`, `ssh_key_path`, …)
 * or a full bioxen-luavm config with a `backends.xcpng` section; keys are
 * described in docs/xcpng.md. Keep the password out of the file: the
 * `XCPNG_PASSWORD` environment variable fills it in. Pin the XAPI
 * certificate (`fingerprint`) and the template's SSH host key
 * (`ssh_host_key`) — both are verified by default.
 *
 * The test suite runs this example against its XAPI simulator and a
 * throwaway sshd (test/examples/usage.test.ts).
 */
import { readFile } from 'node:fs/promises'
import { xcpngBackend, xcpngConfigSchema } from '@bioxen-luavm/backend-xcpng'
import { BackendRegistry, ConfigManager, createLogger } from '@bioxen-luavm/core'

const [configPath, vmId = 'example'] = process.argv.slice(2)
if (!configPath) {
  console.error('usage: node scripts/run-ts.mjs examples/usage/xcpng-execution.ts <xcpng_config.json> [vm-id]')
  process.exit(2)
}

const registry = new BackendRegistry().register(xcpngBackend)
// file < environment (XCPNG_PASSWORD, LUAVM_XCPNG_*) < code
const config = await ConfigManager.fromFile(configPath, readFile)
// Secrets are redacted wherever config is printed.
const shown = config.redacted(registry).backends?.xcpng ?? {}
console.log(
  `config: ${JSON.stringify({ xapi_url: shown.xapi_url, username: shown.username, password: shown.password, template_name: shown.template_name })}`,
)

// Provisioning steps are logged at info level; show them as they happen.
const logger = createLogger('example', {
  level: 'info',
  sink: (record) => console.log(`  log: ${record.message}`),
})

console.log(`provisioning VM '${vmId}' from template '${shown.template_name}' ...`)
const vm = await registry.create('xcpng', vmId, config.rawBackend('xcpng', xcpngConfigSchema), { logger })
try {
  const status = await vm.getStatus()
  console.log(`running: state=${status.state} lua=${status.luaVersion} power=${status.details?.powerState}`)

  const hello = await vm.execute('print("hello from the guest") return _VERSION, 6 * 7')
  console.log(`execute -> stdout ${JSON.stringify(hello.stdout)} values ${JSON.stringify(hello.values)}`)

  // Globals persist on the guest between executions, as on every backend.
  await vm.execute('dna = "ATGCGCGTATTAGC"')
  const gc = await vm.execute('return select(2, dna:gsub("[GC]", "")) / #dna', { echoReturnValues: false })
  console.log(`gc content on the guest -> ${gc.values[0]}`)

  const bad = await vm.execute('error("remote failure")', { chunkName: 'remote.lua' })
  console.log(`lua error -> status=${bad.status} message=${bad.error?.message}`)

  // A deadline is enforced on the guest: the chunk's process group is killed there.
  const loop = await vm.execute('while true do end', { timeoutMs: 500 })
  console.log(`timeout -> status=${loop.status}`)
  console.log(`after the timeout -> ${(await vm.execute('return 1 + 1', { echoReturnValues: false })).values[0]}`)
} finally {
  console.log('stopping (the guest is shut down and destroyed) ...')
  await vm.stop()
}
console.log(`stopped: state=${vm.state}`)
console.log('done')
