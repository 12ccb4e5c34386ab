// Benchmarks of the process backend, every comparison measured in the same
// run with interleaved rounds. Run from the repo root:
//
//   node scripts/run-ts.mjs bench/process.bench.ts [--quick]
//
// Prints a markdown table. Targets (issue): persistent vs spawn-per-exec
// >= 25x; oneshot vs bare spawn <= 1.3x; pool(2) vs single >= 1.7x
// throughput; fib(30) via the backend vs `lua5.4 file.lua` <= 1.1x;
// session round trip median <= 2 ms.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { processBackend } from '@bioxen-luavm/backend-process'
import { BackendRegistry, type BaseLuaVM } from '@bioxen-luavm/core'

const quick = process.argv.includes('--quick')
const LUA = 'lua5.4'
const registry = new BackendRegistry().register(processBackend)

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)] as number

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now()
  await fn()
  return performance.now() - t
}

/** A bare `child_process.spawn` of the interpreter with the code on stdin, until it exits. */
function bareSpawn(args: string[], stdin = ''): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(LUA, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    child.stdout.resume()
    child.stderr.resume()
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${LUA} exited ${code}`))))
    child.stdin.end(stdin)
  })
}

async function checkOk(vm: BaseLuaVM, code: string) {
  const r = await vm.execute(code, { echoReturnValues: false })
  if (r.status !== 'ok') throw new Error(`bench chunk failed: ${JSON.stringify(r)}`)
  return r
}

const rows: string[][] = []
const row = (name: string, ours: string, baseline: string, ratio: string, target: string) =>
  rows.push([name, ours, baseline, ratio, target])
const ms = (x: number) => `${x.toFixed(3)} ms`

// 1 + 2: tiny execution — persistent, oneshot, bare spawn, interleaved per round.
{
  const persistent = await registry.create('process', 'bench-persistent', { luaExecutable: LUA })
  const oneshot = await registry.create('process', 'bench-oneshot', { luaExecutable: LUA, mode: 'oneshot' })
  const cold = await registry.create('process', 'bench-oneshot-cold', {
    luaExecutable: LUA,
    mode: 'oneshot',
    prespawn: false,
  })
  const rounds = quick ? 3 : 5
  const n = quick ? 30 : 100
  const tiny = 'return 1'
  const p: number[] = []
  const o: number[] = []
  const b: number[] = []
  const c: number[] = []
  const spaced: number[] = []
  for (let i = 0; i < 10; i++) {
    await checkOk(persistent, tiny)
    await checkOk(oneshot, tiny)
    await checkOk(cold, tiny)
    await bareSpawn(['-'], tiny)
  }
  const ratiosPersist: number[] = []
  const ratiosOneshot: number[] = []
  const ratiosCold: number[] = []
  const ratiosSpaced: number[] = []
  for (let r = 0; r < rounds; r++) {
    const rp: number[] = []
    const ro: number[] = []
    const rb: number[] = []
    // Blocks per method within each round (a persistent driver measured
    // between two spawns would be measured cold); rounds interleave.
    // A persistent execution costs microseconds: a block of 10n (as in the
    // toolchain notes' 1000-run blocks) measures its steady state.
    for (let i = 0; i < n * 10; i++) rp.push(await time(() => checkOk(persistent, tiny)))
    for (let i = 0; i < n; i++) ro.push(await time(() => checkOk(oneshot, tiny)))
    const rc: number[] = []
    for (let i = 0; i < n; i++) rc.push(await time(() => checkOk(cold, tiny)))
    for (let i = 0; i < n; i++) rb.push(await time(() => bareSpawn(['-'], tiny)))
    // Executions with a pause between them (how a host usually calls): the
    // spare process is ready by the time the next one comes.
    const rs: number[] = []
    for (let i = 0; i < (quick ? 10 : 30); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      rs.push(await time(() => checkOk(oneshot, tiny)))
    }
    p.push(...rp)
    o.push(...ro)
    b.push(...rb)
    c.push(...rc)
    spaced.push(...rs)
    ratiosPersist.push(median(rb) / median(rp))
    ratiosOneshot.push(median(ro) / median(rb))
    ratiosCold.push(median(rc) / median(rb))
    ratiosSpaced.push(median(rs) / median(rb))
  }
  row(
    'tiny chunk: persistent vs spawn per exec',
    `${ms(median(p))} (p90 ${ms(p90(p))})`,
    `${ms(median(b))} (p90 ${ms(p90(b))})`,
    `${median(ratiosPersist).toFixed(1)}× faster (rounds ${Math.min(...ratiosPersist).toFixed(1)}–${Math.max(...ratiosPersist).toFixed(1)})`,
    '≥ 25×',
  )
  const range = (xs: number[]) =>
    `${median(xs).toFixed(2)}× (rounds ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`
  row(
    'tiny chunk: oneshot (prespawn, back to back) vs bare spawn',
    `${ms(median(o))} (p90 ${ms(p90(o))})`,
    ms(median(b)),
    range(ratiosOneshot),
    '≤ 1.3×',
  )
  row(
    'tiny chunk: oneshot (prespawn, 10 ms apart) vs bare spawn',
    `${ms(median(spaced))} (p90 ${ms(p90(spaced))})`,
    ms(median(b)),
    range(ratiosSpaced),
    '≤ 1.3×',
  )
  row(
    'tiny chunk: oneshot (prespawn: false, pipelined) vs bare spawn',
    `${ms(median(c))} (p90 ${ms(p90(c))})`,
    ms(median(b)),
    range(ratiosCold),
    '≤ 1.3×',
  )

  // 5: session round trip on the persistent VM.
  const session = await persistent.openSession()
  for (let i = 0; i < 50; i++) await session.sendInput('1')
  const rt: number[] = []
  for (let i = 0; i < (quick ? 300 : 1000); i++) rt.push(await time(() => session.sendInput('1 + 1')))
  await session.close()
  row(
    'session round trip (`1 + 1`)',
    `${ms(median(rt))} (p90 ${ms(p90(rt))})`,
    'original: 250.7 ms',
    '—',
    '≤ 2 ms median',
  )
  await persistent.stop()
  await oneshot.stop()
  await cold.stop()
}

// 3: pool of 2 vs one worker on CPU-bound chunks.
for (const softDeadline of [true, false]) {
  const config = { luaExecutable: LUA, softDeadline }
  const single = await registry.create('process', 'bench-single', config)
  const pool = await registry.create('process', 'bench-pool', { ...config, mode: 'pool', poolSize: 2 })
  const chunk = 'local x = 0 for i = 1, 3e6 do x = x + i % 7 end return x'
  const jobs = quick ? 8 : 16
  const batch = (vm: BaseLuaVM) => time(() => Promise.all(Array.from({ length: jobs }, () => checkOk(vm, chunk))))
  await batch(single)
  await batch(pool)
  const ratios: number[] = []
  const ts: number[] = []
  const tp: number[] = []
  for (let r = 0; r < (quick ? 2 : 4); r++) {
    const a = await batch(single)
    const b = await batch(pool)
    ts.push(a)
    tp.push(b)
    ratios.push(a / b)
  }
  row(
    `throughput, ${jobs} CPU-bound chunks: pool(2) vs single (softDeadline ${softDeadline})`,
    `${ms(median(tp))} per batch`,
    `${ms(median(ts))} per batch`,
    `${median(ratios).toFixed(2)}× (rounds ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
    '≥ 1.7×',
  )
  await single.stop()
  await pool.stop()
}

// 4: fib(30) through the backend vs `lua5.4 file.lua`.
{
  const dir = mkdtempSync(join(tmpdir(), 'luavm-bench-'))
  try {
    const fib = 'local function fib(n) if n < 2 then return n end return fib(n-1) + fib(n-2) end return fib(30)'
    const file = join(dir, 'fib.lua')
    writeFileSync(file, fib.replace('return fib(30)', 'print(fib(30))'))
    for (const softDeadline of [true, false]) {
      const vm = await registry.create('process', 'bench-fib', { luaExecutable: LUA, softDeadline })
      await checkOk(vm, fib)
      await bareSpawn([file])
      const ours: number[] = []
      const base: number[] = []
      const ratios: number[] = []
      for (let r = 0; r < (quick ? 3 : 7); r++) {
        const a = await time(() => checkOk(vm, fib))
        const b = await time(() => bareSpawn([file]))
        ours.push(a)
        base.push(b)
        ratios.push(a / b)
      }
      row(
        `fib(30): backend (persistent, softDeadline ${softDeadline}) vs \`lua5.4 fib.lua\``,
        ms(median(ours)),
        ms(median(base)),
        `${median(ratios).toFixed(2)}× (rounds ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
        '≤ 1.1×',
      )
      await vm.stop()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const { loadavg } = await import('node:os')
console.log(
  `\n### process backend (${LUA}, node ${process.version}, ${quick ? 'quick' : 'full'} run, load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')})\n`,
)
console.log('| measurement | ours | baseline | ratio | target |')
console.log('|---|---|---|---|---|')
for (const r of rows) console.log(`| ${r.join(' | ')} |`)
