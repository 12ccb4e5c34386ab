import { runConformance } from '@bioxen-luavm/core/testing'
import { afterAll, describe } from 'vitest'
import { fengariBackend, shutdownWorkers, wasmBackend } from '../src/index.js'

afterAll(async () => {
  await shutdownWorkers()
})

// Inline isolation runs Lua on the test's own thread: no timer fires while a
// chunk runs, so the kit's cancel check passes only because the runtime
// pushes an execution's first output at once and the abort made in that
// callback is seen by the runtime's clock.

for (const descriptor of [wasmBackend, fengariBackend]) {
  describe(`${descriptor.type}, worker isolation`, () => {
    runConformance(descriptor, { config: { isolation: 'worker' } })
  })
  // Hook-free (softDeadline: false): every deadline and cancel is a worker
  // kill, so the VM loses its state on a timeout, but state still persists
  // between executions (the declared capabilities hold). What a chunk
  // printed before the kill survives: the runtime pushes an execution's
  // first output at once, and hook-free workers post every push.
  describe(`${descriptor.type}, worker isolation, softDeadline false`, () => {
    runConformance(descriptor, { config: { isolation: 'worker', softDeadline: false } })
  })
  describe(`${descriptor.type}, inline isolation`, () => {
    runConformance(descriptor, { config: { isolation: 'inline' } })
  })
}
