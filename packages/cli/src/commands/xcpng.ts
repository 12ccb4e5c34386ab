import {
  connectXapi,
  destroyGuest,
  type GuestSummary,
  guestStatus,
  listGuests,
  reapOrphans,
  stopGuest,
  type XapiSession,
  xcpngConfigSchema,
} from '@bioxen-luavm/backend-xcpng'
import { isLuaVMError } from '@bioxen-luavm/core'
import type { Command } from 'commander'
import { type CliContext, loadContext } from '../lib/context.js'
import { UsageError } from '../lib/errors.js'
import { ExitCode } from '../lib/exit-codes.js'
import type { CliIO } from '../lib/io.js'
import { positiveInt } from '../lib/options.js'
import { table } from '../lib/table.js'

/** `xcpng`: operate the XCP-ng pool the `xcpng` backend uses (config from the `xcpng` section). */
export function registerXcpng(program: Command, io: CliIO, setExit: (code: number) => void): void {
  const xcpng = program
    .command('xcpng')
    .description('check the XCP-ng connection, list, inspect, stop, destroy and reap guests')
    .addHelpText(
      'after',
      `
Configuration comes from the config file's "xcpng" section (or the original
xcpng_config.json, read unchanged) and XCPNG_* / LUAVM_XCPNG_* variables.

Examples:
  $ bioxen-luavm --config xcpng_config.json xcpng check
  $ bioxen-luavm xcpng list --json
  $ bioxen-luavm xcpng reap --older-than 3600000 --dry-run`,
    )

  const withSession = async <T>(
    command: Command,
    work: (s: XapiSession, ctx: CliContext) => Promise<T>,
  ): Promise<T> => {
    const ctx = await loadContext(command, io)
    const session = await connectXapi(ctx.config.rawBackend('xcpng', xcpngConfigSchema))
    try {
      return await work(session, ctx)
    } finally {
      await session.logout().catch(() => {})
    }
  }
  const print = (json: boolean | undefined, value: unknown, text: () => string) =>
    io.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : text())

  xcpng
    .command('check')
    .description('log in to XAPI (TLS verified), read the pool, find the template, log out')
    .option('--json', 'print a JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n  $ bioxen-luavm --config xcpng_config.json xcpng check\n  $ bioxen-luavm xcpng check --json',
    )
    .action((flags: { json?: boolean }, command: Command) =>
      withSession(command, async (session, ctx) => {
        const pools = (await session.call('pool.get_all_records')) as Record<string, { name_label?: string }>
        const template = String(ctx.config.rawBackend('xcpng', xcpngConfigSchema).template_name ?? '')
        const templates = template ? ((await session.call('VM.get_by_name_label', [template])) as string[]) : []
        const report = {
          connected: true,
          pool: Object.values(pools)[0]?.name_label ?? '',
          template,
          templateFound: templates.length > 0,
        }
        print(flags.json, report, () =>
          [
            `connected to pool '${report.pool}' (TLS verified, logged in and out)`,
            template
              ? `template '${template}': ${report.templateFound ? 'found' : 'NOT FOUND — check template_name'}`
              : 'template_name is not set',
            '',
          ].join('\n'),
        )
        if (template && !report.templateFound) setExit(ExitCode.usage)
      }),
    )

  xcpng
    .command('list')
    .description('guests created by bioxen-luavm (or every guest with --all)')
    .option('--all', 'every guest of the pool, not only ours')
    .option('--json', 'print a JSON array')
    .addHelpText('after', '\nExamples:\n  $ bioxen-luavm xcpng list\n  $ bioxen-luavm xcpng list --all --json')
    .action((flags: { all?: boolean; json?: boolean }, command: Command) =>
      withSession(command, async (session) => {
        const guests = await listGuests(session, { ownedOnly: !flags.all })
        print(flags.json, guests, () => (guests.length ? guestTable(guests) : 'no guests\n'))
      }),
    )

  xcpng
    .command('status')
    .description('power state, owner, memory, vCPUs and IP of one guest')
    .argument('<vm>', 'uuid or name label')
    .option('--json', 'print a JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n  $ bioxen-luavm xcpng status bioxen-luavm-worker-1\n  $ bioxen-luavm xcpng status 3f1c9a2e-0b7d-4c55-9e61-2a8f0d4b6c11 --json',
    )
    .action((vm: string, flags: { json?: boolean }, command: Command) =>
      withSession(command, async (session) => {
        const guest = await findGuest(session, vm)
        print(flags.json, guest, () => guestTable([guest]))
      }),
    )

  xcpng
    .command('stop')
    .description('clean shutdown within the deadline, then hard shutdown')
    .argument('<vm>', 'uuid or name label')
    .option('-t, --timeout <ms>', 'deadline of the clean shutdown', positiveInt('--timeout'))
    .option('--json', 'print {"stopped": UUID, "name": NAME}')
    .addHelpText(
      'after',
      '\nExamples:\n  $ bioxen-luavm xcpng stop bioxen-luavm-worker-1\n  $ bioxen-luavm xcpng stop bioxen-luavm-worker-1 --timeout 30000',
    )
    .action((vm: string, flags: { timeout?: number; json?: boolean }, command: Command) =>
      withSession(command, async (session) => {
        const guest = await findGuest(session, vm)
        await stopGuest(session, guest.uuid, flags.timeout ? { timeoutMs: flags.timeout } : {})
        io.stdout(flags.json ? `${JSON.stringify({ stopped: guest.uuid, name: guest.name })}\n` : `stopped ${vm}\n`)
      }),
    )

  xcpng
    .command('destroy')
    .description('shut down and destroy a guest bioxen-luavm created, with its own disks (never CD/ISO)')
    .argument('<vm>', 'uuid or name label')
    .option('--force', 'also destroy a guest bioxen-luavm did not create')
    .option('--json', 'print {"destroyed": UUID, "name": NAME}')
    .addHelpText(
      'after',
      '\nExamples:\n  $ bioxen-luavm xcpng destroy bioxen-luavm-worker-1\n  $ bioxen-luavm xcpng destroy old-test-vm --force',
    )
    .action((vm: string, flags: { force?: boolean; json?: boolean }, command: Command) =>
      withSession(command, async (session) => {
        const guest = await findGuest(session, vm)
        // Refusing is the user's call to make (exit 2), not a failure.
        if (!guest.owner && !flags.force) {
          throw new UsageError(
            `VM '${guest.name}' (${guest.uuid}) was not created by bioxen-luavm; refusing to destroy it`,
            'hint: add --force to destroy it anyway',
          )
        }
        await destroyGuest(session, guest.uuid, { allowForeign: Boolean(flags.force) })
        io.stdout(flags.json ? `${JSON.stringify({ destroyed: guest.uuid, name: guest.name })}\n` : `destroyed ${vm}\n`)
      }),
    )

  xcpng
    .command('reap')
    .description('remove guests bioxen-luavm created and lost (their owner process is gone)')
    .option('--older-than <ms>', 'only guests older than this (default 1 h)', positiveInt('--older-than'))
    .option('--dry-run', 'list what would be removed, remove nothing')
    .option('--json', 'print a JSON array')
    .addHelpText(
      'after',
      '\nExamples:\n  $ bioxen-luavm xcpng reap --dry-run\n  $ bioxen-luavm xcpng reap --older-than 3600000 --json',
    )
    .action((flags: { olderThan?: number; dryRun?: boolean; json?: boolean }, command: Command) =>
      withSession(command, async (session) => {
        const reaped = await reapOrphans(session, {
          dryRun: Boolean(flags.dryRun),
          ...(flags.olderThan ? { olderThanMs: flags.olderThan } : {}),
        })
        print(flags.json, reaped, () =>
          reaped.length
            ? table(
                ['UUID', 'NAME', 'AGE', 'ACTION', 'REASON'],
                reaped.map((r) => [r.uuid, r.name, `${Math.round(r.ageMs / 60_000)} min`, r.action, r.reason ?? '']),
              )
            : 'no guests created by bioxen-luavm\n',
        )
        if (reaped.some((r) => r.action === 'failed')) setExit(ExitCode.internal)
      }),
    )
}

/** One guest by uuid or name; a name that matches none (or several) is a usage error. */
async function findGuest(session: XapiSession, vm: string): Promise<GuestSummary> {
  try {
    return await guestStatus(session, vm)
  } catch (error) {
    if (isLuaVMError(error) && error._tag === 'ConfigError') {
      throw new UsageError(error.message, 'hint: `bioxen-luavm xcpng list --all` lists the guests')
    }
    throw error
  }
}

function guestTable(guests: GuestSummary[]): string {
  return table(
    ['UUID', 'NAME', 'STATE', 'MEMORY', 'VCPUS', 'IP', 'OURS'],
    guests.map((g) => [
      g.uuid,
      g.name,
      g.powerState,
      `${Math.round(g.memoryBytes / 1024 / 1024)} MiB`,
      String(g.vcpus),
      g.ip ?? '-',
      g.owner ? 'yes' : 'no',
    ]),
  )
}
