import { formatHealthReport } from '@bioxen-luavm/backend-process'
import type { Catalog, PackageOutcome } from '@bioxen-luavm/core'
import type { Command } from 'commander'
import { loadCatalog } from '../lib/catalog.js'
import { openEnvironments, serverList } from '../lib/environments.js'
import { UsageError } from '../lib/errors.js'
import { ExitCode } from '../lib/exit-codes.js'
import type { CliIO } from '../lib/io.js'
import { table } from '../lib/table.js'

const LUA_VERSION_HELP = 'Lua version of the tree: 5.1, 5.2, 5.3 or 5.4'

/** `env create|list|show|paths|health|delete`: named, isolated luarocks environments. */
export function registerEnv(program: Command, io: CliIO, setExit: (code: number) => void): Command {
  const env = program
    .command('env')
    .description('manage luarocks environments: isolated trees per Lua version, kept in the per-user data directory')
    .addHelpText(
      'after',
      `
Examples:
  $ bioxen-luavm env create bio --servers /srv/rocks --profile bio
  $ bioxen-luavm env list
  $ bioxen-luavm env health bio --json
  $ bioxen-luavm env delete bio`,
    )

  env
    .command('create')
    .description('create an environment, optionally filled with a catalog profile')
    .argument('<name>', 'environment name (letters, digits, . _ -)')
    .option('--lua-version <v>', LUA_VERSION_HELP, '5.4')
    .option(
      '--servers <list>',
      'rock servers, comma-separated URLs or directories (recorded in the environment)',
      serverList,
    )
    .option('--profile <name>', 'install this profile (e.g. bio) in dependency order')
    .option('--catalog <file|url>', 'catalog JSON to take the profile from (default: $LUAVM_CATALOG or the built-in)')
    .option('--json', 'print the manifest (and the profile outcomes) as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ bioxen-luavm env create bio --servers /srv/rocks --profile bio
  $ bioxen-luavm env create legacy --lua-version 5.1

Exit status: 0 ok, 2 bad name or usage, 4 a profile package failed or luarocks is missing.`,
    )
    .action(
      async (
        name: string,
        flags: { luaVersion: string; profile?: string; catalog?: string; json?: boolean },
        command: Command,
      ) => {
        const { manager, servers } = await openEnvironments(command, io)
        const catalog = flags.profile ? await loadCatalog(flags.catalog, io.env) : undefined
        // Check the profile before anything is created.
        if (flags.profile && catalog) checkProfile(catalog, flags.profile)
        await manager.create(name, { luaVersion: flags.luaVersion, ...(servers ? { servers } : {}) })
        let outcomes: PackageOutcome[] | undefined
        if (flags.profile && catalog) {
          const report = await manager.bootstrapEnvironment(name, flags.profile, {
            luaVersion: flags.luaVersion,
            catalog,
            ...(flags.json ? {} : { onOutcome: (o) => io.stdout(outcomeLine(o)) }),
          })
          outcomes = report.outcomes
          if (!report.ok) setExit(ExitCode.internal)
        }
        const manifest = await manager.manifest(name)
        if (flags.json) io.stdout(`${JSON.stringify({ ...manifest, ...(outcomes ? { outcomes } : {}) }, null, 2)}\n`)
        else io.stdout(`created environment '${name}' (Lua ${flags.luaVersion}) in ${manager.envDir(name)}\n`)
      },
    )

  env
    .command('list')
    .description('list environments with their Lua versions and package counts')
    .option('--json', 'print a JSON array')
    .addHelpText('after', '\nExamples:\n  $ bioxen-luavm env list\n  $ bioxen-luavm env list --json')
    .action(async (flags: { json?: boolean }, command: Command) => {
      const { manager } = await openEnvironments(command, io)
      const envs = await manager.list()
      if (flags.json) {
        io.stdout(`${JSON.stringify(envs, null, 2)}\n`)
        return
      }
      if (envs.length === 0) {
        io.stdout(`no environments in ${manager.root}\n`)
        return
      }
      io.stdout(
        table(
          ['NAME', 'LUA', 'PACKAGES', 'CREATED', 'PATH'],
          envs.map((e) => [
            e.name,
            e.luaVersions.join(','),
            e.luaVersions.map((v) => `${e.packageCount[v] ?? 0}`).join(','),
            e.created.slice(0, 19).replace('T', ' '),
            e.path,
          ]),
        ),
      )
    })

  env
    .command('show')
    .description('show an environment: trees, search paths, servers and installed rocks')
    .argument('<name>', 'environment name')
    .option('--json', 'print manifest and trees as JSON')
    .addHelpText('after', '\nExamples:\n  $ bioxen-luavm env show bio\n  $ bioxen-luavm env show bio --json')
    .action(async (name: string, flags: { json?: boolean }, command: Command) => {
      const { manager } = await openEnvironments(command, io)
      const details = await manager.inspect(name)
      if (flags.json) {
        io.stdout(`${JSON.stringify(details, null, 2)}\n`)
        return
      }
      const m = details.manifest
      let text = `environment ${name}\npath        ${details.path}\ncreated     ${m.created}\nupdated     ${m.updated}\nservers     ${
        m.servers.join(', ') || '(configured or luarocks defaults)'
      }\n`
      for (const tree of details.trees) {
        const recorded = m.packages[tree.luaVersion] ?? {}
        text += `\nLua ${tree.luaVersion}  ${tree.path}\n  LUA_PATH=${tree.paths.LUA_PATH}\n  LUA_CPATH=${tree.paths.LUA_CPATH}\n`
        text += tree.rocks.length
          ? table(
              ['NAME', 'VERSION', 'MODULES', 'HOW', 'INSTALLED'],
              tree.rocks.map((r) => {
                const p = recorded[r.name]
                return [
                  r.name,
                  r.version,
                  p?.modules.join(', ') ?? '?',
                  p ? (p.explicit ? 'asked' : 'dependency') : 'outside bioxen-luavm',
                  p?.installedAt.slice(0, 19).replace('T', ' ') ?? '-',
                ]
              }),
            )
          : '  (no rocks installed)\n'
      }
      io.stdout(text)
    })

  env
    .command('paths')
    .description('print LUA_PATH and LUA_CPATH for an environment as shell assignments')
    .argument('<name>', 'environment name')
    .option('--lua-version <v>', LUA_VERSION_HELP, '5.4')
    .option('--json', 'print {"LUA_PATH": ..., "LUA_CPATH": ...}')
    .addHelpText(
      'after',
      '\nExamples:\n  $ eval "$(bioxen-luavm env paths bio)" && lua5.4 -e \'print(require("bio_compute"))\'\n  $ bioxen-luavm env paths bio --json',
    )
    .action(async (name: string, flags: { luaVersion: string; json?: boolean }, command: Command) => {
      const { manager } = await openEnvironments(command, io)
      await manager.manifest(name)
      const p = manager.paths(name, flags.luaVersion)
      if (flags.json) {
        io.stdout(`${JSON.stringify({ LUA_PATH: p.LUA_PATH, LUA_CPATH: p.LUA_CPATH })}\n`)
        return
      }
      io.stdout(`export LUA_PATH=${shellQuote(p.LUA_PATH)}\nexport LUA_CPATH=${shellQuote(p.LUA_CPATH)}\n`)
    })

  env
    .command('health')
    .description('check interpreter, luarocks, profile and that every installed module loads; exit 1 when unhealthy')
    .argument('<name>', 'environment name')
    .option('--lua-version <v>', LUA_VERSION_HELP, '5.4')
    .option('--profile <name>', 'also report packages of this profile that are missing')
    .option('--catalog <file|url>', 'catalog JSON the profile comes from')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ bioxen-luavm env health bio
  $ bioxen-luavm env health bio --profile bio --json

Exit status: 0 healthy, 1 unhealthy, 2 no such environment or usage error.`,
    )
    .action(
      async (
        name: string,
        flags: { luaVersion: string; profile?: string; catalog?: string; json?: boolean },
        command: Command,
      ) => {
        const { manager } = await openEnvironments(command, io)
        const report = await manager.checkEnvironmentHealth(name, {
          luaVersion: flags.luaVersion,
          ...(flags.profile
            ? { profile: flags.profile, catalog: checkProfile(await loadCatalog(flags.catalog, io.env), flags.profile) }
            : {}),
        })
        io.stdout(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatHealthReport(report))
        setExit(report.ok ? ExitCode.ok : ExitCode.unhealthy)
      },
    )

  env
    .command('delete')
    .description('delete an environment and everything installed in it')
    .argument('<name>', 'environment name')
    .option('--json', 'print {"deleted": NAME}')
    .addHelpText('after', '\nExamples:\n  $ bioxen-luavm env delete scratch')
    .action(async (name: string, flags: { json?: boolean }, command: Command) => {
      const { manager } = await openEnvironments(command, io)
      await manager.delete(name)
      io.stdout(flags.json ? `${JSON.stringify({ deleted: name })}\n` : `deleted environment '${name}'\n`)
    })
  return env
}

/** One progress line for a profile install. */
export function outcomeLine(o: PackageOutcome): string {
  const detail =
    o.status === 'installed'
      ? ` ${o.result?.version ?? ''}`
      : o.status === 'failed'
        ? `: ${o.error?.split('\n').join(' ')}`
        : o.reason
          ? ` (${o.reason})`
          : ''
  return `${o.status.padEnd(9)} ${o.name}${detail}\n`
}

// An unknown profile is the user's mistake (exit 2), not a failed install.
function checkProfile(catalog: Catalog, profile: string): Catalog {
  try {
    catalog.profile(profile)
  } catch (error) {
    throw new UsageError((error as Error).message, 'hint: `bioxen-luavm pkg profiles` lists them')
  }
  return catalog
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}
