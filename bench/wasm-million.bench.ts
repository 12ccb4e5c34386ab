/**
 * The no-leak proof: one million sequential executions returning values on
 * one warm wasm VM (inline isolation, the engine on this thread). npm
 * wasmoon 1.16.0's own doString crashes at call ~60 (ceifa/wasmoon#109);
 * here the Lua stack top must stay constant and the live Lua heap flat.
 *
 * The heap is read two ways at each checkpoint: as it is (Lua's incremental
 * collector makes it a sawtooth, so samples taken every N executions drift
 * up or down with the phase of its cycle), then after a full collection
 * (what is actually alive). The VM has the `collectgarbage` grant for that
 * second reading only; the measured chunk never calls it.
 *
 *   node --expose-gc scripts/run-ts.mjs bench/wasm-million.bench.ts [runs] [wasm|fengari]
 */
import { createFengariVM, createWasmVM } from '@bioxen-luavm/backend-wasm'

const runs = Number(process.argv[2] ?? 1_000_000)
const type = process.argv[3] === 'fengari' ? 'fengari' : 'wasm'
const vm = await (type === 'wasm' ? createWasmVM : createFengariVM)({ isolation: 'inline', grants: ['collectgarbage'] })
const details = async () =>
  (await vm.getStatus()).details as { stackTop: number; memoryUsedBytes?: number; wasmHeapBytes?: number }
/** The Lua heap after two full collections (the second finishes objects the first resurrected). */
const liveHeap = async () => {
  await vm.execute('collectgarbage("collect") collectgarbage("collect")')
  return (await details()).memoryUsedBytes
}

await vm.execute('n = 0')
const start = await details()
const startLive = await liveHeap()
const checkpoints: string[] = []
const sampled: number[] = []
const live: number[] = []
const t0 = performance.now()
for (let i = 1; i <= runs; i++) {
  const r = await vm.execute('n = n + 1 return n, "x", {i = n}', { echoReturnValues: false })
  if (r.status !== 'ok' || r.values[0] !== i) throw new Error(`run ${i}: ${JSON.stringify(r)}`)
  if (i % (runs / 10) === 0) {
    const d = await details()
    const after = await liveHeap()
    if (d.memoryUsedBytes !== undefined) sampled.push(d.memoryUsedBytes)
    if (after !== undefined) live.push(after)
    checkpoints.push(
      `${i}: stackTop=${d.stackTop} heap=${d.memoryUsedBytes ?? '-'} live=${after ?? '-'} wasm=${d.wasmHeapBytes ?? '-'}`,
    )
    if (d.stackTop !== start.stackTop) throw new Error(`stack top moved: ${start.stackTop} → ${d.stackTop}`)
  }
}
const elapsed = performance.now() - t0
const end = await details()
console.log(
  `${type}: ${runs} executions in ${(elapsed / 1000).toFixed(1)} s (${((elapsed * 1000) / runs).toFixed(2)} µs each, checkpoints included)`,
)
console.log(checkpoints.join('\n'))
const range = (xs: number[]) => (xs.length ? `${Math.min(...xs)}–${Math.max(...xs)}` : '-')
console.log(
  `stack top ${start.stackTop} → ${end.stackTop}; live Lua heap ${startLive ?? '-'} → ${live.at(-1) ?? '-'} bytes ` +
    `(checkpoints ${range(live)}); heap as sampled ${range(sampled)} bytes`,
)
await vm.stop()
