import { runConformance } from '@bioxen-luavm/core/testing'
import { afterAll, expect } from 'vitest'
import { processBackend } from '../src/index.js'
import { INTERPRETERS, settledChildren } from './helpers.js'

// Every mode with lua5.4, and persistent mode with each other installed
// interpreter. Differences per version are recorded in the README
// ("Per-version notes"). Oneshot mode declares what it is: a fresh process
// per execution keeps no globals, so the kit skips the state check as a
// capability, not by name.

const LUA54_CONFIGS = [
  { mode: 'persistent' },
  { mode: 'oneshot' }, // with a prespawned spare process (the default)
  { mode: 'oneshot', prespawn: false }, // a cold, pipelined process per execution
  { mode: 'pool', poolSize: 2 },
  { mode: 'persistent', softDeadline: false }, // deadlines by process kill only
] as const

for (const config of LUA54_CONFIGS) {
  // Without the soft layer (softDeadline: false) every deadline is a
  // process kill; what the chunk printed before it survives because the
  // runtime pushes an exec's first output at once (and later output on a
  // timer, on io.stdout:flush() and before os.execute/os.exit).
  runConformance(processBackend, {
    config: { luaExecutable: 'lua5.4', ...config },
    luaVersion: /^Lua 5\.4$/,
    ...(config.mode === 'oneshot' ? { capabilities: { persistentState: false } } : {}),
  })
}

for (const interpreter of INTERPRETERS.filter((i) => i !== 'lua5.4')) {
  runConformance(processBackend, {
    config: { luaExecutable: interpreter },
    luaVersion:
      interpreter === 'luajit' ? /^LuaJIT 2\./ : new RegExp(`^Lua ${interpreter.slice(3).replace('.', '\\.')}$`),
  })
}

afterAll(async () => {
  expect(await settledChildren()).toEqual({ pids: [], groups: [] })
})
