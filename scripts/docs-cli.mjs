// Keeps docs/cli.md honest: every `$ bioxen-luavm …` line in its ```console
// blocks is run against the built CLI (packages/cli/dist/bin.js), and the
// output under it is the real output.
//
//   node scripts/docs-cli.mjs           rewrite the outputs in docs/cli.md
//   node scripts/docs-cli.mjs --check   exit 1 if any output or exit status differs
//
// A block opened with ```console varies (timings, versions, machine facts)
// is run and its exit status checked, but its text is not compared.
// A command may read stdin from a leading `printf '…' |` (no shell is used:
// the text is unescaped here). `[exit N]` after the output records a
// non-zero exit status.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const docPath = join(root, 'docs', 'cli.md')
const bin = join(root, 'packages', 'cli', 'dist', 'bin.js')
const check = process.argv.includes('--check')

/** Splits a command line into words: single and double quotes, no expansion. */
function words(line) {
  const out = []
  let cur = ''
  let quote = null
  let any = false
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = null
      else cur += ch
    } else if (ch === "'" || ch === '"') {
      quote = ch
      any = true
    } else if (/\s/.test(ch)) {
      if (cur || any) out.push(cur)
      cur = ''
      any = false
    } else cur += ch
  }
  if (quote) throw new Error(`unterminated quote in: ${line}`)
  if (cur || any) out.push(cur)
  return out
}

async function run(commandLine, home) {
  let input = ''
  let rest = commandLine
  const pipe = /^printf\s+'((?:[^'])*)'\s*\|\s*(.*)$/.exec(commandLine)
  if (pipe) {
    input = pipe[1].replace(/\\n/g, '\n').replace(/\\t/g, '\t')
    rest = pipe[2]
  }
  const argv = words(rest)
  if (argv[0] !== 'bioxen-luavm') throw new Error(`docs/cli.md may only run bioxen-luavm, not: ${commandLine}`)
  const child = spawn(process.execPath, [bin, ...argv.slice(1)], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_DATA_HOME: join(home, '.local', 'share'),
      NO_COLOR: '1',
      LANG: 'C.UTF-8',
    },
  })
  // Both streams in the order they arrive, as a reader of the terminal sees them.
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (t) => {
    output += t
  })
  child.stderr.setEncoding('utf8').on('data', (t) => {
    output += t
  })
  child.stdin.end(input)
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
  const status = await new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve(code))
  })
  clearTimeout(timer)
  // The throwaway home reads as ~ and the checkout as . so the page does not
  // change from run to run or from machine to machine.
  return { output: output.split(home).join('~').split(root).join('.').replace(/\s+$/, ''), status }
}

const text = readFileSync(docPath, 'utf8')
const lines = text.split('\n')
const out = []
const problems = []
const home = mkdtempSync(join(tmpdir(), 'luavm-docs-'))
try {
  for (let i = 0; i < lines.length; i++) {
    const open = /^```console(\s+varies)?\s*$/.exec(lines[i])
    if (!open) {
      out.push(lines[i])
      continue
    }
    const varies = Boolean(open[1])
    out.push(lines[i])
    i++
    const block = []
    while (i < lines.length && lines[i] !== '```') block.push(lines[i++])
    // Commands and the documented output that follows each.
    for (let j = 0; j < block.length; ) {
      const cmd = block[j]
      if (!cmd.startsWith('$ ')) throw new Error(`docs/cli.md: expected a "$ " command line, got: ${cmd}`)
      const documented = []
      j++
      while (j < block.length && !block[j].startsWith('$ ')) documented.push(block[j++])
      while (documented.length && documented.at(-1) === '') documented.pop()
      const docExit = /^\[exit (\d+)\]$/.exec(documented.at(-1) ?? '')
      if (docExit) documented.pop()
      const { output, status } = await run(cmd.slice(2), home)
      const expectedStatus = docExit ? Number(docExit[1]) : 0
      if (check) {
        if (status !== expectedStatus)
          problems.push(`${cmd}\n  exit ${status}, documented ${expectedStatus}\n${output}`)
        else if (!varies && output !== documented.join('\n')) {
          problems.push(`${cmd}\n  --- documented\n${documented.join('\n')}\n  --- actual\n${output}`)
        }
      }
      out.push(cmd)
      if (output) out.push(...(varies && check ? documented : output.split('\n')))
      if (status !== 0) out.push(`[exit ${status}]`)
      out.push('')
    }
    if (out.at(-1) === '') out.pop()
    out.push('```')
  }
} finally {
  rmSync(home, { recursive: true, force: true })
}

if (check) {
  if (problems.length) {
    console.error(`docs/cli.md is out of date (${problems.length}):\n\n${problems.join('\n\n')}`)
    process.exit(1)
  }
  console.error('docs/cli.md: every command ran as documented')
} else {
  writeFileSync(docPath, out.join('\n'))
  console.error('docs/cli.md: outputs refreshed')
}
