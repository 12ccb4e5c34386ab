#!/usr/bin/env node
import { runCli } from './run-cli.js'

// `bioxen-luavm … | head`: a reader that stops early is not an error.
// Exit quietly, as Unix tools do, instead of crashing on EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0)
    throw error
  })
}

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(`bioxen-luavm: ${error instanceof Error ? error.stack : String(error)}\n`)
    process.exitCode = 4
  },
)
