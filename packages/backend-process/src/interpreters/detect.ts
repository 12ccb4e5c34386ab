import { execFile } from 'node:child_process'
import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, isAbsolute, join, resolve as resolvePath } from 'node:path'
import { LuaNotFoundError } from '@bioxen-luavm/core'
import { type LuaBanner, parseLuaBanner } from './parse-banner.js'

/** A Lua interpreter found on this machine. */
export interface LuaInterpreter extends LuaBanner {
  /** What was asked for (`lua5.4`, or a path). */
  command: string
  /** Absolute path of the executable. */
  path: string
}

/**
 * Names tried, best first, when no `luaExecutable` is configured. Plain
 * `lua` comes last: on Debian it becomes Lua 5.1 as soon as luarocks is
 * installed, so choosing it silently changes numeric output and error text.
 */
export const DEFAULT_INTERPRETERS: readonly string[] = ['lua5.4', 'lua5.3', 'lua5.2', 'lua5.1', 'luajit', 'lua']

/** How to get an interpreter, for error messages. */
export const INSTALL_ADVICE =
  'install one: `apt-get install lua5.4` (Debian/Ubuntu), `dnf install lua` (Fedora), `brew install lua` (macOS), ' +
  'or set backends.process.luaExecutable to an interpreter path'

const VERSION_TIMEOUT_MS = 3_000

type Probe = { interpreter?: LuaInterpreter; problem?: string }
const probes = new Map<string, Promise<Probe>>()

/** Finds an executable like `execvp` would, so the path can be reported. */
export function which(command: string, pathVar = process.env.PATH ?? ''): string | undefined {
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK)
      return statSync(p).isFile()
    } catch {
      return false
    }
  }
  if (command.includes('/')) {
    const p = isAbsolute(command) ? command : resolvePath(command)
    return executable(p) ? p : undefined
  }
  for (const dir of pathVar.split(delimiter)) {
    if (dir === '') continue
    const p = join(dir, command)
    if (executable(p)) return p
  }
  return undefined
}

/**
 * Runs `<command> -v` (argv only, no shell, short deadline) and parses its
 * banner. Results are cached per command for the life of the process, so
 * `detect()` and VM starts pay for one spawn per interpreter at most.
 */
export function probeInterpreter(command: string): Promise<Probe> {
  let p = probes.get(command)
  if (!p) {
    p = runProbe(command)
    probes.set(command, p)
  }
  return p
}

/** Forgets cached probes (tests, or after installing an interpreter). */
export function clearInterpreterCache(): void {
  probes.clear()
}

function runProbe(command: string): Promise<Probe> {
  const path = which(command)
  if (!path) return Promise.resolve({ problem: `'${command}' was not found${command.includes('/') ? '' : ' on PATH'}` })
  return new Promise((resolve) => {
    execFile(
      path,
      ['-v'],
      { timeout: VERSION_TIMEOUT_MS, killSignal: 'SIGKILL', windowsHide: true, env: { PATH: process.env.PATH ?? '' } },
      (error, stdout, stderr) => {
        const banner = parseLuaBanner(`${stdout}\n${stderr}`)
        if (banner) return resolve({ interpreter: { ...banner, command, path } })
        const why = error
          ? (error as NodeJS.ErrnoException & { killed?: boolean }).killed
            ? `did not answer '-v' within ${VERSION_TIMEOUT_MS} ms`
            : `failed to run '-v': ${error.message.split('\n')[0]}`
          : `'-v' printed no Lua version (${JSON.stringify(`${stdout}${stderr}`.trim().slice(0, 80))})`
        resolve({ problem: `'${command}' (${path}) ${why}` })
      },
    ).stdin?.end()
  })
}

/** Every default interpreter that is installed, best first, plus why the others are not usable. */
export async function findInterpreters(): Promise<{ found: LuaInterpreter[]; problems: string[] }> {
  const results = await Promise.all(DEFAULT_INTERPRETERS.map((c) => probeInterpreter(c)))
  const found: LuaInterpreter[] = []
  const problems: string[] = []
  for (const r of results) {
    if (r.interpreter) {
      found.push(r.interpreter)
    } else if (r.problem) problems.push(r.problem)
  }
  return { found, problems }
}

/**
 * The interpreter a VM uses: the configured one when given (it must work —
 * no silent fallback), else the best installed one. Throws
 * `LuaNotFoundError` with install advice when there is none.
 */
export async function resolveInterpreter(luaExecutable?: string): Promise<LuaInterpreter> {
  if (luaExecutable !== undefined && luaExecutable !== '') {
    const { interpreter, problem } = await probeInterpreter(luaExecutable)
    if (interpreter) return interpreter
    throw new LuaNotFoundError(`Lua interpreter ${problem ?? `'${luaExecutable}' is unusable`}; ${INSTALL_ADVICE}`, {
      details: { luaExecutable },
    })
  }
  const { found, problems } = await findInterpreters()
  const best = found[0]
  if (best) return best
  throw new LuaNotFoundError(`no Lua interpreter found (tried ${DEFAULT_INTERPRETERS.join(', ')}); ${INSTALL_ADVICE}`, {
    details: { tried: [...DEFAULT_INTERPRETERS], problems },
  })
}
