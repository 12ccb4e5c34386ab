import { type ExecResult, execResultJson } from '@bioxen-luavm/core'
import type { Command } from 'commander'
import { ExitCode, exitCodeFor } from '../lib/exit-codes.js'
import type { CliIO } from '../lib/io.js'
import { withVMOptions } from '../lib/options.js'
import { executeScript, type ScriptArgs } from '../lib/script-args.js'
import { readProgram } from '../lib/source.js'
import { typedWords } from '../lib/usage.js'
import { openVM, type VMFlags } from '../lib/vm.js'

interface RunFlags extends VMFlags {
  json?: boolean
  eval?: string
}

/** `run`: executes one Lua program and exits with its status. */
export function registerRun(program: Command, io: CliIO, setExit: (code: number) => void): void {
  withVMOptions(program.command('run'))
    .description('run a Lua program (-e CODE, a FILE, or - for stdin) and exit with its status')
    .argument('[file]', 'Lua file to run, or - to read the program from stdin (read when piped and no FILE)')
    .argument('[args...]', 'arguments for the program: arg[1..n] and ... (with -e, every operand is one)')
    // Everything after FILE belongs to the script, flags included (as lua.c).
    .passThroughOptions()
    .option('-e, --eval <code>', 'run CODE instead of a file')
    .option('--json', 'print exactly one JSON object: the execution result')
    .addHelpText(
      'after',
      `
Examples:
  $ bioxen-luavm run -e 'print("hello")'
  $ bioxen-luavm run --backend fengari script.lua arg1 arg2
  $ echo 'return 2 + 2' | bioxen-luavm run --json -
  $ bioxen-luavm run --timeout 500 --memory 64MB untrusted.lua

Exit status: 0 ok, 1 Lua error, 2 usage or configuration error,
3 timeout, memory limit, output limit or cancelled, 4 internal error,
130 interrupted (Ctrl-C).`,
    )
    .action(async (file: string | undefined, rest: string[], flags: RunFlags, command: Command) => {
      const operands = file === undefined ? [] : [file, ...rest]
      const script = flags.eval === undefined ? operands[0] : undefined
      const source = await readProgram(flags.eval, script, io)
      const rawArgs = typedWords(command)
      const argv: ScriptArgs = {
        before: ['bioxen-luavm', ...rawArgs.slice(0, rawArgs.length - operands.length)],
        ...(script === undefined ? {} : { script }),
        args: script === undefined ? operands : operands.slice(1),
      }
      let endedLine = true
      const streamed = { stdout: false, stderr: false }
      // The program's bytes go out as they are: Lua output is bytes, and a
      // Latin-1 or binary stream must reach a pipe unchanged.
      const track = (stream: 'stdout' | 'stderr') => (_text: string, bytes: Uint8Array) => {
        if (bytes.length === 0) return
        endedLine = bytes[bytes.length - 1] === 0x0a
        streamed[stream] = true
        io[stream](bytes)
      }
      const controller = new AbortController()
      // Ctrl-C cancels the execution (the VM is stopped on the way out, nothing
      // left behind) and exits as shells expect of an interrupted program.
      let signalled: number | undefined
      const onInt = () => {
        signalled = ExitCode.interrupted
        controller.abort(new Error('interrupted'))
      }
      const onTerm = () => {
        signalled = ExitCode.terminated
        controller.abort(new Error('terminated'))
      }
      process.once('SIGINT', onInt)
      process.once('SIGTERM', onTerm)
      try {
        const { vm } = await openVM('cli', command, io)
        await using _vm = vm
        // `-e CODE` with nothing to pass runs exactly as typed (no loader, no `arg`).
        const plain = flags.eval !== undefined && operands.length === 0
        const result = await executeScript(vm, source.code, source.chunkName, plain ? undefined : argv, {
          signal: controller.signal,
          ...(flags.json ? {} : { onStdout: track('stdout'), onStderr: track('stderr') }),
        })
        if (!flags.json) {
          // A backend that returned its output without streaming it (a
          // plugin that ignores onStdout/onStderr) still gets it shown.
          if (!streamed.stdout) track('stdout')(result.stdout, result.stdoutBytes)
          if (!streamed.stderr) track('stderr')(result.stderr, result.stderrBytes)
        }
        // A notice must not glue onto output that stopped mid-line.
        if (!flags.json && result.status !== 'ok' && !endedLine) io.stderr('\n')
        report(result, Boolean(flags.json), io)
        setExit(signalled ?? exitCodeFor(result.status))
      } finally {
        process.off('SIGINT', onInt)
        process.off('SIGTERM', onTerm)
      }
    })
}

function report(result: ExecResult, json: boolean, io: CliIO): void {
  if (json) {
    io.stdout(`${execResultJson(result)}\n`)
    return
  }
  // Output was already streamed; only the outcome is left to say.
  if (result.status === 'error' && result.error) {
    // The message as the program raised it: its exact bytes when they are not UTF-8.
    io.stderr(result.error.messageBytes ?? result.error.message)
    io.stderr(`\n${result.error.traceback ? `${result.error.traceback}\n` : ''}`)
  } else if (result.status !== 'ok') {
    const what: Record<string, string> = {
      timeout: 'stopped: the program ran past its deadline (--timeout)',
      memory: 'stopped: the program went over its memory limit (--memory)',
      'output-limit': `stopped: the program's output went over --max-output (${result.error?.message ?? 'output limit exceeded'}); output was truncated`,
      killed: 'stopped: the run was cancelled',
    }
    io.stderr(`${what[result.status] ?? result.status}\n`)
  }
}
