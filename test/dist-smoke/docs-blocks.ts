/**
 * Runs the fenced blocks of a Markdown page (a guide under docs/, a README)
 * against the built packages, so that what the page shows is what the SDK
 * does.
 *
 * A page's blocks are taken by the tests that run them (`doc.take(...)`,
 * at collection time); `doc.unverified()` lists the runnable blocks
 * (```ts, ```js, ```sh, ```json, ```lua, ```console) that no test takes.
 * Commands CI cannot run are labelled in the info string: ```sh host (on an
 * XCP-ng host), ```sh guest (inside a guest), ```sh dev (in a clone of this
 * repository: they rebuild packages into the working tree or serve until
 * stopped); they are syntax-checked, and a test may check what they name.
 * ```text and ```mermaid blocks are illustrations (diagrams, layouts,
 * sample output); a test may still check them.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { transformSync } from 'esbuild'
import ts from 'typescript'
import { packages, root } from './packages.js'

/**
 * Info-string labels of commands CI cannot run: on the XCP-ng host (dom0),
 * inside a guest, in a clone of this repository (`dev`: commands that
 * rebuild packages into the working tree or serve until stopped).
 */
export const NOT_IN_CI: readonly string[] = ['host', 'guest', 'dev']

/** Languages whose blocks must be run (or checked) by a test unless labelled {@link NOT_IN_CI}. */
const RUNNABLE = ['ts', 'js', 'sh', 'json', 'lua', 'console', 'console varies']

/** Illustrations: shown, not run. */
const ILLUSTRATIONS = ['text', 'mermaid']

/** Every info string a page may use. */
export const KNOWN: readonly string[] = [...RUNNABLE, ...ILLUSTRATIONS, ...NOT_IN_CI.map((l) => `sh ${l}`)]

/** One fenced block. */
export interface DocBlock {
  /** 1-based line of the opening fence. */
  line: number
  /** The info string, e.g. `ts` or `sh guest`. */
  info: string
  /** The block's text (fence indentation removed), ending with a newline. */
  code: string
}

/** A Markdown page of the repository and its fenced blocks. */
export class Doc {
  /** The page's path relative to the repository root, e.g. `docs/packages.md`. */
  readonly relative: string
  readonly path: string
  readonly text: string
  readonly blocks: DocBlock[] = []
  readonly #taken = new Set<DocBlock>()

  /**
   * `name` is a page under docs/ (`packages.md`), or, with `repoRelative`,
   * any path from the repository root (`README.md`, `packages/core/README.md`).
   */
  constructor(
    readonly name: string,
    options: { repoRelative?: boolean } = {},
  ) {
    this.relative = options.repoRelative ? name : `docs/${name}`
    this.path = join(root, this.relative)
    this.text = readFileSync(this.path, 'utf8')
    const lines = this.text.split('\n')
    for (let i = 0; i < lines.length; i++) {
      const open = /^( *)```(.*)$/.exec(lines[i] as string)
      if (!open) continue
      const indent = (open[1] as string).length
      const info = (open[2] as string).trim()
      const start = i + 1
      const body: string[] = []
      for (i++; i < lines.length && (lines[i] as string).trim() !== '```'; i++) {
        body.push((lines[i] as string).slice(Math.min(indent, /^ */.exec(lines[i] as string)?.[0].length ?? 0)))
      }
      if (i >= lines.length) throw new Error(`${this.relative}:${start}: unterminated code block`)
      this.blocks.push({ line: start, info, code: `${body.join('\n')}\n` })
    }
  }

  /** A page by its path from the repository root. */
  static at(relative: string): Doc {
    return new Doc(relative, { repoRelative: true })
  }

  /**
   * The one block with info string `info` whose text contains `marker`, marked as run by
   * a test. Throws when there is not exactly one (a page edit that breaks
   * the match fails loudly instead of skipping the block).
   */
  take(info: string, marker: string): DocBlock {
    const found = this.blocks.filter((b) => b.info === info && b.code.includes(marker))
    if (found.length !== 1) {
      throw new Error(`${this.relative}: expected one \`\`\`${info} block containing ${marker}, found ${found.length}`)
    }
    const block = found[0] as DocBlock
    this.#taken.add(block)
    return block
  }

  /** Every block with info string `info`, in page order, marked as run; throws when there is none. */
  takeAll(info: string): DocBlock[] {
    const found = this.blocks.filter((b) => b.info === info)
    if (found.length === 0) throw new Error(`${this.relative}: no \`\`\`${info} block`)
    for (const b of found) this.#taken.add(b)
    return found
  }

  /** Blocks labelled as commands CI cannot run (` ```sh guest `, ` ```sh host `, ` ```sh dev `). */
  notInCi(): DocBlock[] {
    return this.blocks.filter((b) => NOT_IN_CI.some((l) => b.info === `sh ${l}`))
  }

  /** Blocks a reader could run that no test runs or checks, and blocks with unknown info strings. */
  unverified(): string[] {
    const out: string[] = []
    for (const b of this.blocks) {
      const where = `${this.relative}:${b.line} \`\`\`${b.info}`
      if (!KNOWN.includes(b.info)) out.push(`${where}: unknown info string (use one of ${KNOWN.join(', ')})`)
      else if (RUNNABLE.includes(b.info) && !this.#taken.has(b)) out.push(`${where}: not run by any test`)
    }
    return out
  }
}

/**
 * A value written in JS notation in a page's comment — `'ok'`, `[4]`,
 * `"4\n"`, `{ id: 'x', n: 2 }` — as the value it stands for.
 */
export function jsLiteral(text: string): unknown {
  const json = text
    .trim()
    .replace(/'((?:[^'\\]|\\.)*)'/g, (_m, s: string) =>
      JSON.stringify(JSON.parse(`"${s.replace(/\\'/g, "'").replace(/"/g, '\\"')}"`)),
    )
    .replace(/([{,]\s*)([A-Za-z_]\w*):/g, '$1"$2":')
  return JSON.parse(json)
}

/**
 * Replaces each placeholder in `text`; every one must occur, so a page
 * that drops a placeholder fails instead of running something else.
 */
export function substitute(text: string, replacements: Record<string, string>): string {
  let out = text
  for (const [from, to] of Object.entries(replacements)) {
    if (!out.includes(from)) throw new Error(`placeholder ${from} is not in:\n${text}`)
    out = out.split(from).join(to)
  }
  return out
}

/** A throwaway place to run a page's commands and programs, with its own HOME. */
export interface Sandbox {
  /** The sandbox directory (removed by `cleanup`). */
  dir: string
  /** Makes a fresh, empty HOME (and TMPDIR) under the sandbox. */
  home(name: string): string
  /** Environment for commands: a `bioxen-luavm` shim first on PATH, HOME and TMPDIR in the sandbox. */
  env(home: string, extra?: Record<string, string>): Record<string, string>
  /** Makes `name` (e.g. `vitest`) importable from the sandbox's programs: a link to `target`. */
  link(name: string, target: string): void
  /**
   * A view of the repository to run its scripts in (`node scripts/run-ts.mjs …`) without
   * writing into it: every top-level entry is a link to the repository's, except `scripts/`,
   * whose files are copied (a script that finds the repository from its own location, such as
   * run-ts.mjs with its `.tmp/`, then writes here), and the directories in `writable`, which are
   * real directories of links, so a test can add files next to the repository's.
   */
  checkout(writable?: readonly string[]): string
  cleanup(): void
}

export function makeSandbox(): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'luavm-docs-'))
  // Programs written here import @bioxen-luavm/* the way users do: through
  // node_modules, to each package's built dist/. A directory of its own, so
  // that whatever a tool caches in node_modules/ goes away with the sandbox.
  const modules = join(dir, 'node_modules')
  mkdirSync(modules)
  const link = (name: string, target: string) => {
    mkdirSync(dirname(join(modules, name)), { recursive: true })
    symlinkSync(target, join(modules, name), 'dir')
  }
  link('@bioxen-luavm', join(root, 'test', 'node_modules', '@bioxen-luavm'))
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  const shim = join(bin, 'bioxen-luavm')
  writeFileSync(
    shim,
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(root, 'packages', 'cli', 'dist', 'bin.js'))} "$@"\n`,
  )
  chmodSync(shim, 0o755)
  writeNpmShim(join(bin, 'npm'))
  const view = join(dir, 'checkout')
  return {
    dir,
    home(name) {
      const home = join(dir, name)
      mkdirSync(join(home, 'tmp'), { recursive: true })
      return home
    },
    env(home, extra = {}) {
      return {
        PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        HOME: home,
        TMPDIR: join(home, 'tmp'),
        LANG: 'C.UTF-8',
        NO_COLOR: '1',
        ...extra,
      }
    },
    link,
    checkout(writable = []) {
      if (existsSync(view)) throw new Error('the sandbox has a checkout already')
      const mirror = (from: string, to: string, depth: string) => {
        mkdirSync(to, { recursive: true })
        for (const entry of readdirSync(from)) {
          const rel = depth ? `${depth}/${entry}` : entry
          if (rel === '.git' || rel === '.tmp') continue
          if (rel === 'scripts') {
            mkdirSync(join(to, entry))
            for (const f of readdirSync(join(from, entry))) copyFileSync(join(from, entry, f), join(to, entry, f))
          } else if (writable.some((w) => w === rel || w.startsWith(`${rel}/`))) {
            mirror(join(from, entry), join(to, entry), rel)
          } else {
            symlinkSync(join(from, entry), join(to, entry))
          }
        }
      }
      mirror(root, view, '')
      return view
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/**
 * An `npm` for pages' commands: `npm install` of a published package links
 * the built workspace package into `./node_modules` (and records it in
 * `./package.json` as npm would); `npm install -g @bioxen-luavm/cli` finds
 * the `bioxen-luavm` shim already on PATH. Any other name fails like a
 * registry without it. Other npm commands (`init`, `pkg`) run the real npm.
 * What the real install does with the packed tarballs is tarballs.test.ts's.
 */
function writeNpmShim(file: string): void {
  const realNpm = (process.env.PATH ?? '')
    .split(':')
    .map((d) => join(d, 'npm'))
    .find((f) => existsSync(f))
  const published = Object.fromEntries(packages.map((p) => [p.name, join(root, 'packages', p.folder)]))
  const script = `#!${process.execPath}
const { spawnSync } = require('node:child_process')
const { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } = require('node:fs')
const { dirname, join } = require('node:path')
const published = ${JSON.stringify(published)}
const [command, ...rest] = process.argv.slice(2)
if (command !== 'install' && command !== 'i') {
  const r = spawnSync(${JSON.stringify(realNpm ?? 'npm')}, process.argv.slice(2), { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}
const global = rest.includes('-g') || rest.includes('--global')
const names = rest.filter((a) => !a.startsWith('-'))
if (names.length === 0) { console.error('npm (docs test): install without package names is not supported here'); process.exit(1) }
for (const name of names) {
  if (!published[name]) { console.error('npm error 404 Not Found - ' + name + ' is not a published package of this repository'); process.exit(1) }
  if (global && name !== '@bioxen-luavm/cli') { console.error('npm (docs test): only @bioxen-luavm/cli installs globally'); process.exit(1) }
}
if (!global) {
  const manifestFile = join(process.cwd(), 'package.json')
  const manifest = existsSync(manifestFile) ? JSON.parse(readFileSync(manifestFile, 'utf8')) : {}
  for (const name of names) {
    const target = join(process.cwd(), 'node_modules', name)
    mkdirSync(dirname(target), { recursive: true })
    if (!existsSync(target)) symlinkSync(published[name], target, 'dir')
    const version = JSON.parse(readFileSync(join(published[name], 'package.json'), 'utf8')).version
    manifest.dependencies = { ...manifest.dependencies, [name]: '^' + version }
  }
  writeFileSync(manifestFile, JSON.stringify(manifest, null, 2) + '\\n')
}
console.log('added ' + names.length + ' package' + (names.length === 1 ? '' : 's'))
`
  writeFileSync(file, script)
  chmodSync(file, 0o755)
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a command (argv, no shell) in its own process group; the group is killed at the deadline. */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: Record<string, string>; input?: string; timeoutMs?: number },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(command, args, { cwd: options.cwd, env: options.env, detached: true })
    let stdout = ''
    let stderr = ''
    child.stdout?.setEncoding('utf8').on('data', (t: string) => {
      stdout += t
    })
    child.stderr?.setEncoding('utf8').on('data', (t: string) => {
      stderr += t
    })
    // A program that exits without reading its input closes the pipe first (EPIPE): not an error here.
    child.stdin?.on('error', () => {})
    child.stdin?.end(options.input ?? '')
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL')
      } catch {
        // already gone
      }
    }, options.timeoutMs ?? 120_000)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/** What one console.log / console.table call of a program was given. */
export interface LoggedCall {
  method: 'log' | 'table'
  args: unknown[]
}

// Put before a page's program: every console.log / console.table call is
// also written as JSON to $DOC_LOG, so tests assert on the values a program
// printed, not on their rendering. Errors keep their name, _tag and message.
const PRELUDE = `import { appendFileSync as __docAppend } from 'node:fs'
const __docReplacer = (_k, v) =>
  v instanceof Error ? { name: v.name, _tag: v._tag, message: v.message } : typeof v === 'bigint' ? String(v) : v
let __docInside = false // console.table prints through console.log
for (const __docMethod of ['log', 'table']) {
  const __docOriginal = console[__docMethod].bind(console)
  console[__docMethod] = (...args) => {
    if (__docInside) return __docOriginal(...args)
    __docAppend(process.env.DOC_LOG, JSON.stringify({ method: __docMethod, args }, __docReplacer) + '\\n')
    __docInside = true
    try {
      __docOriginal(...args)
    } finally {
      __docInside = false
    }
  }
}
`

const readLog = (log: string): LoggedCall[] =>
  readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LoggedCall)

/**
 * Writes `source` (JavaScript or TypeScript) to `file` after the logging
 * prelude, and runs `command args` with `$DOC_LOG` set.
 */
export async function runLogged(
  command: string,
  args: readonly string[],
  options: { file: string; source: string; cwd: string; env: Record<string, string>; timeoutMs?: number },
): Promise<RunResult & { logs: LoggedCall[] }> {
  const log = `${options.file}.log.jsonl`
  writeFileSync(options.file, PRELUDE + options.source)
  writeFileSync(log, '')
  const result = await run(command, args, {
    cwd: options.cwd,
    env: { ...options.env, DOC_LOG: log },
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  })
  return { ...result, logs: readLog(log) }
}

/** Types removed, `await using` lowered for Node 20: what a bundler makes of a page's TypeScript. */
const compile = (source: string) => transformSync(source, { loader: 'ts', format: 'esm', target: 'node20' }).code

/**
 * Compiles a page's TypeScript program (esbuild, as a bundler would: types
 * removed, `await using` lowered for Node 20) and runs it with node from the
 * sandbox (or `dir`), where `@bioxen-luavm/*` resolve to the built packages.
 */
export async function runProgram(
  sandbox: Sandbox,
  name: string,
  source: string,
  options: { cwd: string; env: Record<string, string>; timeoutMs?: number; dir?: string },
): Promise<RunResult & { logs: LoggedCall[] }> {
  const file = join(options.dir ?? sandbox.dir, `${name}.mjs`)
  return runLogged(process.execPath, [file], { ...options, file, source: compile(source) })
}

/** A page's program left running (a server): read what it logged, then let it finish. */
export interface RunningProgram {
  /** What it has logged so far. */
  logs(): LoggedCall[]
  /** Waits until a logged call satisfies `test` (polling), or throws with what it logged and printed. */
  waitForLog(test: (call: LoggedCall) => boolean, timeoutMs?: number): Promise<LoggedCall>
  /** Closes its stdin and waits for it to exit (killing its process group at the deadline). */
  finish(timeoutMs?: number): Promise<RunResult & { logs: LoggedCall[] }>
}

/** Like {@link runProgram}, but returns while the program runs; its stdin stays open until `finish()`. */
export function startProgram(
  sandbox: Sandbox,
  name: string,
  source: string,
  options: { cwd: string; env: Record<string, string> },
): RunningProgram {
  const file = join(sandbox.dir, `${name}.mjs`)
  const log = `${file}.log.jsonl`
  writeFileSync(file, PRELUDE + compile(source))
  writeFileSync(log, '')
  const child = spawn(process.execPath, [file], {
    cwd: options.cwd,
    env: { ...options.env, DOC_LOG: log },
    detached: true,
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (t: string) => {
    stdout += t
  })
  child.stderr.setEncoding('utf8').on('data', (t: string) => {
    stderr += t
  })
  child.stdin.on('error', () => {})
  let code: number | null | undefined
  const exited = new Promise<void>((resolve) => {
    child.once('close', (c) => {
      code = c
      resolve()
    })
  })
  const killGroup = () => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL')
    } catch {
      // already gone
    }
  }
  return {
    logs: () => readLog(log),
    async waitForLog(test, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = readLog(log).find(test)
        if (found) return found
        if (code !== undefined || Date.now() > deadline) {
          killGroup()
          throw new Error(`${name} never logged what was expected (exit ${code}):\n${stdout}\n${stderr}`)
        }
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    async finish(timeoutMs = 30_000) {
      child.stdin.end()
      const timer = setTimeout(killGroup, timeoutMs)
      await exited
      clearTimeout(timer)
      return { code: code ?? null, stdout, stderr, logs: readLog(log) }
    },
  }
}

/** One command line of a shell block, with what it printed. */
export interface ShellLine {
  command: string
  expectedExit: number
  stdout: string
  stderr: string
}

/**
 * Runs a ```sh block with bash, one command line after the other in one
 * shell (so `cd` and variables carry over). Each line must exit 0, or the
 * status its trailing comment documents (`# exit N …`); the first line that
 * does not stops the script and fails the result. Output is split per line.
 */
export async function runShell(
  block: string,
  options: { cwd: string; env: Record<string, string>; timeoutMs?: number },
): Promise<RunResult & { lines: ShellLine[]; failure?: string }> {
  const lines: Array<{ command: string; expectedExit: number }> = []
  const script: string[] = []
  for (const raw of block.split('\n')) {
    const command = raw.trim()
    if (command === '' || command.startsWith('#')) continue
    const expectedExit = Number(/\s#\s*exit (\d+)\b[^'"]*$/.exec(command)?.[1] ?? 0)
    const n = lines.length
    lines.push({ command, expectedExit })
    script.push(
      `printf '\\n@@doc-line ${n}@@\\n'; printf '\\n@@doc-line ${n}@@\\n' >&2`,
      command,
      `__rc=$?; if [ "$__rc" != ${expectedExit} ]; then printf '\\n@@doc-failed %s@@\\n' "line ${n + 1} exited $__rc, documented ${expectedExit}" >&2; exit 99; fi`,
    )
  }
  const result = await run('bash', ['--noprofile', '--norc', '-c', script.join('\n')], options)
  const split = (text: string) => {
    const parts = text.split(/\n@@doc-line (\d+)@@\n/)
    const out = new Map<number, string>()
    for (let i = 1; i < parts.length; i += 2) out.set(Number(parts[i]), parts[i + 1] ?? '')
    return out
  }
  const outs = split(result.stdout)
  const errs = split(result.stderr)
  const failure = /@@doc-failed (.*)@@/.exec(result.stderr)?.[1]
  return {
    ...result,
    lines: lines.map((l, i) => ({
      ...l,
      stdout: outs.get(i) ?? '',
      stderr: (errs.get(i) ?? '').replace(/\n@@doc-failed .*@@\n?$/, ''),
    })),
    ...(failure ? { failure: `${failure}: ${lines[Number(/line (\d+)/.exec(failure)?.[1]) - 1]?.command}` } : {}),
  }
}

/** `bash -n`: the block parses as a shell script. */
export async function bashSyntaxError(block: string, cwd: string): Promise<string> {
  const r = await run('bash', ['-n'], { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, input: block })
  return r.code === 0 ? '' : r.stderr || `bash -n exited ${r.code}`
}

/**
 * Type-checks a page's TypeScript programs the way a user's project would
 * see them: strict, ES modules, `@bioxen-luavm/*` from the built packages'
 * declarations. Returns the diagnostics, one per line (empty when clean).
 */
export function typecheck(sandbox: Sandbox, programs: Record<string, string>, options: { dir?: string } = {}): string {
  const base = options.dir ?? join(sandbox.dir, 'typecheck')
  const files = Object.entries(programs).map(([name, source]) => {
    // Each block is its own module (they all import something); a name may
    // hold folders (`plugin/src/index`) for programs that import each other.
    const file = join(base, `${name}.ts`)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, source)
    return file
  })
  const program = ts.createProgram(files, {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2023.d.ts', 'lib.esnext.disposable.d.ts'],
    types: ['node'],
    typeRoots: [join(root, 'node_modules', '@types')],
  })
  const diagnostics = ts.getPreEmitDiagnostics(program)
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => sandbox.dir,
    getNewLine: () => '\n',
  })
}

/** A package of the workspace (packages/*, examples/*): its folder and manifest. */
export interface WorkspacePackage {
  /** Folder from the repository root, e.g. `packages/core`. */
  folder: string
  manifest: { name: string; private?: boolean; scripts?: Record<string, string>; files?: string[] }
}

/** The workspace's packages by npm name. */
export function workspacePackages(): Map<string, WorkspacePackage> {
  const out = new Map<string, WorkspacePackage>()
  for (const parent of ['packages', 'examples']) {
    for (const entry of readdirSync(join(root, parent))) {
      const file = join(root, parent, entry, 'package.json')
      if (!existsSync(file)) continue
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as WorkspacePackage['manifest']
      out.set(manifest.name, { folder: `${parent}/${entry}`, manifest })
    }
  }
  return out
}

/**
 * Every `npm install` in `text` (a block, or a page's prose): whether it is
 * global, and the packages it names (options and comments dropped).
 */
export function npmInstalls(text: string): Array<{ global: boolean; names: string[] }> {
  const out: Array<{ global: boolean; names: string[] }> = []
  for (const m of text.matchAll(/\bnpm (?:install|i)\b([^\n`#&|;]*)/g)) {
    const words = (m[1] as string).trim().split(/\s+/).filter(Boolean)
    out.push({ global: words.includes('-g'), names: words.filter((w) => !w.startsWith('-')) })
  }
  return out
}

/**
 * The `pnpm --filter <package> <script>  # comment` lines of a block (a
 * ```sh dev block), each checked to name a workspace package that has that
 * script; throws on any other line.
 */
export function pnpmFilterLines(code: string): Array<{ pkg: string; script: string; comment: string }> {
  const workspace = workspacePackages()
  return code
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const m = /^pnpm --filter (\S+) (\S+)\s*(?:#\s*(.*))?$/.exec(l)
      if (!m) throw new Error(`not a pnpm --filter line: ${l}`)
      const [, pkg, script, comment] = m as unknown as [string, string, string, string | undefined]
      if (!workspace.get(pkg)?.manifest.scripts?.[script]) throw new Error(`${pkg} has no ${script} script: ${l}`)
      return { pkg, script, comment: comment ?? '' }
    })
}
