import type { XcpngVM } from '@bioxen-luavm/backend-xcpng'
import type { BaseLuaVM, InteractiveSession } from '@bioxen-luavm/core'
import { Catalog } from '@bioxen-luavm/core'
import { checkbox, confirm, input, select } from '@inquirer/prompts'
import type { CliContext } from '../lib/context.js'
import { ExitCode } from '../lib/exit-codes.js'
import { historyFile } from '../lib/history.js'
import type { CliIO } from '../lib/io.js'
import { table } from '../lib/table.js'
import { type RunningInput, ttyRepl } from '../lib/tty-repl.js'
import { startWithProgress } from '../lib/vm.js'
import { askConfig } from './ask-config.js'
import { manageEnvironments } from './environments.js'
import { loadProfiles, profilesFile, saveProfile, type VMProfile } from './profiles.js'
import { configureXcpng } from './xcpng-setup.js'

type Action = 'repl' | 'attach' | 'create' | 'list' | 'stop' | 'install' | 'search' | 'envs' | 'save' | 'load' | 'quit'

/** A session the user detached from: it keeps its Lua state and whatever it still runs and prints. */
interface DetachedSession {
  session: InteractiveSession
  running?: RunningInput | undefined
}

/**
 * The interactive menu (a terminal and no subcommand): the original's
 * questionary flow — choose a backend (showing what is available here and
 * why not), create VMs, open REPLs on them, detach from and reattach to
 * their sessions, install packages, save and load VM profiles, stop VMs.
 * Quitting stops every VM it started, except XCP-ng VMs the user chooses
 * to keep.
 */
export async function runMenu(ctx: CliContext, io: CliIO): Promise<number> {
  const vms = new Map<string, BaseLuaVM>()
  const detached = new Map<string, DetachedSession>()
  const file = profilesFile(io.env)
  let keep: BaseLuaVM[] = []
  let code: number = ExitCode.ok
  try {
    for (;;) {
      const none = vms.size === 0 && '(no VMs yet)'
      const action = await select<Action>({
        message: 'What do you want to do?',
        pageSize: 11, // the whole menu, no scrolling
        choices: [
          { name: 'Open a Lua REPL', value: 'repl' },
          { name: 'Attach to a detached session', value: 'attach', disabled: detached.size === 0 && '(none)' },
          { name: 'Create a VM', value: 'create' },
          { name: 'List VMs', value: 'list', disabled: none },
          { name: 'Stop a VM', value: 'stop', disabled: none },
          { name: 'Install a package into a VM', value: 'install', disabled: none },
          { name: 'Search the package catalog', value: 'search' },
          { name: 'Manage environments', value: 'envs' },
          { name: 'Save a VM profile', value: 'save' },
          { name: 'Create a VM from a saved profile', value: 'load' },
          { name: 'Quit', value: 'quit' },
        ],
      })
      if (action === 'quit') {
        keep = await chooseKept(vms)
        break
      }
      try {
        await actions[action]({ ctx, io, vms, detached, file })
      } catch (error) {
        if (isPromptExit(error)) throw error
        io.stderr(`error: ${(error as Error).message}\n`)
      }
    }
  } catch (error) {
    if (!isPromptExit(error)) throw error
    // Ctrl-C at a prompt: leave as a shell expects of an interrupted program.
    code = ExitCode.interrupted
  } finally {
    await closeDown(vms, keep, io)
  }
  return code
}

interface MenuState {
  ctx: CliContext
  io: CliIO
  vms: Map<string, BaseLuaVM>
  detached: Map<string, DetachedSession>
  file: string
}

const actions: Record<Exclude<Action, 'quit'>, (s: MenuState) => Promise<void>> = {
  async repl(s) {
    const vm = s.vms.size ? await pickVM(s, 'REPL on which VM?', true) : await createVM(s)
    if (vm) await attachRepl(s, vm)
  },
  async attach(s) {
    const vmId = await select({
      message: 'Attach to which session?',
      choices: [...s.detached].map(([id, d]) => ({
        name: `${id} (${s.vms.get(id)?.type ?? '?'}, ${d.running ? 'running a chunk' : 'idle'})`,
        value: id,
      })),
    })
    const vm = s.vms.get(vmId)
    if (vm) await attachRepl(s, vm)
  },
  async create(s) {
    await createVM(s)
  },
  async list(s) {
    const rows = await Promise.all(
      [...s.vms.values()].map(async (vm) => {
        const st = await vm.getStatus()
        const session = s.detached.get(vm.id)
        const described = session ? (session.running ? 'detached, running' : 'detached') : '-'
        return [vm.id, vm.type, st.state, st.luaVersion ?? '-', String(st.executions), described]
      }),
    )
    s.io.stdout(table(['VM', 'BACKEND', 'STATE', 'LUA', 'EXECUTIONS', 'SESSION'], rows))
  },
  async stop(s) {
    const vm = await pickVM(s, 'Stop which VM?', false)
    if (!vm) return
    await vm.stop()
    s.vms.delete(vm.id)
    s.detached.delete(vm.id)
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
    await saveProfile(s.file, name, await withoutUnwantedSecrets(s, profile))
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

/**
 * A REPL on the VM's detached session when it has one (showing what it
 * printed meanwhile), else on a new session. Leaving with `.exit` closes
 * the session; detaching keeps it for "Attach to a detached session".
 */
async function attachRepl(s: MenuState, vm: BaseLuaVM): Promise<void> {
  const earlier = s.detached.get(vm.id)
  s.detached.delete(vm.id)
  const session = earlier?.session ?? (await vm.openSession({ chunkName: 'stdin' }))
  let outcome: Awaited<ReturnType<typeof ttyRepl>> | undefined
  try {
    outcome = await ttyRepl(session, `${vm.luaVersion} on ${vm.type} (VM '${vm.id}')`, {
      detachable: true,
      running: earlier?.running,
      historyFile: historyFile(s.io.env),
    })
  } finally {
    if (outcome?.left === 'detach' && session.state === 'open') {
      s.detached.set(vm.id, { session, running: outcome.running })
      s.io.stdout(
        `detached from VM '${vm.id}'; its session keeps running — "Attach to a detached session" returns to it\n`,
      )
    } else {
      await session.close()
    }
  }
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
    choices: detected.map((b) => {
      // Unconfigured XCP-ng is no obstacle here: the menu asks for its settings.
      const askable = b.type === 'xcpng' && !b.available
      return {
        name: `${b.type.padEnd(8)} ${b.description}${askable ? ' (settings asked next)' : ''}`,
        value: b.type,
        disabled: !b.available && !askable && `(unavailable: ${b.reason ?? 'unknown'})`,
      }
    }),
  })
  const schema = s.ctx.registry.get(backend)?.configSchema
  const config =
    backend === 'xcpng'
      ? await configureXcpng(s.ctx, s.io)
      : schema
        ? await askConfig(s.io, backend, schema, s.ctx.config.rawBackend(backend, schema))
        : {}
  return { profile: { backend, config } }
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

/** Secrets stay out of profile files unless the user insists, key by key. */
async function withoutUnwantedSecrets(s: MenuState, profile: VMProfile): Promise<VMProfile> {
  const schema = s.ctx.registry.get(profile.backend)?.configSchema ?? {}
  const config = { ...profile.config }
  for (const [key, field] of Object.entries(schema)) {
    if (!field.secret || config[key] === undefined) continue
    const keep = await confirm({
      message: `Store ${key} in ${s.file} (plain text, readable only by you)? Otherwise set it in the environment`,
      default: false,
    })
    if (!keep) delete config[key]
  }
  return { ...profile, config }
}

/** At Quit: which running XCP-ng VMs to leave running (none by default). */
async function chooseKept(vms: Map<string, BaseLuaVM>): Promise<BaseLuaVM[]> {
  const xcpng = [...vms.values()].filter((vm) => vm.type === 'xcpng' && vm.state === 'running')
  if (xcpng.length === 0) return []
  const ids = await checkbox({
    message: 'Keep which XCP-ng VMs running after quitting? (space selects; the others are destroyed)',
    choices: xcpng.map((vm) => {
      const guest = (vm as XcpngVM).guest
      return { name: `${vm.id} (${guest?.vmName ?? '?'} at ${guest?.ip ?? '?'})`, value: vm.id }
    }),
  })
  return xcpng.filter((vm) => ids.includes(vm.id))
}

/** Keeps the chosen XCP-ng guests (untagged, so `xcpng reap` leaves them) and stops everything else. */
async function closeDown(vms: Map<string, BaseLuaVM>, keep: readonly BaseLuaVM[], io: CliIO): Promise<void> {
  for (const vm of keep) {
    vms.delete(vm.id)
    try {
      const kept = await (vm as XcpngVM).keep()
      io.stdout(
        `kept XCP-ng VM ${kept.vmName} (${kept.vmUuid}) running at ${kept.ip}\n` +
          `  reconnect: attach_vm=${kept.vmUuid}\n` +
          `  remove:    bioxen-luavm xcpng destroy --force ${kept.vmUuid}\n`,
      )
    } catch (error) {
      io.stderr(`error: could not keep VM '${vm.id}': ${(error as Error).message}\n`)
      vms.set(vm.id, vm)
    }
  }
  await Promise.allSettled([...vms.values()].map((vm) => vm.stop()))
  if (vms.size) io.stdout(`stopped ${vms.size} VM(s)\n`)
}

function isPromptExit(error: unknown): boolean {
  return error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError')
}
