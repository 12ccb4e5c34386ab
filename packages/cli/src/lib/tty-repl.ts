import { createInterface } from 'node:readline'
import type { InteractiveSession } from '@bioxen-luavm/core'
import { ExitCode } from './exit-codes.js'

/**
 * A REPL on a terminal: `> ` and `>> ` prompts, history, output streamed as
 * it comes. Ctrl-C cancels the running chunk, or drops an unfinished one, and
 * never leaves; Ctrl-D (or `.exit`) leaves. Resolves when the user leaves.
 */
export async function ttyRepl(session: InteractiveSession, banner: string): Promise<number> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true, historySize: 1000 })
  process.stdout.write(`${banner} — Ctrl-C cancels, Ctrl-D or .exit leaves\n`)
  let running: AbortController | undefined
  let continuation = false
  const prompt = () => {
    rl.setPrompt(continuation ? '>> ' : '> ')
    rl.prompt()
  }
  const unsubscribe = session.onOutput((text) => process.stdout.write(text))
  rl.on('SIGINT', () => {
    if (running) {
      running.abort(new Error('cancelled by Ctrl-C'))
      return
    }
    if (continuation) (session as { clearPendingInput?: () => void }).clearPendingInput?.()
    continuation = false
    process.stdout.write('^C\n')
    prompt()
  })
  prompt()
  try {
    for await (const line of rl) {
      if (!continuation && line.trim() === '.exit') break
      running = new AbortController()
      try {
        const reply = await session.sendInput(line, { signal: running.signal })
        continuation = reply.status === 'incomplete'
      } catch (error) {
        process.stdout.write(`error: ${(error as Error).message}\n`)
        if (session.state !== 'open') break
      } finally {
        running = undefined
      }
      prompt()
    }
  } finally {
    unsubscribe()
    rl.close()
  }
  return ExitCode.ok
}
