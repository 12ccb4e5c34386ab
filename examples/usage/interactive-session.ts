/**
 * Interactive sessions — the original's PTY `InteractiveSession`, rebuilt as
 * a framed REPL: `sendInput` resolves when the chunk ran (no sleeps), output
 * is clean (no echo, prompts, CRLF or escape codes), expressions print their
 * value, unfinished chunks wait for more lines, errors keep the session, and
 * a closed session rejects input instead of swallowing it. Then the same
 * through `VMManager`: attach, detach, re-attach, terminate.
 *
 * Run (from the repository root, no build needed):
 *
 *   node scripts/run-ts.mjs examples/usage/interactive-session.ts
 *
 * The managed part uses the native `process` backend when `lua5.4` is
 * installed, else `wasm`.
 */
import { processBackend } from '@bioxen-luavm/backend-process'
import { wasmBackend } from '@bioxen-luavm/backend-wasm'
import { BackendRegistry, isLuaVMError, VMManager } from '@bioxen-luavm/core'

const registry = new BackendRegistry().register(wasmBackend).register(processBackend)
const show = (text: string) => JSON.stringify(text)

// ---- a session on one VM -----------------------------------------------------
{
  await using vm = await registry.create('wasm', 'repl-demo')
  const session = await vm.openSession()

  let reply = await session.sendInput('x = 6 * 7')
  console.log(`> x = 6 * 7          ${reply.status} ${show(reply.output)}`)
  reply = await session.sendInput('x')
  console.log(`> x                  ${reply.status} ${show(reply.output)}`)
  reply = await session.sendInput('= x + 1')
  console.log(`> = x + 1            ${reply.status} ${show(reply.output)}`)

  // Multi-line input, one line at a time: the chunk waits until it is whole.
  for (const line of ['function fact(n)', '  if n <= 1 then return 1 end', '  return n * fact(n - 1)', 'end']) {
    reply = await session.sendInput(line)
    console.log(`> ${line.padEnd(28)} ${reply.status}`)
  }
  reply = await session.sendInput('fact(10)')
  console.log(`> fact(10)           ${reply.status} ${show(reply.output)}`)

  // ... or several lines in one input.
  reply = await session.sendInput('local a = 2\nlocal b = 3\nprint(a .. " * " .. b .. " = " .. a * b)')
  console.log(`> (three lines)      ${reply.status} ${show(reply.output)}`)

  // An error is printed like lua.c prints it, and the session lives on.
  reply = await session.sendInput('error("oops")')
  console.log(`> error("oops")      ${reply.status} ${show(reply.output)} session ${session.state}`)

  // Output is also buffered: readOutput takes what came since the last read,
  // and `until` waits for a marker — here while the input is still running.
  await session.readOutput()
  const running = session.sendInput('for i = 1, 3 do print("tick " .. i) end print("ready")')
  const upToReady = await session.readOutput({ until: 'ready\n', timeoutMs: 10_000 })
  await running
  console.log(`readOutput until "ready" -> ${show(upToReady)}`)

  await session.close()
  try {
    await session.sendInput('x')
  } catch (error) {
    if (!isLuaVMError(error)) throw error
    console.log(`input after close -> ${error._tag}`)
  }
}

// ---- sessions managed by VMManager ---------------------------------------------
const type = (await processBackend.detect()).available ? 'process' : 'wasm'
const config = type === 'process' ? { luaExecutable: 'lua5.4' } : {}
const manager = new VMManager({ registry, defaultBackend: type })

// createInteractiveVM makes a VM that belongs to its session, attached at once:
// onOutput sees everything the session prints while attached.
const seen: string[] = []
await manager.createInteractiveVM('lab', { config, onOutput: (chunk) => seen.push(chunk) })
await manager.sendInput('lab', 'count = 1')
await manager.sendInput('lab', 'print("attached, count = " .. count)')
console.log(`[${type}] attached listener saw ${show(seen.join(''))}`)

// Detached, the session keeps running and keeps its state; output waits in
// the buffer for readOutput instead of going to the listener. (The buffer
// holds everything since the last read, attached or not: drain it first.)
await manager.readOutput('lab')
manager.detach('lab')
await manager.sendInput('lab', 'count = count + 41 print("detached, count = " .. count)')
const buffered = await manager.readOutput('lab', { until: /count = \d+\n/ })
console.log(`[${type}] while detached, readOutput -> ${show(buffered)}`)
console.log(`[${type}] listener unchanged: ${seen.join('').includes('detached') ? 'no' : 'yes'}`)
try {
  manager.detach('lab')
} catch (error) {
  if (!isLuaVMError(error)) throw error
  console.log(`[${type}] detach twice -> ${error._tag}`)
}

await manager.attach('lab', (chunk) => seen.push(chunk))
await manager.sendInput('lab', 'print("re-attached, count = " .. count)')
console.log(`[${type}] after re-attach the listener saw ${show(seen.at(-1) ?? '')}`)
console.log(
  `[${type}] sessions: ${JSON.stringify(manager.listSessions().map(({ vmId, attached, state }) => ({ vmId, attached, state })))}`,
)

// Terminating removes the interactive VM, so its id can be used again.
await manager.terminateSession('lab')
console.log(`[${type}] after terminateSession: VMs [${manager.listVMs().join(', ')}]`)
await manager.createInteractiveVM('lab', { config })
console.log(`[${type}] id reused -> ${show((await manager.sendInput('lab', 'count')).output)}`)

await manager.shutdownAll()
console.log('done')
