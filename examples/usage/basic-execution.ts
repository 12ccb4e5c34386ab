/**
 * Basic execution — the original library's `LuaProcess.execute_string`,
 * done right, on two backends: `wasm` (Lua 5.4 in a WebAssembly sandbox,
 * nothing native needed) and `process` (the native `lua5.4`, alias `basic`).
 *
 * Shows: exact output (never trimmed), returned values (`return 2 + 2`
 * really gives 4), Lua errors as results with line and kind, `throwOnError`
 * for typed rejections, `executeFile`, and the limits — deadline, output
 * cap, memory cap — that Lua code cannot escape.
 *
 * Run (from the repository root, no build needed):
 *
 *   node scripts/run-ts.mjs examples/usage/basic-execution.ts
 *
 * The `process` part runs when a Lua interpreter is installed
 * (`apt-get install lua5.4`); otherwise it says why and is skipped.
 */
import { fileURLToPath } from 'node:url'
import { processBackend } from '@bioxen-luavm/backend-process'
import { wasmBackend } from '@bioxen-luavm/backend-wasm'
import { BackendRegistry, type BaseLuaVM, isLuaVMError } from '@bioxen-luavm/core'

const registry = new BackendRegistry().register(wasmBackend).register(processBackend)
const gcScript = fileURLToPath(new URL('../lua/gc_content.lua', import.meta.url))

/** A JSON.stringify replacer printing object keys in sorted order. */
function sortKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)))
}

/** Everything this example shows, on one VM; `tag` prefixes each line. */
async function tour(vm: BaseLuaVM, tag: string): Promise<void> {
  const say = (line: string) => console.log(`[${tag}] ${line}`)
  say(`started ${vm.type} VM '${vm.id}' running ${vm.luaVersion}`)

  // 1. Output is the exact bytes Lua wrote: the original .strip()ped it.
  const padded = await vm.execute('io.write("  padded  \\n\\n")')
  say(`exact output: ${JSON.stringify(padded.stdout)}`)

  // 2. Returned values land in `values` and are echoed like the Lua REPL.
  const four = await vm.execute('return 2 + 2')
  say(`return 2 + 2 -> stdout ${JSON.stringify(four.stdout)}, values ${JSON.stringify(four.values)}`)
  const many = await vm.execute('return "gc", 0.5, {bases = 10, gc = 5}, {1, 2, 3}', { echoReturnValues: false })
  // Lua tables have no key order: sort keys before printing, for stable output.
  say(`several values -> ${JSON.stringify(many.values, sortKeys)}`)

  // 3. A Lua error is a result, not an exception: what, where, which kind.
  const runtime = await vm.execute('local t = nil\nreturn t.x', { chunkName: 'demo.lua' })
  say(`runtime error -> status=${runtime.status} kind=${runtime.error?.kind} line=${runtime.error?.line}`)
  say(`  message: ${runtime.error?.message}`)
  const syntax = await vm.execute('x = = 1')
  say(`syntax error -> status=${syntax.status} kind=${syntax.error?.kind} line=${syntax.error?.line}`)

  // ... unless you ask for exceptions: typed, with a stable _tag and code.
  try {
    await vm.execute('error("boom")', { throwOnError: true })
  } catch (error) {
    if (!isLuaVMError(error)) throw error
    say(`throwOnError -> ${error._tag} (${error.code})`)
  }

  // 4. Files: errors name the file; the script runs unchanged on every backend.
  const file = await vm.executeFile(gcScript)
  say(`executeFile gc_content.lua -> ${file.stdout.trim().split('\n').at(-1)}`)

  // 5. Limits are guarantees. A deadline pcall cannot swallow ...
  const loop = await vm.execute('while true do pcall(function() while true do end end) end', { timeoutMs: 300 })
  say(`timeout: status=${loop.status}`)
  // ... and the VM keeps its state after a soft timeout.
  await vm.execute('kept = "still here"')
  say(`after the timeout: ${JSON.stringify((await vm.execute('return kept')).values)}`)

  // An output cap, cut to the byte.
  const flood = await vm.execute('print(("0123456789"):rep(100))', { maxOutputBytes: 10 })
  say(`output cap: status=${flood.status} stdout=${JSON.stringify(flood.stdout)} truncated=${flood.truncated}`)

  // A memory cap, on backends that enforce one.
  if (vm.capabilities.memoryLimit) {
    const hog = await vm.execute('local t = {} for i = 1, 1e8 do t[i] = ("x"):rep(64) .. i end', {
      memoryLimitBytes: 32 * 1024 * 1024,
    })
    say(`memory cap: status=${hog.status}`)
  } else {
    say('memory cap: not enforced by this backend')
  }
  say(`status: ${JSON.stringify(await vm.getStatus(), ['state', 'executions', 'restarts'])}`)
}

{
  // The in-process sandbox: the default for hosts, works everywhere Node does.
  await using vm = await registry.create('wasm', 'wasm-demo', { memoryLimitBytes: '64MiB' })
  await tour(vm, 'wasm')
}

const native = await processBackend.detect()
if (native.available) {
  // `basic` is the original library's name for the process backend. Pin the
  // interpreter: plain `lua` may be 5.1 on Debian once luarocks is installed.
  await using vm = await registry.create('basic', 'process-demo', { luaExecutable: 'lua5.4' })
  await tour(vm, 'process')
} else {
  console.log(`[process] skipped: ${native.reason}`)
}
console.log('done')
