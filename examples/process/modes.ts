// oneshot, persistent and pool modes side by side.
//
//   node scripts/run-ts.mjs examples/process/modes.ts

import { processBackend } from '../../packages/backend-process/src/index.js'
import { BackendRegistry } from '../../packages/core/src/index.js'

const registry = new BackendRegistry().register(processBackend)
const pidLua = 'local f = io.open("/proc/self/stat") local pid = f:read("*l"):match("^(%d+)") f:close()'

for (const mode of ['persistent', 'oneshot', 'pool'] as const) {
  await using vm = await registry.create('process', `vm-${mode}`, { luaExecutable: 'lua5.4', mode, poolSize: 2 })
  const runs = await Promise.all(
    [1, 2, 3, 4].map(() => vm.execute(`${pidLua} n = (n or 0) + 1 return pid, n`, { echoReturnValues: false })),
  )
  // persistent: one pid, n counts up. oneshot: a new pid each time, n is always 1.
  // pool: two pids, n counts per worker (state is per worker).
  console.log(mode.padEnd(10), runs.map((r) => r.values.join('/')).join('  '))
}
