import { execFileSync } from 'node:child_process'

/** A program running in a real terminal (a detached tmux session) that a test can type into and read. */
export class Terminal {
  readonly #name: string

  constructor(
    command: readonly string[],
    options: { env?: Record<string, string>; width?: number; height?: number } = {},
  ) {
    this.#name = `luavm-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
    const env = Object.entries(options.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`])
    execFileSync('tmux', [
      'new-session',
      '-d',
      '-s',
      this.#name,
      '-x',
      String(options.width ?? 140),
      '-y',
      String(options.height ?? 45),
      ...env,
      ...command,
    ])
    // Keep the pane after the program exits so its last screen can be read.
    execFileSync('tmux', ['set-option', '-t', this.#name, 'remain-on-exit', 'on'])
  }

  /** Types keys (tmux key names like `Enter`, `C-c`, `Up`, or literal text). */
  send(...keys: string[]): void {
    execFileSync('tmux', ['send-keys', '-t', this.#name, ...keys])
  }

  /** Types text literally, then Enter. */
  line(text: string): void {
    execFileSync('tmux', ['send-keys', '-t', this.#name, '-l', text])
    this.send('Enter')
  }

  /** The visible screen, plus scrollback. */
  screen(): string {
    return execFileSync('tmux', ['capture-pane', '-p', '-S', '-200', '-t', this.#name], { encoding: 'utf8' })
  }

  /** Waits until the screen matches, or throws with the screen it saw. */
  async waitFor(pattern: RegExp | string, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const screen = this.screen()
      if (typeof pattern === 'string' ? screen.includes(pattern) : pattern.test(screen)) return screen
      if (Date.now() > deadline) throw new Error(`screen never showed ${pattern}; it shows:\n${screen}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** True once the program in the pane has exited. */
  exited(): boolean {
    return (
      execFileSync('tmux', ['display-message', '-p', '-t', this.#name, '#{pane_dead}'], { encoding: 'utf8' }).trim() ===
      '1'
    )
  }

  /** Ends the tmux session and whatever still runs in it. */
  kill(): void {
    try {
      execFileSync('tmux', ['kill-session', '-t', this.#name], { stdio: 'ignore' })
    } catch {
      // Already gone.
    }
  }
}
