import { runConformance } from '@bioxen-luavm/core/testing'
import { afterAll, expect } from 'vitest'
import { processBackend } from '../src/index.js'
import { INTERPRETERS, settledChildren } from './helpers.js'

// Every mode with lua5.4, and persistent mode with each other installed
// interpreter. Differences per version are recorded in the README
// ("Per-version notes"); the only check skipped is the one a mode cannot
// meet by design.
const ONESHOT_SKIP = [
  // A fresh process per execution: globals cannot persist (that is the point of the mode).
  'state persists between executions',
]

const LUA54_CONFIGS = [
  { mode: 'persistent' },
  { mode: 'oneshot' }, // with a prespawned spare process (the default)
  { mode: 'oneshot', prespawn: false }, // a cold, pipelined process per execution
  { mode: 'pool', poolSize: 2 },
  { mode: 'persistent', softDeadline: false }, // deadlines by process kill only
] as const

const HARD_ONLY_SKIP = [
  // Without the soft layer every deadline is a process kill, and what the
  // chunk printed is still in the runtime's output buffer inside the killed
  // process (runtime.lua flushes at 16 KiB or at the end of a chunk).
  'timeouts stop a busy loop',
]

for (const config of LUA54_CONFIGS) {
  const skip = [
    ...(config.mode === 'oneshot' ? ONESHOT_SKIP : []),
    ...('softDeadline' in config && config.softDeadline === false ? HARD_ONLY_SKIP : []),
  ]
  runConformance(processBackend, {
    config: { luaExecutable: 'lua5.4', ...config },
    luaVersion: /^Lua 5\.4$/,
    skip,
  })
}

const PER_INTERPRETER_SKIP: Record<string, string[]> = {
  // runtime.lua's REPL mode first compiles `return <input>`, which makes
  // `error("boom")` a tail call; LuaJIT drops the caller's frame on tail
  // calls, so the message is "boom" instead of "chunk:1: boom" (PUC 5.1
  // keeps the frame). Reported to the runtime's owner; see the README.
  luajit: ['sessions: errors keep the session alive'],
}

for (const interpreter of INTERPRETERS.filter((i) => i !== 'lua5.4')) {
  runConformance(processBackend, {
    config: { luaExecutable: interpreter },
    skip: PER_INTERPRETER_SKIP[interpreter] ?? [],
    luaVersion: interpreter === 'luajit' ? /^LuaJIT 2\./ : new RegExp(`^Lua ${interpreter.slice(3).replace('.', '\\.')}$`),
  })
}

afterAll(async () => {
  expect(await settledChildren()).toEqual({ pids: [], groups: [] })
})
