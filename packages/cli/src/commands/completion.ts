import type { Command } from 'commander'
import { UsageError } from '../lib/errors.js'
import type { CliIO } from '../lib/io.js'
import { commandNames } from '../lib/usage.js'

const SHELLS = ['bash', 'zsh', 'fish'] as const

/** `completion bash|zsh|fish`: a completion script made from the command tree itself. */
export function registerCompletion(program: Command, io: CliIO): void {
  program
    .command('completion')
    .description('print a shell completion script (bash, zsh or fish)')
    .argument('<shell>', SHELLS.join(', '))
    .addHelpText(
      'after',
      `
Examples:
  $ eval "$(bioxen-luavm completion bash)"            # bash: add to ~/.bashrc
  $ eval "$(bioxen-luavm completion zsh)"             # zsh (after compinit): add to ~/.zshrc
  $ bioxen-luavm completion fish > ~/.config/fish/completions/bioxen-luavm.fish`,
    )
    .action((shell: string) => {
      const tree = commandTree(program)
      if (shell === 'bash') io.stdout(bashScript(tree))
      else if (shell === 'zsh') io.stdout(zshScript(tree))
      else if (shell === 'fish') io.stdout(fishScript(tree))
      else throw new UsageError(`unknown shell '${shell}'; completion is made for ${SHELLS.join(', ')}`)
    })
}

/** What completes after each command: its subcommands, or its options. */
interface Node {
  name: string
  subcommands: string[]
  options: string[]
}

function commandTree(program: Command): { globals: string[]; commands: Node[] } {
  const longs = (c: Command) => c.options.map((o) => o.long).filter((l): l is string => l !== undefined)
  return {
    globals: longs(program),
    commands: program.commands
      .filter((c) => c.name() !== 'help')
      .map((c) => ({ name: c.name(), subcommands: commandNames(c), options: [...longs(c), '--help'] })),
  }
}

// Command and option names are plain words ([a-z-]), safe inside the scripts' quotes.

function bashScript(tree: { globals: string[]; commands: Node[] }): string {
  const cases = tree.commands
    .map((c) => `    ${c.name}) words="${c.subcommands.length ? c.subcommands.join(' ') : c.options.join(' ')}" ;;`)
    .join('\n')
  return `# bash completion for bioxen-luavm: source <(bioxen-luavm completion bash)
_bioxen_luavm() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd="" i words
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      --config | -c | --plugin) ((i++)) ;;
      -*) ;;
      *) cmd=\${COMP_WORDS[i]}; break ;;
    esac
  done
  if [[ -z $cmd ]]; then
    words="${tree.commands.map((c) => c.name).join(' ')} ${tree.globals.join(' ')} --help --version"
  else
    case $cmd in
${cases}
    esac
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _bioxen_luavm bioxen-luavm
`
}

function zshScript(tree: { globals: string[]; commands: Node[] }): string {
  const cases = tree.commands
    .map((c) => `    ${c.name}) choices=(${c.subcommands.length ? c.subcommands.join(' ') : c.options.join(' ')}) ;;`)
    .join('\n')
  return `#compdef bioxen-luavm
# zsh completion for bioxen-luavm: source <(bioxen-luavm completion zsh) after compinit
_bioxen_luavm() {
  local -a choices
  local cmd="" i
  for ((i = 2; i < CURRENT; i++)); do
    case \${words[i]} in
      --config | -c | --plugin) ((i++)) ;;
      -*) ;;
      *) cmd=\${words[i]}; break ;;
    esac
  done
  if [[ -z $cmd ]]; then
    choices=(${tree.commands.map((c) => c.name).join(' ')} ${tree.globals.join(' ')} --help --version)
  else
    case $cmd in
${cases}
    esac
  fi
  compadd -a choices
  _files
}
compdef _bioxen_luavm bioxen-luavm
`
}

function fishScript(tree: { globals: string[]; commands: Node[] }): string {
  const lines = [
    '# fish completion for bioxen-luavm: bioxen-luavm completion fish > ~/.config/fish/completions/bioxen-luavm.fish',
    `complete -c bioxen-luavm -n __fish_use_subcommand -f -a '${tree.commands.map((c) => c.name).join(' ')}'`,
    ...tree.globals.map((o) => `complete -c bioxen-luavm -n __fish_use_subcommand -l ${o.slice(2)}`),
  ]
  for (const c of tree.commands) {
    const when = `'__fish_seen_subcommand_from ${c.name}'`
    if (c.subcommands.length) lines.push(`complete -c bioxen-luavm -n ${when} -f -a '${c.subcommands.join(' ')}'`)
    for (const o of c.options) lines.push(`complete -c bioxen-luavm -n ${when} -l ${o.slice(2)}`)
  }
  return `${lines.join('\n')}\n`
}
