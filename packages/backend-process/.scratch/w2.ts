import { DriverWorker } from '/work/main/packages/backend-process/src/worker/driver-worker.ts'
import { resolveInterpreter } from '/work/main/packages/backend-process/src/interpreters/detect.ts'
import { buildEnvironment } from '/work/main/packages/backend-process/src/spawn/environment.ts'
import { findPrlimit } from '/work/main/packages/backend-process/src/spawn/rlimit.ts'
const interp = await resolveInterpreter(process.argv[2] ?? 'lua5.4')
const mk = async (extra = {}) => { const w = new DriverWorker({ interpreter: interp, env: buildEnvironment(), sandbox: false, grants: [], startTimeoutMs: 5000, killGraceMs: 100, prlimitPath: findPrlimit().path, ...extra }); await w.start(); return w }
const base = { chunkName: 'chunk', echo: true, repl: false, timeoutMs: 2000, maxOutputBytes: 1 << 20 }
const run = async (w: DriverWorker, code: string, o = {}) => { const r = await w.exec(code, { ...base, ...o }); console.log(JSON.stringify(code.slice(0, 60)), JSON.stringify({...r, stdout: r.stdout.slice(0, 100), stderr: r.stderr.slice(0,200)})); return r }
let w = await mk()
await run(w, 'print("bye") os.exit(0)')
w = await mk()
await run(w, 'print("bye") os.exit(3)')
w = await mk()
await run(w, 'local t = os.time() os.execute("sleep 61.4321") return 1', { timeoutMs: 300 })
w = await mk()
await run(w, 'local s = string.rep("x", 2^28) return #s', { memoryLimitBytes: 32 << 20 })
await run(w, 'local s = string.rep("x", 2^20) return #s', { })
await run(w, 'local t = {} for i=1,1e7 do t[i] = i end return #t', { memoryLimitBytes: 16 << 20 })
await run(w, 'return collectgarbage("count")')
w = await mk({ memoryLimitBytes: 32 << 20 })
await run(w, 'local s = string.rep("x", 2^28) return #s')
await run(w, 'return 1')
await run(w, 'for i=1,1e9 do io.write("xxxxxxxxxxxxxxxxxxx") end', { maxOutputBytes: 1000 })
await run(w, 'os.execute("yes 2>/dev/null >&2")', { maxOutputBytes: 100000, timeoutMs: 5000 })
w = await mk()
const ac = new AbortController(); setTimeout(() => ac.abort(), 100)
await run(w, 'while true do end', { signal: ac.signal })
w = await mk()
await run(w, 'local s = ("a"):rep(30000) return s:find(".-.-.-.-b$")', { timeoutMs: 300 })
await w.stop()
