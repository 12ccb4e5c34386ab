import { readFile } from 'node:fs/promises'
import { connectXapi, type XapiSession, xcpngConfigSchema } from '@bioxen-luavm/backend-xcpng'
import { type ConfigField, XapiError } from '@bioxen-luavm/core'
import { confirm, input, select } from '@inquirer/prompts'
import type { CliContext } from '../lib/context.js'
import type { CliIO } from '../lib/io.js'
import { askField, askSecret, isSet } from './ask-config.js'

const SECTION = 'xcpng'
const field = (key: string) => xcpngConfigSchema[key] as ConfigField

/**
 * The menu's XCP-ng setup. Settings come from the config file and the
 * environment, or from an `xcpng_config.json` the user points at; what is
 * still missing is asked for and validated as typed. Then XAPI is tried
 * before anything is created: a self-signed certificate is shown by its
 * fingerprint and trusted only if the user says so, and the template (or
 * the VM to attach to) must exist.
 */
export async function configureXcpng(ctx: CliContext, io: CliIO): Promise<Record<string, unknown>> {
  let cfg = ctx.config.rawBackend(SECTION, xcpngConfigSchema)
  if (!isSet(cfg.xapi_url)) {
    const from = await select({
      message: 'XCP-ng settings',
      choices: [
        { name: 'Read them from an xcpng_config.json file', value: 'file' },
        { name: 'Enter them now', value: 'manual' },
      ],
    })
    // The environment still wins over the file, as with --config.
    if (from === 'file') cfg = { ...(await askConfigFile()), ...cfg }
  }
  for (const key of ['xapi_url', 'username']) {
    if (!isSet(cfg[key])) cfg[key] = await askField(SECTION, key, field(key))
  }
  if (!isSet(cfg.password)) {
    const password = await askSecret(io, SECTION, 'password', field('password'))
    if (password !== undefined) cfg.password = password
  }
  if (!isSet(cfg.template_name) && !isSet(cfg.attach_vm)) {
    const how = await select({
      message: 'Which guest?',
      choices: [
        { name: 'A new VM cloned from a template (destroyed when stopped)', value: 'template_name' },
        { name: 'A VM that already runs (only connected to, never shut down)', value: 'attach_vm' },
      ],
    })
    cfg[how] = await askField(SECTION, how, field(how))
  }
  if (!isSet(cfg.ssh_user)) cfg.ssh_user = await askField(SECTION, 'ssh_user', field('ssh_user'))
  const hasClientKey = ['ssh_key_path', 'ssh_private_key', 'ssh_agent'].some((k) => isSet(cfg[k]))
  if (!hasClientKey && !io.env.SSH_AUTH_SOCK) {
    cfg.ssh_key_path = await askField(SECTION, 'ssh_key_path', field('ssh_key_path'), 'SSH private key file')
  }
  if (!['ssh_host_key', 'known_hosts_path', 'ssh_accept_new_host_key'].some((k) => isSet(cfg[k]))) {
    cfg = { ...cfg, ...(await askHostKeyTrust()) }
  }
  await checkXapi(cfg, io)
  return cfg
}

async function askConfigFile(): Promise<Record<string, unknown>> {
  let parsed: Record<string, unknown> = {}
  await input({
    message: 'Path of xcpng_config.json',
    validate: async (path) => {
      try {
        const value = JSON.parse(await readFile(path.trim(), 'utf8')) as unknown
        if (!value || typeof value !== 'object' || Array.isArray(value)) return 'the file must hold a JSON object'
        // The original's flat file, or a bioxen-luavm config with an xcpng section.
        const section = (value as { backends?: { xcpng?: unknown } }).backends?.xcpng
        parsed = (section && typeof section === 'object' ? section : value) as Record<string, unknown>
        return true
      } catch (error) {
        return `cannot read it: ${(error as Error).message}`
      }
    },
  })
  return parsed
}

async function askHostKeyTrust(): Promise<Record<string, unknown>> {
  const how = await select({
    message: 'How should the guests’ SSH host keys be verified?',
    choices: [
      { name: 'A pinned fingerprint (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the template)', value: 'pin' },
      { name: 'A known_hosts file', value: 'known_hosts_path' },
      { name: 'Trust the first key seen for each VM (warned about; weaker)', value: 'tofu' },
    ],
  })
  if (how === 'tofu') return { ssh_accept_new_host_key: true }
  if (how === 'known_hosts_path') return { known_hosts_path: await askField(SECTION, how, field(how)) }
  return {
    ssh_host_key: await askField(SECTION, 'ssh_host_key', field('ssh_host_key'), 'Host key fingerprint (SHA256:…)'),
  }
}

/**
 * Logs in and out, so a wrong URL, certificate or password shows before
 * provisioning starts. An untrusted certificate is shown by fingerprint and
 * pinned for this VM only if the user confirms it.
 */
async function checkXapi(cfg: Record<string, unknown>, io: CliIO): Promise<void> {
  io.stdout('checking the XAPI connection…\n')
  let session: XapiSession
  try {
    session = await connectXapi(cfg)
  } catch (error) {
    const fingerprint = untrustedFingerprint(error)
    if (!fingerprint || isSet(cfg.fingerprint)) throw error
    io.stdout(
      `XAPI's certificate is not trusted here (XCP-ng hosts use self-signed certificates).\n` +
        `  SHA-256 fingerprint: ${fingerprint}\n` +
        '  compare it with the host: openssl x509 -noout -fingerprint -sha256 -in /etc/xensource/xapi-ssl.pem\n',
    )
    if (!(await confirm({ message: 'Trust this certificate (pin its fingerprint)?', default: false }))) throw error
    cfg.fingerprint = [fingerprint]
    session = await connectXapi(cfg)
  }
  try {
    const target = isSet(cfg.attach_vm) ? 'attach_vm' : 'template_name'
    const name = String(cfg[target])
    const byName = (await session.call('VM.get_by_name_label', [name])) as string[]
    const byUuid = byName.length
      ? []
      : await session.call('VM.get_by_uuid', [name]).then(
          (r) => [r],
          () => [],
        )
    if (byName.length + byUuid.length === 0) {
      throw new XapiError('UUID_INVALID', ['VM', name], `${target} '${name}' is not a VM of this pool; check ${target}`)
    }
  } finally {
    await session.logout().catch(() => {})
  }
  io.stdout('XAPI: connected (TLS verified, logged in and out)\n')
}

function untrustedFingerprint(error: unknown): string | undefined {
  if (!(error instanceof XapiError) || error.xapiCode !== 'TLS_ERROR') return undefined
  const [code, fingerprint] = error.params
  return code !== 'FINGERPRINT_MISMATCH' && fingerprint && fingerprint !== 'unknown' ? fingerprint : undefined
}
