/**
 * What a VM costs: warm execute latency, new-VM time on a warm module,
 * resident memory per VM and per worker, and how far past the deadline the
 * hostile cases end. Numbers go into the package README.
 *
 *   node --expose-gc scripts/run-ts.mjs bench/wasm-costs.bench.ts
 */
import {
  type CreateVMOptions,
  createFengariVM,
  createWasmVM,
  shutdownWorkers,
  type WasmLuaVM,
} from '@bioxen-luavm/backend-wasm'

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)] as number
const rssMiB = () => process.memoryUsage().rss / 2 ** 20
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((r) => setTimeout(r, 50))
  }
}
type Kind = 'wasm' | 'fengari'
const create = (kind: Kind, o: CreateVMOptions) => (kind === 'wasm' ? createWasmVM(o) : createFengariVM(o))

async function warmExec(kind: Kind, isolation: 'inline' | 'worker'): Promise<string> {
  const vm = await create(kind, { isolation })
  // Long enough for V8 to finish optimizing the path: with 300 the first
  // measured batch was sometimes twice as slow, depending on when it tiered up.
  for (let i = 0; i < 3000; i++) await vm.execute('return 1 + 1')
  const times: number[] = []
  for (let i = 0; i < 3000; i++) {
    const t = performance.now()
    await vm.execute('return 1 + 1')
    times.push((performance.now() - t) * 1000)
  }
  await vm.stop()
  return `${kind}/${isolation}: warm execute median ${median(times).toFixed(1)} µs, p90 ${p90(times).toFixed(1)} µs`
}

async function newVM(kind: Kind, isolation: 'inline' | 'worker'): Promise<string> {
  const keep = await create(kind, { isolation, workers: 1, vmsPerWorker: 100 }) // warms the module / worker
  const times: number[] = []
  const vms: WasmLuaVM[] = []
  for (let i = 0; i < 20; i++) {
    const t = performance.now()
    vms.push(await create(kind, { isolation, workers: 1, vmsPerWorker: 100 }))
    times.push(performance.now() - t)
  }
  await Promise.all([keep, ...vms].map((v) => v.stop()))
  return `${kind}/${isolation}: new VM (warm module${isolation === 'worker' ? ', existing worker' : ''}) median ${median(times).toFixed(2)} ms`
}

// reset(): a new engine by construction (wasm writes back a memory snapshot
// of the fresh engine, fengari builds a new state), after code that left state.
async function reset(kind: Kind, isolation: 'inline' | 'worker'): Promise<string> {
  const vm = await create(kind, { isolation })
  const times: number[] = []
  for (let i = 0; i < 220; i++) {
    await vm.execute('X = {} for i = 1, 1000 do X[i] = tostring(i) end', { echoReturnValues: false })
    const t = performance.now()
    await vm.reset()
    if (i >= 20) times.push(performance.now() - t)
  }
  await vm.stop()
  return `${kind}/${isolation}: reset() median ${median(times).toFixed(3)} ms, p90 ${p90(times).toFixed(3)} ms`
}

async function firstWorker(kind: Kind): Promise<string> {
  const times: number[] = []
  for (let i = 0; i < 5; i++) {
    const t = performance.now()
    const vm = await create(kind, { isolation: 'worker', vmsPerWorker: 1, workers: 64 })
    times.push(performance.now() - t)
    await vm.stop()
  }
  return `${kind}/worker: VM on a new worker median ${median(times).toFixed(1)} ms`
}

async function perVM(kind: Kind, isolation: 'inline' | 'worker', n = 40): Promise<string> {
  const options: CreateVMOptions = { isolation, workers: 1, vmsPerWorker: 1000 }
  const anchor = await create(kind, options) // module compiled, worker started
  await anchor.execute('return 1')
  await settle()
  const before = rssMiB()
  const vms: WasmLuaVM[] = []
  for (let i = 0; i < n; i++) {
    const vm = await create(kind, options)
    await vm.execute('x = {} for i = 1, 10 do x[i] = i end')
    vms.push(vm)
  }
  await settle()
  const delta = rssMiB() - before
  await Promise.all([anchor, ...vms].map((v) => v.stop()))
  return `${kind}/${isolation}: RSS per VM ≈ ${((delta * 1024) / n).toFixed(0)} KiB (${n} VMs, +${delta.toFixed(1)} MiB)`
}

async function perWorker(n = 6): Promise<string> {
  await settle()
  const before = rssMiB()
  const vms: WasmLuaVM[] = []
  for (let i = 0; i < n; i++) vms.push(await createWasmVM({ isolation: 'worker', vmsPerWorker: 1, workers: 64 }))
  await Promise.all(vms.map((v) => v.execute('return 1')))
  await settle()
  const delta = rssMiB() - before
  await Promise.all(vms.map((v) => v.stop()))
  return `worker thread + one wasm VM: RSS ≈ ${(delta / n).toFixed(1)} MiB each (${n} workers)`
}

async function overshoot(kind: Kind, isolation: 'inline' | 'worker', name: string, code: string): Promise<string> {
  const vm = await create(kind, { isolation })
  const over: number[] = []
  let status = ''
  for (let i = 0; i < 5; i++) {
    // After a hard kill the worker is restarted; wait for it so the next
    // measurement is the deadline alone, not the restart.
    await vm.execute('return 1')
    const r = await vm.execute(code, { timeoutMs: 100 })
    status = r.status
    over.push(r.durationMs - 100)
  }
  await vm.stop()
  return `${kind}/${isolation} ${name}: ${status}, overshoot median ${median(over).toFixed(1)} ms, max ${Math.max(...over).toFixed(1)} ms`
}

const lines: string[] = []
const log = (s: string) => {
  lines.push(s)
  console.log(s)
}
log(`node ${process.version}, ${process.arch}`)
for (const kind of ['wasm', 'fengari'] as const) {
  for (const iso of ['inline', 'worker'] as const) log(await warmExec(kind, iso))
}
for (const kind of ['wasm', 'fengari'] as const) {
  for (const iso of ['inline', 'worker'] as const) log(await newVM(kind, iso))
  for (const iso of ['inline', 'worker'] as const) log(await reset(kind, iso))
  log(await firstWorker(kind))
}
for (const kind of ['wasm', 'fengari'] as const) {
  for (const iso of ['inline', 'worker'] as const) log(await perVM(kind, iso))
}
log(await perWorker())
const cases: Array<[string, string]> = [
  ['plain loop', 'while true do end'],
  ['pcall loop', 'while true do pcall(function() while true do end end) end'],
  ['coroutine loop', 'coroutine.wrap(function() while true do end end)()'],
]
for (const kind of ['wasm', 'fengari'] as const) {
  for (const iso of ['inline', 'worker'] as const) {
    for (const [name, code] of cases) log(await overshoot(kind, iso, name, code))
  }
  log(
    await overshoot(
      kind,
      'worker',
      'pathological string.find (hard kill)',
      'return string.find(("a"):rep(3e4), ".-.-.-.-b$")',
    ),
  )
}
await shutdownWorkers()
