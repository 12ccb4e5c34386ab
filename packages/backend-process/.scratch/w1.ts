import { DriverWorker } from '/work/main/packages/backend-process/src/worker/driver-worker.ts'
import { resolveInterpreter } from '/work/main/packages/backend-process/src/interpreters/detect.ts'
import { buildEnvironment } from '/work/main/packages/backend-process/src/spawn/environment.ts'
const interp = await resolveInterpreter(process.argv[2] ?? 'lua5.4')
const w = new DriverWorker({ interpreter: interp, env: buildEnvironment(), sandbox: false, grants: [], startTimeoutMs: 5000, killGraceMs: 100 })
const t0 = performance.now()
console.log(await w.start(), (performance.now() - t0).toFixed(2), 'ms')
const base = { chunkName: 'chunk', echo: true, repl: false, timeoutMs: 2000, maxOutputBytes: 1 << 20 }
const run = async (code: string, o = {}) => { const r = await w.exec(code, { ...base, ...o }); console.log(JSON.stringify(code.slice(0, 50)), JSON.stringify(r)); return r }
await run('print("  hi  ") return 1+1, "x"')
await run('x = 42')
await run('return x')
await run('io.stderr:write("err\\n") error("boom")')
await run('return io.read("*l"), io.read("*a")')
await run('while true do end', { timeoutMs: 200 })
await run('return x')
await run('os.execute("echo raw >&2") return 1')
let n = 0; const t1 = performance.now()
for (let i = 0; i < 2000; i++) await w.exec('return 1', base)
console.log('per exec µs', ((performance.now() - t1) / 2000 * 1000).toFixed(1))
await run('os.execute("echo rawout") return 1')
console.log('dead?', w.dead)
await w.stop()
console.log('stopped', await w.exited)
