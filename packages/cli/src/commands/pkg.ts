import type { EnvironmentManager } from '@bioxen-luavm/backend-process'
import type { CatalogPackage, InstallResult } from '@bioxen-luavm/core'
import type { Command } from 'commander'
import { loadCatalog } from '../lib/catalog.js'
import { openEnvironments, serverList } from '../lib/environments.js'
import { UsageError } from '../lib/errors.js'
import type { CliIO } from '../lib/io.js'
import { table } from '../lib/table.js'
import { openVM } from '../lib/vm.js'

const LUA_VERSION_HELP = 'Lua version of the environment tree: 5.1, 5.2, 5.3 or 5.4'

interface InstallFlags {
  version?: string
  backend?: string
  env?: string
  luaVersion: string
  json?: boolean
}

/** One installed rock, as `pkg list` prints it. */
interface ListedRock {
  environment: string
  luaVersion: string
  name: string
  version: string
  modules: string[]
  explicit: boolean | null
  installedAt: string | null
  source: string | null
}

/** `pkg`: the package catalog, its profiles, and installing into environments or VMs. */
export function registerPkg(program: Command, io: CliIO): Command {
  const pkg = program
    .command('pkg')
    .description('search the package catalog, list profiles, install packages')
    .addHelpText(
      'after',
      `
Examples:
  $ bioxen-luavm pkg search json
  $ bioxen-luavm pkg profiles --json
  $ bioxen-luavm pkg install bio_compute --env bio --servers /srv/rocks
  $ bioxen-luavm pkg list --env bio`,
    )

  pkg
    .command('search')
    .description('search package names, descriptions and categories')
    .argument('[query...]', 'words that must all match; none lists everything')
    .option('--json', 'print a JSON array')
    .option('--pure', 'only pure-Lua packages (installable on wasm and fengari)')
    .option('--catalog <file|url>', 'catalog JSON to search (default: $LUAVM_CATALOG or the built-in)')
    .addHelpText('after', '\nExamples:\n  $ bioxen-luavm pkg search json\n  $ bioxen-luavm pkg search --pure sequence')
    .action(async (words: string[], flags: { json?: boolean; pure?: boolean; catalog?: string }) => {
      const found = (await loadCatalog(flags.catalog, io.env))
        .search(words.join(' '))
        .filter((p) => !flags.pure || p.pure)
      if (flags.json) io.stdout(`${JSON.stringify(found, null, 2)}\n`)
      else io.stdout(found.length ? packageTable(found) : 'no package matches\n')
    })

  pkg
    .command('profiles')
    .description('list the package profiles (minimal, standard, full, bio, ...)')
    .option('--json', 'print a JSON array')
    .option('--catalog <file|url>', 'catalog JSON to read (default: $LUAVM_CATALOG or the built-in)')
    .addHelpText('after', '\nExamples:\n  $ bioxen-luavm pkg profiles')
    .action(async (flags: { json?: boolean; catalog?: string }) => {
      const profiles = (await loadCatalog(flags.catalog, io.env)).profiles()
      if (flags.json) io.stdout(`${JSON.stringify(profiles, null, 2)}\n`)
      else
        io.stdout(
          table(
            ['PROFILE', 'PACKAGES', 'DESCRIPTION'],
            profiles.map((p) => [p.name, p.packages.join(', '), p.description]),
          ),
        )
    })

  pkg
    .command('install')
    .description('install a rock into an environment (--env), or into a fresh VM of a backend to check it')
    .argument('<name>', 'rock name, e.g. bio_compute')
    .option('--version <v>', 'exact rock version, e.g. 1.0-1')
    .option('-b, --backend <type>', 'without --env: backend of the throwaway VM (default: config, else wasm)')
    .option('--env <name>', 'environment to install into (created when missing)')
    .option('--lua-version <v>', LUA_VERSION_HELP, '5.4')
    .option('--servers <list>', 'rock servers, comma-separated URLs or directories', serverList)
    .option('--json', 'print the install result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ bioxen-luavm pkg install bio_compute --env bio --servers /srv/rocks
  $ bioxen-luavm pkg install versioned_mod --version 1.0-1 --env old
  $ bioxen-luavm pkg install bio_compute --backend process   # try it in a VM that is then discarded

Rock servers also come from LUAVM_ROCK_SERVERS or backends.process.servers.
Exit status: 0 ok, 2 bad name or usage, 4 the install failed (luarocks' message is shown).`,
    )
    .action(async (name: string, flags: InstallFlags, command: Command) => {
      if (flags.env !== undefined) {
        if (flags.backend !== undefined && !['process', 'basic'].includes(flags.backend)) {
          throw new UsageError(
            `--env installs into a luarocks environment (used by the process backend); drop --backend ${flags.backend}`,
          )
        }
        const { manager, servers } = await openEnvironments(command, io)
        const result = await manager.install(flags.env, name, {
          luaVersion: flags.luaVersion,
          create: true,
          ...(flags.version === undefined ? {} : { version: flags.version }),
          ...(servers ? { servers } : {}),
        })
        report(result, `environment '${flags.env}' (Lua ${flags.luaVersion}) at ${result.location}`, flags.json, io)
        return
      }
      const { servers } = await openEnvironments(command, io)
      const { vm } = await openVM('cli-pkg', command, io)
      await using _vm = vm
      const result = await vm.installPackage(name, {
        ...(flags.version === undefined ? {} : { version: flags.version }),
        ...(servers ? { servers } : {}),
      })
      report(result, `a ${vm.type} VM`, flags.json, io)
      if (!flags.json) io.stdout('the VM was discarded; use --env NAME to keep what you install\n')
    })

  pkg
    .command('remove')
    .description('remove a rock from an environment')
    .argument('<name>', 'rock name')
    .requiredOption('--env <name>', 'environment to remove it from')
    .option('--lua-version <v>', LUA_VERSION_HELP, '5.4')
    .option('--json', 'print {"removed": NAME, "env": ENV, "luaVersion": V}')
    .addHelpText('after', '\nExamples:\n  $ bioxen-luavm pkg remove versioned_mod --env old')
    .action(async (name: string, flags: { env: string; luaVersion: string; json?: boolean }, command: Command) => {
      const { manager } = await openEnvironments(command, io)
      await manager.remove(flags.env, name, { luaVersion: flags.luaVersion })
      io.stdout(
        flags.json
          ? `${JSON.stringify({ removed: name, env: flags.env, luaVersion: flags.luaVersion })}\n`
          : `removed ${name} from environment '${flags.env}' (Lua ${flags.luaVersion})\n`,
      )
    })

  pkg
    .command('list')
    .description('list rocks installed in an environment (or in every environment)')
    .option('--env <name>', 'only this environment')
    .option('--lua-version <v>', 'only this Lua version')
    .option('--json', 'print a JSON array')
    .addHelpText(
      'after',
      '\nExamples:\n  $ bioxen-luavm pkg list --env bio\n  $ bioxen-luavm pkg list --lua-version 5.4 --json',
    )
    .action(async (flags: { env?: string; luaVersion?: string; json?: boolean }, command: Command) => {
      const { manager } = await openEnvironments(command, io)
      const names = flags.env !== undefined ? [flags.env] : (await manager.list()).map((e) => e.name)
      const rocks: ListedRock[] = []
      for (const env of names) rocks.push(...(await listRocks(manager, env, flags.luaVersion)))
      if (flags.json) io.stdout(`${JSON.stringify(rocks, null, 2)}\n`)
      else if (rocks.length === 0) io.stdout('no packages installed\n')
      else
        io.stdout(
          table(
            ['ENV', 'LUA', 'NAME', 'VERSION', 'MODULES', 'HOW'],
            rocks.map((r) => [
              r.environment,
              r.luaVersion,
              r.name,
              r.version,
              r.modules.join(', '),
              r.explicit === null ? 'outside bioxen-luavm' : r.explicit ? 'asked' : 'dependency',
            ]),
          ),
        )
    })
  return pkg
}

// What luarocks lists is the truth; the manifest adds how and when.
async function listRocks(
  manager: EnvironmentManager,
  env: string,
  luaVersion: string | undefined,
): Promise<ListedRock[]> {
  const details = await manager.inspect(env)
  const out: ListedRock[] = []
  for (const tree of details.trees) {
    if (luaVersion !== undefined && tree.luaVersion !== luaVersion) continue
    const recorded = details.manifest.packages[tree.luaVersion] ?? {}
    for (const rock of tree.rocks) {
      const p = recorded[rock.name]
      out.push({
        environment: env,
        luaVersion: tree.luaVersion,
        name: rock.name,
        version: rock.version,
        modules: p?.modules ?? [],
        explicit: p ? p.explicit : null,
        installedAt: p?.installedAt ?? null,
        source: p?.source ?? null,
      })
    }
  }
  return out
}

function report(result: InstallResult, where: string, json: boolean | undefined, io: CliIO): void {
  if (json) {
    io.stdout(`${JSON.stringify(result, null, 2)}\n`)
    return
  }
  io.stdout(
    `installed ${result.name} ${result.version} into ${where}\nmodules: ${result.modules.join(', ') || '(none)'}\n`,
  )
}

function packageTable(packages: CatalogPackage[]): string {
  return table(
    ['NAME', 'PRIORITY', 'CATEGORY', 'PURE', 'DESCRIPTION'],
    packages.map((p) => [p.name, String(p.priority), p.category, p.pure ? 'yes' : 'no', p.description]),
  )
}
