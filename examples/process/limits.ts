// Limits and isolation: memory (rlimit), output cap, sandbox, scrubbed environment.
//
//   node scripts/run-ts.mjs examples/process/limits.ts

import { processBackend } from '../../packages/backend-process/src/index.js'
import { BackendRegistry } from '../../packages/core/src/index.js'

const registry = new BackendRegistry().register(processBackend)
await using vm = await registry.create('process', 'limits', { luaExecutable: 'lua5.4', env: ['GREETING=hi'] })

const mem = await vm.execute('local s = string.rep("x", 2^28) return #s', { memoryLimitBytes: 32 * 1024 * 1024 })
console.log('memory:', mem.status, mem.error?.message)

const out = await vm.execute('for i = 1, 1e6 do io.write("spam ") end', { maxOutputBytes: 20 })
console.log('output:', out.status, JSON.stringify(out.stdout), out.truncated)

process.env.MY_SECRET_TOKEN = 'do-not-leak'
const env = await vm.execute('return os.getenv("MY_SECRET_TOKEN"), os.getenv("GREETING")', { echoReturnValues: false })
console.log('environment:', env.values)

await using sandboxed = await registry.create('process', 'sandboxed', { luaExecutable: 'lua5.4', sandbox: true })
const sb = await sandboxed.execute('return type(os.execute), type(io.open), type(debug), math.sqrt(16)', {
  echoReturnValues: false,
})
console.log('sandbox:', sb.values)
