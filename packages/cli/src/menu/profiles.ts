import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'

/** A named, saved VM setup the menu can recreate. */
export interface VMProfile {
  backend: string
  /** Backend config. Secrets are kept out unless the user insisted. */
  config: Record<string, unknown>
  limits?: { timeoutMs?: number; memoryLimitBytes?: number; maxOutputBytes?: number }
}

/** Where profiles live: `$XDG_CONFIG_HOME/bioxen-luavm/profiles.json` (never the current directory). */
export function profilesFile(env: Record<string, string | undefined>): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'bioxen-luavm', 'profiles.json')
}

/** Saved profiles by name; none when the file does not exist. */
export async function loadProfiles(file: string): Promise<Record<string, VMProfile>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, VMProfile>
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new Error(`cannot read VM profiles from ${file}: ${(error as Error).message}`)
  }
}

/** Saves one profile. The file is private to the user (0600): it may hold a key path or, if insisted, a password. */
export async function saveProfile(file: string, name: string, profile: VMProfile): Promise<void> {
  const all = await loadProfiles(file)
  all[name] = profile
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await writeFile(file, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 })
  await chmod(file, 0o600)
}
