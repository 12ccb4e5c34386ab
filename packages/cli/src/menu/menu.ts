import { connectXapi } from '@bioxen-luavm/backend-xcpng'
import type { BaseLuaVM, ConfigSchema, DetectedBackend } from '@bioxen-luavm/core'
import { Catalog } from '@bioxen-luavm/core'
import { confirm, input, select } from '@inquirer/prompts'
import type { CliContext } from '../lib/context.js'
import type { CliIO } from '../lib/io.js'
import { table } from '../lib/table.js'
import { ttyRepl } from '../lib/tty-repl.js'
import { startWithProgress } from '../lib/vm.js'
import { manageEnvironments } from './environments.js'
import { loadProfiles, profilesFile, saveProfile, type VMProfile } from './profiles.js'

type Action = 'repl' | 'create' | 'list' | 'stop' | 'install' | 'search' | 'envs' | 'save' | 'load' | 'quit'

/**
 * The interactive menu (a terminal and no subcommand): the original's
 * questionary flow — choose a backend (showing what is available here and
 * why not), create VMs, open REPLs on them, install packages, save and load
 * VM profiles, stop VMs. Quitting stops every VM it started.
 */
export async function runMenu(ctx: CliContext, io: CliIO): Promise<number> {
  const vms = new Map<string, BaseLuaVM>()
  const file = profilesFile(io.env)
  try {
    for (;;) {
      const action = await select<Action>({
        message: 'What do you want to do?',
        choices: [
          { name: 'Open a Lua REPL', value: 'repl' },
          { name: 'Create a VM', value: 'create' },
          { name: 'List VMs', value: 'list', disabled: vms.size === 0 && '(no VMs yet)' },
          { name: 'Stop a VM', value: 'stop', disabled: vms.size === 0 && '(no VMs yet)' },
          { name: 'Install a package into a VM', value: 'install', disabled: vms.size === 0 && '(no VMs yet)' },
          { name: 'Search the package catalog', value: 'search' },
          { name: 'Manage environments', value: 'envs' },
          { name: 'Save a VM profile', value: 'save' },
          { name: 'Create a VM from a saved profile', value: 'load' },
          { name: 'Quit', value: 'quit' },
        ],
      })
      if (action === 'quit') break
      try {
        await actions[action]({ ctx, io, vms, file })
      } catch (error) {
        if (isPromptExit(error)) throw error
        io.stderr(`error: ${(error as Error).message}\n`)
      }
    }
  } catch (error) {
    if (!isPromptExit(error)) throw error
  } finally {
    await Promise.allSettled([...vms.values()].map((vm) => vm.stop()))
    if (vms.size) io.stdout(`stopped ${vms.size} VM(s)\n`)
  }
  return 0
}

interface MenuState {
  ctx: CliContext
  io: CliIO
  vms: Map<string, BaseLuaVM>
  file: string
}

const actions: Record<Exclude<Action, 'quit'>, (s: MenuState) => Promise<void>> = {
  async repl(s) {
    const vm = s.vms.size ? await pickVM(s, 'REPL on which VM?', true) : await createVM(s)
    if (!vm) return
    const session = await vm.openSession({ chunkName: 'stdin' })
    try {
      await ttyRepl(session, `${vm.luaVersion} on ${vm.type} (VM '${vm.id}')`)
    } finally {
      await session.close()
    }
  },
  async create(s) {
    await createVM(s)
  },
  async list(s) {
    const rows = await Promise.all(
      [...s.vms.values()].map(async (vm) => {
        const st = await vm.getStatus()
        return [vm.id, vm.type, st.state, st.luaVersion ?? '-', String(st.executions)]
      }),
    )
    s.io.stdout(table(['VM', 'BACKEND', 'STATE', 'LUA', 'EXECUTIONS'], rows))
  },
  async stop(s) {
    const vm = await pickVM(s, 'Stop which VM?', false)
    if (!vm) return
    await vm.stop()
    s.vms.delete(vm.id)
    s.io.stdout(`stopped '${vm.id}'\n`)
  },
  async install(s) {
    const vm = await pickVM(s, 'Install into which VM?', false)
    if (!vm) return
    const name = await input({ message: 'Package name', validate: (v) => v.trim() !== '' || 'a name is needed' })
    const result = await vm.installPackage(name.trim())
    s.io.stdout(`installed ${result.name} ${result.version}; require: ${result.modules.join(', ') || '(no modules)'}\n`)
  },
  async search(s) {
    const query = await input({ message: 'Search for' })
    const found = Catalog.default().search(query)
    s.io.stdout(
      found.length
        ? table(
            ['NAME', 'PURE', 'DESCRIPTION'],
            found.map((p) => [p.name, p.pure ? 'yes' : 'no', p.description]),
          )
        : 'no package matches\n',
    )
  },
  async envs(s) {
    await manageEnvironments(s.ctx, s.io)
  },
  async save(s) {
    const { profile } = await chooseBackendConfig(s)
    const name = await input({
      message: 'Profile name',
      validate: (v) => /^[\w.-]+$/.test(v) || 'letters, digits, . _ -',
    })
    await saveProfile(s.file, name, profile)
    s.io.stdout(`saved profile '${name}' to ${s.file}\n`)
  },
  async load(s) {
    const profiles = await loadProfiles(s.file)
    const names = Object.keys(profiles)
    if (!names.length) {
      s.io.stdout(`no saved profiles in ${s.file}\n`)
      return
    }
    const name = await select({ message: 'Which profile?', choices: names.map((n) => ({ name: n, value: n })) })
    await startVM(s, profiles[name] as VMProfile)
  },
}

async function createVM(s: MenuState): Promise<BaseLuaVM | undefined> {
  const { profile } = await chooseBackendConfig(s)
  return startVM(s, profile)
}

async function startVM(s: MenuState, profile: VMProfile): Promise<BaseLuaVM> {
  const base = `${profile.backend}-${s.vms.size + 1}`
  const id = s.vms.has(base) ? `${base}-${Date.now().toString(36)}` : base
  s.io.stdout(`starting ${profile.backend} VM '${id}'…\n`)
  const vm = await s.ctx.registry.create(profile.backend, id, profile.config, {
    limits: { ...s.ctx.config.limits, ...profile.limits },
    autoStart: false,
  })
  await startWithProgress(vm, s.io)
  s.vms.set(id, vm)
  s.io.stdout(`VM '${id}' is running ${vm.luaVersion}\n`)
  return vm
}

async function chooseBackendConfig(s: MenuState): Promise<{ profile: VMProfile }> {
  const detected = await s.ctx.registry.detect()
  const backend = await select({
    message: 'Which backend?',
    choices: detected.map((b) => ({
      name: `${b.type.padEnd(8)} ${b.description}`,
      value: b.type,
      disabled: !b.available && `(unavailable: ${b.reason ?? 'unknown'})`,
    })),
  })
  const d = detected.find((b) => b.type === backend) as DetectedBackend
  const schema = s.ctx.registry.get(backend)?.configSchema
  const config = schema ? await askConfig(s, backend, schema) : {}
  if (backend === 'xcpng') await checkXapi(s, config)
  return { profile: { backend: d.type, config } }
}

// Prompts only for keys without a value from the config file or environment;
// secrets are never stored unless the user insists.
async function askConfig(s: MenuState, type: string, schema: ConfigSchema): Promise<Record<string, unknown>> {
  const known = s.ctx.config.rawBackend(type, schema)
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(schema)) {
    if (known[key] !== undefined && known[key] !== '') continue
    if (!field.required) continue
    if (field.secret) {
      const envName = field.env?.[0] ?? `LUAVM_${type}_${key}`.toUpperCase()
      s.io.stdout(`${key} is a secret: set ${envName} in the environment rather than saving it.\n`)
      const insist = await confirm({ message: `Type ${key} now anyway (kept in memory only)?`, default: false })
      if (insist) out[key] = await input({ message: key, theme: { style: { answer: () => '********' } } })
      continue
    }
    out[key] = await input({ message: `${key} — ${field.description}` })
  }
  return { ...known, ...out }
}

/** Logs in to XAPI and out again, so a wrong URL, certificate or password shows before provisioning starts. */
async function checkXapi(s: MenuState, config: Record<string, unknown>): Promise<void> {
  s.io.stdout('checking the XAPI connection…\n')
  const session = await connectXapi(config)
  await session.logout().catch(() => {})
  s.io.stdout('XAPI: connected (TLS verified, logged in and out)\n')
}

async function pickVM(s: MenuState, message: string, allowNew: boolean): Promise<BaseLuaVM | undefined> {
  const choices: { name: string; value: string }[] = [...s.vms.values()].map((vm) => ({
    name: `${vm.id} (${vm.type}, ${vm.state})`,
    value: vm.id,
  }))
  if (allowNew) choices.push({ name: 'a new VM…', value: '' })
  const id = await select({ message, choices })
  return id === '' ? createVM(s) : s.vms.get(id)
}

function isPromptExit(error: unknown): boolean {
  return error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError')
}
