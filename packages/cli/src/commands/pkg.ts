import { Catalog, type CatalogPackage } from '@bioxen-luavm/core'
import type { Command } from 'commander'
import type { CliIO } from '../lib/io.js'
import { table } from '../lib/table.js'

/** `pkg`: the package catalog and its profiles. */
export function registerPkg(program: Command, io: CliIO): Command {
  const pkg = program.command('pkg').description('search the package catalog, list profiles, install packages')

  pkg
    .command('search')
    .description('search package names, descriptions and categories')
    .argument('[query...]', 'words that must all match; none lists everything')
    .option('--json', 'print a JSON array')
    .option('--pure', 'only pure-Lua packages (installable on wasm and fengari)')
    .addHelpText('after', '\nExamples:\n  $ bioxen-luavm pkg search json\n  $ bioxen-luavm pkg search --pure sequence')
    .action((words: string[], flags: { json?: boolean; pure?: boolean }) => {
      const found = Catalog.default()
        .search(words.join(' '))
        .filter((p) => !flags.pure || p.pure)
      if (flags.json) io.stdout(`${JSON.stringify(found, null, 2)}\n`)
      else io.stdout(found.length ? packageTable(found) : 'no package matches\n')
    })

  pkg
    .command('profiles')
    .description('list the package profiles (minimal, standard, full, bio, ...)')
    .option('--json', 'print a JSON array')
    .addHelpText('after', '\nExamples:\n  $ bioxen-luavm pkg profiles')
    .action((flags: { json?: boolean }) => {
      const profiles = Catalog.default().profiles()
      if (flags.json) io.stdout(`${JSON.stringify(profiles, null, 2)}\n`)
      else
        io.stdout(
          table(
            ['PROFILE', 'PACKAGES', 'DESCRIPTION'],
            profiles.map((p) => [p.name, p.packages.join(', '), p.description]),
          ),
        )
    })
  return pkg
}

function packageTable(packages: CatalogPackage[]): string {
  return table(
    ['NAME', 'PRIORITY', 'CATEGORY', 'PURE', 'DESCRIPTION'],
    packages.map((p) => [p.name, String(p.priority), p.category, p.pure ? 'yes' : 'no', p.description]),
  )
}
