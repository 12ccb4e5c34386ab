// The process backend in a few lines: run Lua with the native interpreter.
//
//   node scripts/run-ts.mjs examples/process/basic.ts
//
// In your project: import { BackendRegistry } from '@bioxen-luavm/core'
//                  import { processBackend } from '@bioxen-luavm/backend-process'

import { processBackend } from '../../packages/backend-process/src/index.js'
import { BackendRegistry } from '../../packages/core/src/index.js'

const registry = new BackendRegistry().register(processBackend)
console.log('detected:', (await processBackend.detect()).version)

// `basic` is the original library's name for this backend; pin the interpreter.
await using vm = await registry.create('basic', 'demo', { luaExecutable: 'lua5.4' })

const sum = await vm.execute('local s = 0 for i = 1, 10 do s = s + i end print("sum is", s) return s, s * 2')
console.log({ stdout: sum.stdout, values: sum.values, luaVersion: sum.luaVersion })

// Lua errors resolve with details; they do not throw.
const bad = await vm.execute('local t = nil\nreturn t.x', { chunkName: 'demo.lua' })
console.log(bad.status, bad.error?.message)

// Deadlines are enforced: a busy loop is stopped by the runtime hook (state kept) ...
await vm.execute('kept = "still here"')
console.log(
  (await vm.execute('while true do end', { timeoutMs: 200 })).status,
  (await vm.execute('return kept')).values,
)
// ... and a blocking call by killing the whole process group (the sleep goes too).
console.log((await vm.execute('os.execute("sleep 30")', { timeoutMs: 200 })).status)
