import type { BackendCapabilities } from '@bioxen-luavm/core'
import type { Command } from 'commander'
import { loadContext } from '../lib/context.js'
import type { CliIO } from '../lib/io.js'
import { table } from '../lib/table.js'

/** `backends`: what can run here, which versions, what each can do, and why not. */
export function registerBackends(program: Command, io: CliIO): void {
  program
    .command('backends')
    .description('list backends: whether each can run here (and why not), versions, capabilities')
    .option('--json', 'print a JSON array')
    .addHelpText('after', '\nExamples:\n  $ bioxen-luavm backends\n  $ bioxen-luavm backends --json')
    .action(async (flags: { json?: boolean }, command: Command) => {
      const { config, registry } = await loadContext(command, io)
      const found = await registry.detect()
      if (flags.json) {
        io.stdout(`${JSON.stringify(found, null, 2)}\n`)
        return
      }
      io.stdout(
        table(
          ['TYPE', 'AVAILABLE', 'VERSION', 'CAPABILITIES', 'NOTE'],
          found.map((b) => [
            b.aliases.length ? `${b.type} (${b.aliases.join(', ')})` : b.type,
            b.available ? 'yes' : 'no',
            b.version ?? '-',
            capabilityList(b.capabilities),
            b.available ? b.description : (b.reason ?? 'unavailable'),
          ]),
        ),
      )
      io.stdout(`default: ${config.defaultBackend}\n`)
    })
}

function capabilityList(c: BackendCapabilities): string {
  // Only the yes/no capabilities; packageKinds refines `packages` and shows in --json.
  return (Object.keys(c) as (keyof BackendCapabilities)[]).filter((k) => c[k] === true).join(',') || '-'
}
