/**
 * Runs the fenced blocks of a page under docs/ against the built packages,
 * so that what the page shows is what the SDK does.
 *
 * A page's blocks are taken by the tests that run them (`doc.take(...)`,
 * at collection time); `doc.unverified()` lists the runnable blocks
 * (```ts, ```js, ```sh, ```json) that no test takes. Commands that can only
 * run on an XCP-ng host or inside a guest are labelled in the info string
 * (```sh guest, ```sh host): CI cannot run them, so they are only
 * syntax-checked. ```text blocks are illustrations (diagrams, layouts,
 * sample output); a test may still check them.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { transformSync } from 'esbuild'
import ts from 'typescript'
import { root } from './packages.js'

/** Info-string labels of commands CI cannot run: on the XCP-ng host (dom0), inside a guest. */
export const NOT_IN_CI: readonly string[] = ['host', 'guest']

/** Languages whose blocks must be run (or checked) by a test unless labelled {@link NOT_IN_CI}. */
const RUNNABLE = ['ts', 'js', 'sh', 'json']

/** Every info string a page may use. */
const KNOWN = ['ts', 'js', 'sh', 'json', 'text', ...NOT_IN_CI.map((l) => `sh ${l}`)]

/** One fenced block. */
export interface DocBlock {
  /** 1-based line of the opening fence. */
  line: number
  /** The info string, e.g. `ts` or `sh guest`. */
  info: string
  /** The block's text (fence indentation removed), ending with a newline. */
  code: string
}

/** A page under docs/ and its fenced blocks. */
export class Doc {
  readonly path: string
  readonly text: string
  readonly blocks: DocBlock[] = []
  readonly #taken = new Set<DocBlock>()

  constructor(readonly name: string) {
    this.path = join(root, 'docs', name)
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
      if (i >= lines.length) throw new Error(`docs/${name}:${start}: unterminated code block`)
      this.blocks.push({ line: start, info, code: `${body.join('\n')}\n` })
    }
  }

  /**
   * The one block with info string `info` whose text contains `marker`, marked as run by
   * a test. Throws when there is not exactly one (a page edit that breaks
   * the match fails loudly instead of skipping the block).
   */
  take(info: string, marker: string): DocBlock {
    const found = this.blocks.filter((b) => b.info === info && b.code.includes(marker))
    if (found.length !== 1) {
      throw new Error(`docs/${this.name}: expected one \`\`\`${info} block containing ${marker}, found ${found.length}`)
    }
    const block = found[0] as DocBlock
    this.#taken.add(block)
    return block
  }

  /** Blocks labelled as commands CI cannot run (` ```sh guest `, ` ```sh host `). */
  notInCi(): DocBlock[] {
    return this.blocks.filter((b) => NOT_IN_CI.some((l) => b.info === `sh ${l}`))
  }

  /** Blocks a reader could run that no test runs or checks, and blocks with unknown info strings. */
  unverified(): string[] {
    const out: string[] = []
    for (const b of this.blocks) {
      const where = `docs/${this.name}:${b.line} \`\`\`${b.info}`
      if (!KNOWN.includes(b.info)) out.push(`${where}: unknown info string (use one of ${KNOWN.join(', ')})`)
      else if (RUNNABLE.includes(b.info) && !this.#taken.has(b)) out.push(`${where}: not run by any test`)
    }
    return out
  }
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
  cleanup(): void
}

export function makeSandbox(): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'luavm-docs-'))
  // Programs written here import @bioxen-luavm/* the way users do: through
  // node_modules, to each package's built dist/.
  symlinkSync(join(root, 'test', 'node_modules'), join(dir, 'node_modules'), 'dir')
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  const shim = join(bin, 'bioxen-luavm')
  writeFileSync(
    shim,
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(root, 'packages', 'cli', 'dist', 'bin.js'))} "$@"\n`,
  )
  chmodSync(shim, 0o755)
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
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
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

/**
 * Compiles a page's TypeScript program (esbuild, as a bundler would: types
 * removed, `await using` lowered for Node 20) and runs it with node from the
 * sandbox, where `@bioxen-luavm/*` resolve to the built packages.
 */
export async function runProgram(
  sandbox: Sandbox,
  name: string,
  source: string,
  options: { cwd: string; env: Record<string, string>; timeoutMs?: number },
): Promise<RunResult & { logs: LoggedCall[] }> {
  const { code } = transformSync(source, { loader: 'ts', format: 'esm', target: 'node20' })
  const file = join(sandbox.dir, `${name}.mjs`)
  const log = join(sandbox.dir, `${name}.log.jsonl`)
  writeFileSync(file, PRELUDE + code)
  writeFileSync(log, '')
  const result = await run(process.execPath, [file], {
    cwd: options.cwd,
    env: { ...options.env, DOC_LOG: log },
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  })
  const logs = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LoggedCall)
  return { ...result, logs }
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
export function typecheck(sandbox: Sandbox, programs: Record<string, string>): string {
  const files = Object.entries(programs).map(([name, source]) => {
    const file = join(sandbox.dir, 'typecheck', `${name}.ts`)
    mkdirSync(join(sandbox.dir, 'typecheck'), { recursive: true })
    // Each block is its own module (they all import something).
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
