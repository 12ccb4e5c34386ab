import {
  checkEnvironmentHealth,
  defaultEnvironmentRoot,
  EnvironmentManager,
  formatHealthReport,
  processConfigSchema,
} from '@bioxen-luavm/backend-process'
import { confirm, input, select } from '@inquirer/prompts'
import type { CliContext } from '../lib/context.js'
import type { CliIO } from '../lib/io.js'
import { table } from '../lib/table.js'

/** The menu's "Manage environments": list, create, check and delete luarocks environments. */
export async function manageEnvironments(ctx: CliContext, io: CliIO): Promise<void> {
  const section = ctx.config.backend('process', processConfigSchema) as { envRoot?: string; servers?: string[] }
  const manager = new EnvironmentManager({
    root: section.envRoot ?? defaultEnvironmentRoot(io.env),
    ...(section.servers ? { servers: section.servers } : {}),
  })
  const action = await select({
    message: 'Environments',
    choices: [
      { name: 'List environments', value: 'list' },
      { name: 'Create an environment', value: 'create' },
      { name: 'Check an environment’s health', value: 'health' },
      { name: 'Delete an environment', value: 'delete' },
      { name: 'Back', value: 'back' },
    ],
  })
  if (action === 'back') return
  if (action === 'create') {
    const name = await input({
      message: 'Name',
      validate: (v) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(v) || 'letters, digits, . _ -',
    })
    const luaVersion = await select({
      message: 'Lua version',
      choices: ['5.4', '5.3', '5.1'].map((v) => ({ name: v, value: v })),
    })
    await manager.create(name, { luaVersion })
    io.stdout(`created environment '${name}' (Lua ${luaVersion}) in ${manager.root}\n`)
    return
  }
  const envs = await manager.list()
  if (action === 'list' || envs.length === 0) {
    io.stdout(
      envs.length
        ? table(
            ['NAME', 'LUA', 'PACKAGES'],
            envs.map((e) => [e.name, e.luaVersions.join(', '), JSON.stringify(e.packageCount)]),
          )
        : `no environments in ${manager.root}\n`,
    )
    return
  }
  const name = await select({
    message: 'Which environment?',
    choices: envs.map((e) => ({ name: e.name, value: e.name })),
  })
  if (action === 'health') {
    io.stdout(`${formatHealthReport(await checkEnvironmentHealth(manager, name))}\n`)
  } else if (await confirm({ message: `Delete '${name}' and everything installed in it?`, default: false })) {
    await manager.delete(name)
    io.stdout(`deleted environment '${name}'\n`)
  }
}
