// The playground: one persistent VM per backend, each in a Web Worker, so
// the page stays responsive while Lua runs and state carries across runs.
import { createFengariVM, createWasmVM, type WasmLuaVM } from '@bioxen-luavm/backend-wasm'
import type { ExecOptions, ExecResult } from '@bioxen-luavm/core'

type Backend = 'wasm' | 'fengari'

const EXAMPLES: Record<string, string> = {
  'GC content': `-- GC content of a DNA sequence, per window and overall
local dna = "ATGGCGTACGCTAGCTAGGCTAACGTTAGCCGATCGATCGGCTAGCTAGCATCG"

local function gc(seq)
  local n = select(2, seq:gsub("[GC]", ""))
  return n / #seq
end

for i = 1, #dna, 18 do
  local piece = dna:sub(i, i + 17)
  print(("%2d-%2d  %-18s  GC %5.1f%%"):format(i, i + #piece - 1, piece, gc(piece) * 100))
end
return gc(dna), #dna`,
  'State across runs': `-- Globals persist between runs until Reset
runs = (runs or 0) + 1
print("this VM has run this snippet " .. runs .. " time(s)")
return runs`,
  'Lua version': `return _VERSION, math.maxinteger`,
  'Runtime error': `local t = nil
return t.field -- indexing nil: status 'error' with the line`,
  'Infinite loop (timeout)': `-- Ends with status 'timeout' at the deadline; Stop ends it earlier
while true do end`,
  'Memory bomb (wasm)': `-- Ends with status 'memory' at the wasm heap cap
local t = {}
for i = 1, 1e9 do t[i] = ("x"):rep(1024) .. i end`,
  'Output flood': `for i = 1, 1e6 do print(i, ("="):rep(40)) end`,
}

const byId = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id)
  if (!el) throw new Error(`#${id} missing`)
  return el as T
}

const ui = {
  form: byId<HTMLFormElement>('controls'),
  backend: byId<HTMLSelectElement>('backend'),
  example: byId<HTMLSelectElement>('example'),
  timeout: byId<HTMLInputElement>('timeout'),
  memory: byId<HTMLInputElement>('memory'),
  maxOutput: byId<HTMLInputElement>('max-output'),
  run: byId<HTMLButtonElement>('run'),
  stop: byId<HTMLButtonElement>('stop'),
  reset: byId<HTMLButtonElement>('reset'),
  code: byId<HTMLTextAreaElement>('code'),
  status: byId<HTMLElement>('status'),
  duration: byId<HTMLElement>('duration'),
  engine: byId<HTMLElement>('engine'),
  stdout: byId<HTMLElement>('stdout'),
  stderr: byId<HTMLElement>('stderr'),
  values: byId<HTMLElement>('values'),
}

const vms: Partial<Record<Backend, Promise<WasmLuaVM>>> = {}
let running: AbortController | undefined
let ticker: ReturnType<typeof setInterval> | undefined

const backend = (): Backend => (ui.backend.value === 'fengari' ? 'fengari' : 'wasm')

function vmFor(b: Backend): Promise<WasmLuaVM> {
  let vm = vms[b]
  if (!vm) {
    vm = b === 'wasm' ? createWasmVM({ isolation: 'worker' }) : createFengariVM({ isolation: 'worker' })
    vm.catch(() => {
      if (vms[b] === vm) delete vms[b]
    })
    vms[b] = vm
  }
  return vm
}

function setStatus(status: string, text = status): void {
  ui.status.dataset.status = status
  ui.status.textContent = text
}

function positive(input: HTMLInputElement, fallback: number): number {
  const n = Number(input.value)
  return Number.isFinite(n) && n > 0 ? n : fallback
}

function setBusy(busy: boolean): void {
  ui.run.disabled = busy
  ui.reset.disabled = busy
  ui.stop.disabled = !busy
  ui.backend.disabled = busy
}

function show(r: ExecResult): void {
  setStatus(r.status, r.truncated ? `${r.status} (truncated)` : r.status)
  ui.duration.textContent = `${r.durationMs.toFixed(1)} ms`
  ui.duration.dataset.ms = String(r.durationMs)
  ui.engine.textContent = `${r.backend} · ${r.luaVersion}`
  ui.stdout.textContent = r.stdout
  const error = r.error
    ? `${r.error.kind} error${r.error.line ? ` (line ${r.error.line})` : ''}: ${r.error.message}`
    : ''
  ui.stderr.textContent = [r.stderr, error].filter(Boolean).join('\n')
  ui.values.textContent = r.values.map((v) => JSON.stringify(v)).join('\n')
}

function fail(what: string, error: unknown): void {
  setStatus('failed')
  ui.duration.textContent = '–'
  ui.stderr.textContent = `${what}: ${error instanceof Error ? error.message : String(error)}`
}

async function run(): Promise<void> {
  if (running) return
  const b = backend()
  const controller = new AbortController()
  running = controller
  setBusy(true)
  for (const el of [ui.stdout, ui.stderr, ui.values]) el.textContent = ''
  const started = performance.now()
  setStatus('running')
  ticker = setInterval(() => {
    ui.duration.textContent = `${Math.round(performance.now() - started)} ms…`
  }, 50)
  try {
    const options: ExecOptions = {
      timeoutMs: positive(ui.timeout, 2000),
      maxOutputBytes: Math.floor(positive(ui.maxOutput, 65536)),
      signal: controller.signal,
      echoReturnValues: false,
      chunkName: 'playground',
    }
    if (b === 'wasm') options.memoryLimitBytes = Math.floor(positive(ui.memory, 64) * 1024 * 1024)
    show(await (await vmFor(b)).execute(ui.code.value, options))
  } catch (error) {
    fail(`${b} run failed`, error)
  } finally {
    clearInterval(ticker)
    running = undefined
    setBusy(false)
  }
}

async function reset(): Promise<void> {
  const b = backend()
  const old = vms[b]
  delete vms[b]
  setBusy(true)
  ui.stop.disabled = true
  setStatus('running', 'resetting')
  try {
    await (await old?.catch(() => undefined))?.stop()
    const vm = await vmFor(b)
    setStatus('ready', `ready (new ${b} VM, ${vm.luaVersion})`)
    for (const el of [ui.stdout, ui.stderr, ui.values]) el.textContent = ''
    ui.duration.textContent = '–'
  } catch (error) {
    fail(`${b} VM failed to start`, error)
  } finally {
    setBusy(false)
  }
}

function syncBackend(): void {
  ui.memory.disabled = backend() !== 'wasm'
  ui.memory.title = ui.memory.disabled ? 'fengari has no heap cap' : 'Lua heap cap of the wasm VM'
}

for (const name of Object.keys(EXAMPLES)) ui.example.add(new Option(name, name))
ui.code.value = EXAMPLES['GC content'] ?? ''
ui.example.addEventListener('change', () => {
  ui.code.value = EXAMPLES[ui.example.value] ?? ''
})
ui.backend.addEventListener('change', syncBackend)
ui.form.addEventListener('submit', (event) => {
  event.preventDefault()
  void run()
})
ui.stop.addEventListener('click', () => running?.abort())
ui.reset.addEventListener('click', () => void reset())
ui.code.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault()
    if (!ui.run.disabled) void run()
  } else if (event.key === 'Tab' && !event.shiftKey) {
    event.preventDefault()
    ui.code.setRangeText('  ', ui.code.selectionStart, ui.code.selectionEnd, 'end')
  }
})
syncBackend()

// Start the wasm VM up front so the first Run does not wait for the worker.
vmFor('wasm').then(
  (vm) => {
    if (!running) setStatus('ready', `ready (${vm.luaVersion})`)
  },
  (error: unknown) => {
    if (!running) fail('wasm VM failed to start', error)
  },
)
setBusy(false)
document.body.dataset.ready = 'true'
