import type { InteractiveSession, SessionReply } from '@bioxen-luavm/core'
import type { Command } from 'commander'
import { ExitCode } from '../lib/exit-codes.js'
import { historyFile } from '../lib/history.js'
import type { CliIO } from '../lib/io.js'
import { withVMOptions } from '../lib/options.js'
import { ttyRepl } from '../lib/tty-repl.js'
import { openVM, type VMFlags } from '../lib/vm.js'

/**
 * `repl`: a Lua REPL on any backend. On a terminal it prompts (`> `, `>> `
 * for continuation lines) with history, and Ctrl-C cancels the running chunk
 * (or drops an unfinished one) without leaving. Without a terminal it reads
 * standard input line by line, so `printf 'x=42\nprint(x)\n' | bioxen-luavm
 * repl` prints `42`.
 */
export function registerRepl(program: Command, io: CliIO, setExit: (code: number) => void): void {
  withVMOptions(program.command('repl'))
    .description('interactive Lua REPL; reads stdin line by line when it is not a terminal')
    .addHelpText(
      'after',
      `
Examples:
  $ bioxen-luavm repl
  $ bioxen-luavm repl --backend process
  $ printf 'x = 42\\nprint(x)\\n' | bioxen-luavm repl

Expressions print their value (1 + 1 prints 2; "= x" works too); a chunk
that is not finished yet waits for more lines. Ctrl-C cancels the running
chunk, Ctrl-D quits.
Exit status without a terminal: 0 when every input ran, 1 when one raised a
Lua error, 3 when one hit a limit.`,
    )
    .action(async (_flags: VMFlags, command: Command) => {
      const { vm } = await openVM('repl', command, io)
      await using _vm = vm
      await using session = await vm.openSession({ chunkName: 'stdin' })
      if (io.isTTY) await ttyRepl(session, `${vm.luaVersion} on ${vm.type}`, { historyFile: historyFile(io.env) })
      setExit(io.isTTY ? ExitCode.ok : await piped(session, io))
    })
}

async function piped(session: InteractiveSession, io: CliIO): Promise<number> {
  let worst: number = ExitCode.ok
  let pending = false
  for await (const line of io.stdinLines()) {
    const reply = await session.sendInput(line)
    pending = reply.status === 'incomplete'
    writeReply(reply, io)
    worst = Math.max(worst, exitFor(reply))
  }
  if (pending) {
    io.stderr('error: input ended inside an unfinished chunk\n')
    worst = Math.max(worst, ExitCode.luaError)
  }
  return worst
}

function writeReply(reply: SessionReply, io: CliIO): void {
  if (reply.stdout) io.stdout(reply.stdout)
  // Whatever the reply adds beyond the program's own output (the error
  // message, a limit notice) belongs on stderr with the program's stderr.
  const extra = reply.output.slice(reply.stdout.length + reply.stderr.length)
  if (reply.stderr || extra) io.stderr(reply.stderr + extra)
}

function exitFor(reply: SessionReply): number {
  if (reply.status === 'complete' || reply.status === 'incomplete') return ExitCode.ok
  return reply.status === 'error' ? ExitCode.luaError : ExitCode.limit
}
