/**
 * The no-leak proof: one million sequential executions returning values on
 * one warm wasm VM (inline isolation, the engine on this thread). npm
 * wasmoon 1.16.0's own doString crashes at call ~60 (ceifa/wasmoon#109);
 * here the Lua stack top must stay constant and the Lua heap flat.
 *
 *   node --expose-gc scripts/run-ts.mjs bench/wasm-million.bench.ts [runs] [wasm|fengari]
 */
import { createFengariVM, createWasmVM } from '@bioxen-luavm/backend-wasm'

const runs = Number(process.argv[2] ?? 1_000_000)
const type = process.argv[3] === 'fengari' ? 'fengari' : 'wasm'
const vm = await (type === 'wasm' ? createWasmVM : createFengariVM)({ isolation: 'inline' })
const details = async () =>
  (await vm.getStatus()).details as { stackTop: number; memoryUsedBytes?: number; wasmHeapBytes?: number }

await vm.execute('n = 0')
const start = await details()
const checkpoints: string[] = []
const t0 = performance.now()
for (let i = 1; i <= runs; i++) {
  const r = await vm.execute('n = n + 1 return n, "x", {i = n}', { echoReturnValues: false })
  if (r.status !== 'ok' || r.values[0] !== i) throw new Error(`run ${i}: ${JSON.stringify(r)}`)
  if (i % (runs / 10) === 0) {
    const d = await details()
    checkpoints.push(`${i}: stackTop=${d.stackTop} heap=${d.memoryUsedBytes ?? '-'} wasm=${d.wasmHeapBytes ?? '-'}`)
    if (d.stackTop !== start.stackTop) throw new Error(`stack top moved: ${start.stackTop} → ${d.stackTop}`)
  }
}
const elapsed = performance.now() - t0
const end = await details()
console.log(
  `${type}: ${runs} executions in ${(elapsed / 1000).toFixed(1)} s (${((elapsed * 1000) / runs).toFixed(2)} µs each)`,
)
console.log(checkpoints.join('\n'))
console.log(
  `stack top ${start.stackTop} → ${end.stackTop}; Lua heap ${start.memoryUsedBytes ?? '-'} → ${end.memoryUsedBytes ?? '-'} bytes`,
)
await vm.stop()
