// An interactive REPL session: framed, no sleeps, no terminal noise.
//
//   node scripts/run-ts.mjs examples/process/session.ts

import { processBackend } from '../../packages/backend-process/src/index.js'
import { BackendRegistry, VMManager } from '../../packages/core/src/index.js'

await using manager = new VMManager({
  registry: new BackendRegistry().register(processBackend),
  defaultBackend: 'process',
})
await manager.createInteractiveVM('lab', {
  config: { luaExecutable: 'lua5.4' },
  onOutput: (text) => process.stdout.write(`| ${text}`),
})

for (const line of [
  'x = 6 * 7',
  '= x',
  'function fact(n)',
  '  return n <= 1 and 1 or n * fact(n - 1)',
  'end',
  'fact(10)',
  'error("oops")',
  'x + 1',
]) {
  const reply = await manager.sendInput('lab', line)
  console.log(`> ${line.padEnd(45)} ${reply.status}`)
}
manager.detach('lab')
await manager.attach('lab')
console.log('after reattach:', (await manager.sendInput('lab', 'return x')).output.trim())
