import { createInterface, emitKeypressEvents } from 'node:readline'
import type { InteractiveSession } from '@bioxen-luavm/core'
import { loadHistory, saveHistoryLine } from './history.js'

/** An input still running in a session, possibly while no terminal is attached to it. */
export interface RunningInput {
  /** Settles with what the terminal should print when the input ends (never rejects). */
  done: Promise<{ message: string }>
  /** Cancels the input (Ctrl-C). */
  cancel(): void
}

/** How the user left a {@link ttyRepl}. */
export interface ReplOutcome {
  /** `exit`: Ctrl-D or `.exit` (the caller closes the session); `detach`: `.detach` or Ctrl-] (it stays open). */
  left: 'exit' | 'detach'
  /** The input that was still running when the user detached. */
  running?: RunningInput | undefined
}

/** Options of {@link ttyRepl}. */
export interface TtyReplOptions {
  /** Offer `.detach` / Ctrl-] (the menu keeps detached sessions; the `repl` command does not). */
  detachable?: boolean
  /** An input left running by an earlier detach: the REPL waits for it before prompting. */
  running?: RunningInput | undefined
  /** Where entered lines are kept across runs (see `historyFile`); none keeps history in memory only. */
  historyFile?: string | undefined
}

const CTRL_RIGHT_BRACKET = '\x1d'

/**
 * A REPL on a terminal: `> ` and `>> ` prompts, history, output streamed as
 * it comes. Ctrl-C cancels the running chunk, or drops an unfinished one, and
 * never leaves; Ctrl-D or `.exit` leaves. When detachable, `.detach` or
 * Ctrl-] leaves at any moment — even while a chunk runs — and the session
 * keeps what it prints until the next attach shows it.
 */
export async function ttyRepl(
  session: InteractiveSession,
  banner: string,
  options: TtyReplOptions = {},
): Promise<ReplOutcome> {
  const missed = await session.readOutput()
  const keys = options.detachable
    ? 'Ctrl-C cancels, .detach or Ctrl-] detaches, Ctrl-D or .exit leaves'
    : 'Ctrl-C cancels, Ctrl-D or .exit leaves'
  process.stdout.write(`${banner} — ${keys}\n`)
  if (missed) process.stdout.write(`[output while detached]\n${missed}${missed.endsWith('\n') ? '' : '\n'}`)

  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    history: await loadHistory(options.historyFile),
    historySize: 1000,
  })
  const typed: string[] = []
  let running = options.running
  let continuation = hasPendingInput(session)
  let finish: (outcome: ReplOutcome) => void = () => {}
  const outcome = new Promise<ReplOutcome>((resolve) => {
    finish = resolve
  })
  let left = false

  const prompt = () => {
    if (left) return
    rl.setPrompt(continuation ? '>> ' : '> ')
    rl.prompt()
  }
  const leave = (how: ReplOutcome['left']) => {
    if (left) return
    left = true
    finish({ left: how, running })
    rl.close()
  }
  const follow = (input: RunningInput) => {
    running = input
    void input.done.then(({ message }) => {
      if (left || running !== input) return // detached meanwhile: the next attach reports it
      running = undefined
      if (message) process.stdout.write(message)
      if (session.state !== 'open') return leave('exit')
      continuation = hasPendingInput(session)
      // Lines typed ahead run first; a prompt before their output would
      // glue onto it (`> 42`).
      next()
      if (!running) prompt()
    })
  }
  const next = () => {
    while (!left && !running && typed.length) {
      const line = typed.shift() as string
      if (!continuation && line.trim() === '.exit') return leave('exit')
      follow(send(session, line))
    }
  }

  // What is shown live leaves the session's buffer, so the buffer holds
  // only what was printed while detached.
  const unsubscribe = session.onOutput((text) => {
    if (left) return
    process.stdout.write(text)
    void session.readOutput()
  })
  const onKey = (sequence: string | undefined) => {
    if (sequence === CTRL_RIGHT_BRACKET && options.detachable) {
      process.stdout.write('\n')
      leave('detach')
    }
  }
  emitKeypressEvents(process.stdin, rl)
  process.stdin.on('keypress', onKey)
  rl.on('SIGINT', () => {
    if (running) return running.cancel()
    typed.length = 0
    ;(session as { clearPendingInput?: () => void }).clearPendingInput?.()
    continuation = false
    process.stdout.write('^C\n')
    prompt()
  })
  rl.on('line', (line) => {
    if (options.detachable && line.trim() === '.detach') return leave('detach')
    if (line.trim() !== '.exit') void saveHistoryLine(options.historyFile, line)
    typed.push(line)
    next()
  })
  rl.on('close', () => leave('exit')) // Ctrl-D

  if (running) follow(running)
  else prompt()
  try {
    return await outcome
  } finally {
    unsubscribe()
    process.stdin.off('keypress', onKey)
  }
}

/** Starts one input; the returned promise reports its end as text to print. */
function send(session: InteractiveSession, line: string): RunningInput {
  const abort = new AbortController()
  const done = session.sendInput(line, { signal: abort.signal }).then(
    () => ({ message: '' }),
    (error: unknown) => ({ message: `error: ${(error as Error).message}\n` }),
  )
  return { done, cancel: () => abort.abort(new Error('cancelled by Ctrl-C')) }
}

function hasPendingInput(session: InteractiveSession): boolean {
  return (session as { hasPendingInput?: boolean }).hasPendingInput === true
}
