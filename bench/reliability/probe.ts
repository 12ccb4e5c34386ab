import { localRegistry, stopWorkers } from '../../test/reliability/support/backends.js'

const registry = localRegistry()
const vms = [
  await registry.create('process', 'raw', { luaExecutable: 'lua5.4', sandbox: false }),
  await registry.create('process', 'sbx', { luaExecutable: 'lua5.4', sandbox: true }),
  await registry.create('wasm', 'w', {}),
  await registry.create('fengari', 'f', {}),
]
const probes = process.argv.slice(2).length
  ? process.argv.slice(2)
  : [
      'print(pcall(setmetatable, 1, {}))',
      'setmetatable(1, {})',
      'local ok, e = pcall(function() setmetatable(1, {}) end) print(e)',
      'local ok, e = pcall(function() setmetatable({}, 1) end) print(e)',
      'local ok, e = pcall(function() setmetatable(setmetatable({}, {__metatable = 1}), {}) end) print(e)',
      'local ok, e = pcall(function() pcall() end) print(e)',
      'local ok, e = pcall(function() xpcall(print) end) print(e)',
      'local ok, e = pcall(function() coroutine.create(1) end) print(e)',
      'local ok, e = pcall(function() coroutine.resume(1) end) print(e)',
      'local ok, e = pcall(function() coroutine.wrap(1) end) print(e)',
      'local ok, e = pcall(function() load(1) end) print(e)',
      'local ok, e = pcall(function() print(setmetatable({}, {__tostring = function() return 1 end})) end) print(e)',
      'local ok, e = pcall(function() collectgarbage("collect") end) print(e)',
      'local ok, e = pcall(function() string.rep() end) print(e)',
      'local ok, e = pcall(function() require(1) end) print(e)',
      'local ok, e = pcall(function() io.write({}) end) print(e)',
      'local ok, e = pcall(function() tostring() end) print(e)',
    ]
for (const code of probes) {
  console.log(`== ${code}`)
  for (const vm of vms) {
    const r = await vm.execute(code, { chunkName: 'probe', maxOutputBytes: 4096 })
    console.log(
      `${vm.id.padEnd(4)} ${r.status} ${JSON.stringify(r.stdout)} ${r.error ? JSON.stringify(r.error.message) : ''}`,
    )
  }
}
await Promise.all(vms.map((v) => v.stop()))
await stopWorkers()
