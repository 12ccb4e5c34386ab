import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Catalog, type InstalledRock } from '@bioxen-luavm/core'
import { type LuaInterpreter, probeInterpreter } from '../interpreters/detect.js'
import type { EnvironmentManager } from './environment-manager.js'
import { LocalCommandRunner } from './local-runner.js'
import { interpretersFor, luaVersionOf, validateLuaVersion } from './paths.js'

/** Options of {@link checkEnvironmentHealth}. */
export interface HealthOptions {
  /** Tree to check (default 5.4). */
  luaVersion?: string
  /** Also report the packages of this profile (and their dependencies) that are not installed. */
  profile?: string
  /** Catalog the profile comes from (default `Catalog.default()`). */
  catalog?: Catalog
  /** Interpreter for the require probe (default `lua<version>`; `lua5.1` or `luajit` for 5.1). */
  luaExecutable?: string
  /** Deadline of the require probe (default 30 s). */
  timeoutMs?: number
  signal?: AbortSignal
}

/** A module that `require` cannot load. */
export interface BrokenModule {
  module: string
  /** The rock that provides it (`name/version`). */
  rock?: string
  /** What `require` said. */
  error: string
}

/** The state of one tree of an environment. */
export interface HealthReport {
  environment: string
  luaVersion: string
  path: string
  interpreter: { command?: string; path?: string; version?: string; ok: boolean; problem?: string }
  luarocks: { version?: string; ok: boolean; problem?: string }
  /** What luarocks lists in the tree (porcelain, so a header is never a package). */
  installed: InstalledRock[]
  profile?: string
  /** Packages of `profile` (with dependencies) not installed. */
  missingFromProfile: string[]
  /** Modules of installed rocks that a fresh interpreter with the environment's paths cannot `require`. */
  brokenModules: BrokenModule[]
  /** Modules that loaded. */
  modulesChecked: number
  ok: boolean
}

// Runs in a fresh interpreter, fed on stdin (never `-e`: no argv size limit,
// nothing in `ps`). It reads the tree's luarocks manifest — a Lua file —
// for every module, then requires each, announcing it first so a module
// that kills the interpreter is still named. Lines carry a random marker so
// a module printing at load time cannot forge a result.
const PROBE_LUA = `
local manifest, marker = arg[1], arg[2]
local function say(...) io.stdout:write(marker, "\\t", table.concat({ ... }, "\\t"), "\\n") io.stdout:flush() end
local function clean(s) return (tostring(s):gsub("[\\r\\n\\t]+", " ")) end
local env = {}
local chunk, err
if setfenv then
  chunk, err = loadfile(manifest)
  if chunk then setfenv(chunk, env) end
else
  chunk, err = loadfile(manifest, "t", env)
end
if chunk then
  local ok, e = pcall(chunk)
  if not ok then chunk, err = nil, e end
end
if not chunk then say("MANIFEST", clean(err)) return end
local names = {}
for name in pairs(env.modules or {}) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do
  local rocks = env.modules[name]
  local rock = type(rocks) == "table" and rocks[1] or ""
  say("BEGIN", name, rock)
  local ok, e = pcall(require, name)
  if ok then say("OK", name) else say("ERR", name, clean(e)) end
end
say("END")
`

/**
 * Checks one tree of an environment: the interpreter for its Lua version,
 * luarocks, what is installed (`luarocks list --porcelain`), what a profile
 * still needs, and every module of every installed rock, by `require`-ing it
 * in a fresh interpreter with the environment's `LUA_PATH`/`LUA_CPATH`
 * (a rock whose files were deleted or whose C module does not load shows up
 * here). Never throws for an unhealthy environment; `ok` says.
 */
export async function checkEnvironmentHealth(
  manager: EnvironmentManager,
  name: string,
  options: HealthOptions = {},
): Promise<HealthReport> {
  const luaVersion = validateLuaVersion(options.luaVersion ?? '5.4')
  const catalog = options.catalog ?? Catalog.default()
  const profilePackages = options.profile ? catalog.resolve(catalog.profile(options.profile).packages) : []
  const installed = await manager.installed(name, luaVersion, options.signal ? { signal: options.signal } : {})
  const [interp, luarocks] = await Promise.all([
    findInterpreter(luaVersion, options.luaExecutable),
    luarocksVersion(manager),
  ])
  const have = new Set(installed.map((r) => r.name))
  const probe = interp.interpreter
    ? await probeModules(manager, name, luaVersion, interp.interpreter, options)
    : { broken: [], checked: 0 }
  const interpreter = interp.interpreter
    ? {
        command: interp.interpreter.command,
        path: interp.interpreter.path,
        version: interp.interpreter.label,
        ok: true,
      }
    : { ok: false, problem: interp.problem ?? 'no interpreter' }
  const missingFromProfile = profilePackages.filter((p) => !have.has(p))
  return {
    environment: name,
    luaVersion,
    path: manager.treeDir(name, luaVersion),
    interpreter,
    luarocks,
    installed,
    ...(options.profile ? { profile: options.profile } : {}),
    missingFromProfile,
    brokenModules: probe.broken,
    modulesChecked: probe.checked,
    ok: interpreter.ok && luarocks.ok && missingFromProfile.length === 0 && probe.broken.length === 0,
  }
}

async function findInterpreter(
  luaVersion: string,
  explicit: string | undefined,
): Promise<{ interpreter?: LuaInterpreter; problem?: string }> {
  const problems: string[] = []
  for (const command of explicit ? [explicit] : interpretersFor(luaVersion)) {
    const { interpreter, problem } = await probeInterpreter(command)
    if (!interpreter) {
      problems.push(problem ?? `'${command}' is unusable`)
      continue
    }
    if (luaVersionOf(interpreter.languageVersion) === luaVersion) return { interpreter }
    problems.push(`'${command}' is ${interpreter.label}, not Lua ${luaVersion}`)
  }
  return { problem: problems.join('; ') }
}

async function luarocksVersion(manager: EnvironmentManager): Promise<HealthReport['luarocks']> {
  try {
    const r = await manager.runner.run([manager.luarocks, '--version'], { timeoutMs: 15_000 })
    const version = /(\d+\.\d+(?:\.\d+)?)/.exec(r.stdout.split('\n')[0] ?? '')?.[1]
    if (r.exitCode === 0 && version) return { version, ok: true }
    return { ok: false, problem: (r.stderr || r.stdout).trim().split('\n')[0] || `exit code ${r.exitCode}` }
  } catch (error) {
    return { ok: false, problem: (error as Error).message }
  }
}

async function probeModules(
  manager: EnvironmentManager,
  name: string,
  luaVersion: string,
  interpreter: LuaInterpreter,
  options: HealthOptions,
): Promise<{ broken: BrokenModule[]; checked: number }> {
  const manifest = join(manager.treeDir(name, luaVersion), 'lib', 'luarocks', `rocks-${luaVersion}`, 'manifest')
  if (!existsSync(manifest)) return { broken: [], checked: 0 }
  const marker = `@@probe-${randomBytes(8).toString('hex')}`
  // The probe feeds code on stdin, which only the local runner can do.
  const runner = manager.runner instanceof LocalCommandRunner ? manager.runner : new LocalCommandRunner()
  const r = await runner.run([interpreter.path, '-', manifest, marker], {
    input: PROBE_LUA,
    env: manager.paths(name, luaVersion),
    timeoutMs: options.timeoutMs ?? 30_000,
    ...(options.signal ? { signal: options.signal } : {}),
  })
  return parseProbe(r.stdout, marker, r)
}

function parseProbe(
  stdout: string,
  marker: string,
  run: { exitCode: number; stderr: string },
): { broken: BrokenModule[]; checked: number } {
  const broken: BrokenModule[] = []
  let checked = 0
  let pending: { module: string; rock: string } | undefined
  let finished = false
  for (const line of stdout.split('\n')) {
    const [tag, kind, a = '', b = ''] = line.split('\t')
    if (tag !== marker) continue
    if (kind === 'MANIFEST') broken.push({ module: '(luarocks manifest)', error: a })
    else if (kind === 'BEGIN') pending = { module: a, rock: b }
    else if (kind === 'OK') {
      checked++
      pending = undefined
    } else if (kind === 'ERR') {
      broken.push({ module: a, ...(pending?.rock ? { rock: pending.rock } : {}), error: b })
      pending = undefined
    } else if (kind === 'END') finished = true
  }
  if (!finished) {
    const why = run.stderr.trim().split('\n').pop() || `exit code ${run.exitCode}`
    broken.push({
      module: pending?.module ?? '(probe)',
      ...(pending?.rock ? { rock: pending.rock } : {}),
      error: `the require probe ended ${pending ? 'while loading this module' : 'early'}: ${why}`,
    })
  }
  return { broken, checked }
}

/** A health report as readable text, one fact per line (what `bioxen-luavm env health` prints). */
export function formatHealthReport(report: HealthReport): string {
  const mark = (ok: boolean) => (ok ? 'ok  ' : 'FAIL')
  const lines = [
    `environment ${report.environment} (Lua ${report.luaVersion})  ${report.path}`,
    `  ${mark(report.interpreter.ok)} interpreter  ${
      report.interpreter.ok ? `${report.interpreter.version} (${report.interpreter.path})` : report.interpreter.problem
    }`,
    `  ${mark(report.luarocks.ok)} luarocks     ${report.luarocks.ok ? report.luarocks.version : report.luarocks.problem}`,
    `  ${mark(true)} installed    ${
      report.installed.length
        ? `${report.installed.length} rock(s): ${report.installed.map((r) => `${r.name} ${r.version}`).join(', ')}`
        : 'nothing'
    }`,
  ]
  if (report.profile !== undefined) {
    lines.push(
      `  ${mark(report.missingFromProfile.length === 0)} profile      ${report.profile}: ${
        report.missingFromProfile.length ? `missing ${report.missingFromProfile.join(', ')}` : 'complete'
      }`,
    )
  }
  lines.push(
    `  ${mark(report.brokenModules.length === 0)} modules      ${report.modulesChecked} load${
      report.brokenModules.length ? `, ${report.brokenModules.length} broken:` : ''
    }`,
  )
  for (const b of report.brokenModules) lines.push(`         ${b.module}${b.rock ? ` (${b.rock})` : ''}: ${b.error}`)
  lines.push(report.ok ? 'healthy' : 'UNHEALTHY')
  return `${lines.join('\n')}\n`
}
