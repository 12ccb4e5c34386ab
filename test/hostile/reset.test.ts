import { createFengariVM, createWasmVM, type WasmLuaVM } from '@bioxen-luavm/backend-wasm'
import type { BaseLuaVM, ExecResult } from '@bioxen-luavm/core'
import { afterEach, describe, expect, it } from 'vitest'
import { HOSTILE_KINDS, type HostileKind, startVM } from './support/host-guard.js'

// reset() gives a VM indistinguishable from a new one (issue 13, point 6):
// tamper with everything reachable, reset, and compare a fingerprint of the
// VM with a fresh one's. The process backend has no reset() (each of its
// modes restarts or keeps the interpreter by configuration), so its kinds
// only check that.

/** What Lua can see of its VM: names, shapes and counts, never addresses. */
const FINGERPRINT = `
local out = {}
local function keys(t)
  local k = {}
  for n, v in next, t do k[#k + 1] = tostring(n) .. ":" .. type(v) end
  table.sort(k)
  return table.concat(k, ",")
end
out[#out + 1] = "G " .. keys(_G)
out[#out + 1] = "Gmt " .. tostring(getmetatable(_G) == nil)
for _, lib in ipairs({ "string", "table", "math", "os", "io", "coroutine", "utf8", "debug", "package", "host" }) do
  if type(_G[lib]) == "table" then out[#out + 1] = lib .. " " .. keys(_G[lib]) end
end
out[#out + 1] = "upper " .. ("abc"):upper() .. " " .. tostring(("x").evil)
out[#out + 1] = "smt " .. type(getmetatable(""))
local dmt = debug.getmetatable
local smt = dmt("")
out[#out + 1] = "smt.raw " .. keys(smt)
local idx = rawget(smt, "__index")
out[#out + 1] = "smt.index " .. keys(type(idx) == "table" and (dmt(idx) and dmt(idx).__index or idx) or {})
out[#out + 1] = "nil/number/bool/function mt " .. tostring(dmt(nil)) .. tostring(dmt(0)) .. tostring(dmt(true)) .. tostring(dmt(print))
local reg, n = debug.getregistry(), 0
for _ in next, reg do n = n + 1 end
out[#out + 1] = "registry " .. n .. " " .. tostring(rawget(reg, "evil"))
-- (fengari implements neither "isrunning" nor "stop")
out[#out + 1] = "gc " .. tostring(select(2, pcall(collectgarbage, "isrunning")))
out[#out + 1] = "loaded " .. keys(package.loaded)
out[#out + 1] = "mod " .. tostring(require("mod1").n)
local h = rawget(_G, "host")
if h then out[#out + 1] = "host " .. keys(h) .. " " .. tostring(h.add(1, 2)) end
return table.concat(out, "\\n")
`

/** Everything a chunk can change that could outlive it. */
const TAMPER = `
X, Y = 1, {}
_G.print = function() end
string.upper = function() return "tampered" end
table.insert = nil
os.time = function() return 0 end
local smt = debug.getmetatable("")
rawset(smt, "__index", setmetatable({ evil = 1 }, { __index = string }))
rawset(smt, "__add", function() return 42 end)
debug.setmetatable(nil, { __index = function() return "ghost" end })
debug.setmetatable(0, { __call = function() return "called" end })
debug.setmetatable(true, { __len = function() return 7 end })
debug.setmetatable(print, { __index = {} })
local reg = debug.getregistry()
reg.evil = function() return X end
reg[#reg + 1] = coroutine.create(function() while true do coroutine.yield(X) end end)
coroutine.resume(reg[#reg])
local h = rawget(_G, "host")
if h then h.add = function() return 99 end h.extra = true end
package.loaded.mod1.n = 41
package.loaded.stash = { env = _ENV, f = function() return _ENV end }
require("mod1").n = 40
setmetatable(_G, { __index = function() return "ghost" end })
pcall(collectgarbage, "stop")
_ENV.Z = true
`

function brief(r: ExecResult): string {
  return JSON.stringify({ status: r.status, stdout: r.stdout.slice(0, 300), values: r.values, error: r.error })
}

describe.each(HOSTILE_KINDS)('reset ($name)', (kind: HostileKind) => {
  const vms: BaseLuaVM[] = []
  afterEach(async () => {
    await Promise.all(vms.splice(0).map((vm) => vm.stop()))
  })

  if (kind.type === 'process') {
    it('has no reset(): state is kept or dropped by the mode, never scrubbed', async () => {
      const vm = await startVM(kind)
      vms.push(vm)
      expect('reset' in vm).toBe(false)
    })
    return
  }

  // Created directly: host functions are not registry config.
  const start = async (extra: Record<string, unknown> = {}): Promise<WasmLuaVM> => {
    const create = kind.type === 'wasm' ? createWasmVM : createFengariVM
    const vm = await create({
      ...kind.config,
      grants: ['debug', 'package', 'collectgarbage'],
      hostFunctions: { add: (a, b) => Number(a) + Number(b) },
      ...extra,
    })
    vms.push(vm)
    await vm.mount('mod1', 'return { n = 1 }')
    return vm
  }
  const fingerprint = async (vm: BaseLuaVM): Promise<string> => {
    const r = await vm.execute(FINGERPRINT, { echoReturnValues: false })
    expect(r.status, brief(r)).toBe('ok')
    return r.values[0] as string
  }

  for (const sandbox of [true, false]) {
    it(`after tampering with everything, reset() matches a fresh VM (sandbox: ${sandbox})`, async () => {
      // The registry's size is compared with the same VM before tampering:
      // it may differ by a slot between engines (the first engine of a thread
      // compiles the host's chunks, later ones load them).
      const withoutRegistry = (f: string) => f.replace(/^registry .*$/m, '')
      const fresh = withoutRegistry(await fingerprint(await start({ sandbox })))
      const vm = await start({ sandbox })
      const before = await fingerprint(vm)
      expect(withoutRegistry(before)).toBe(fresh)
      const t = await vm.execute(TAMPER, { echoReturnValues: false })
      expect(t.status, brief(t)).toBe('ok')
      expect(await fingerprint(vm), 'tampering shows before the reset').not.toBe(before)
      await vm.reset()
      const after = await fingerprint(vm)
      expect(after).toBe(before)
      expect(withoutRegistry(after)).toBe(fresh)
      // And again: a second tamper/reset cycle, with a module mounted in between.
      await vm.execute(TAMPER, { echoReturnValues: false })
      await vm.mount('mod2', 'return 2')
      await vm.reset()
      const r = await vm.execute('return require("mod2"), X, Z', { echoReturnValues: false })
      expect(r.values).toEqual([2, null, null])
    })
  }

  it('a reset in the middle of a memory-capped run history keeps the cap and frees what the code held', async () => {
    const vm = await start(kind.type === 'wasm' ? { memoryLimitBytes: 16 * 1024 * 1024 } : {})
    await vm.execute('HOLD = {} for i = 1, 50 do HOLD[i] = string.rep("h", 100000 + i) end', {
      echoReturnValues: false,
    })
    await vm.reset()
    const r = await vm.execute(
      'return HOLD == nil, not pcall(collectgarbage, "count") or collectgarbage("count") < 2048',
      {
        echoReturnValues: false,
      },
    )
    expect(r.values).toEqual([true, true])
    if (kind.type === 'wasm') {
      const bomb = await vm.execute('local t = {} for i = 1, 1e9 do t[i] = string.rep("m", 4096) .. i end')
      expect(bomb.status, brief(bomb)).toBe('memory')
    }
  })

  if (kind.type === 'wasm') {
    it("reset() puts the io grant's file system back as it was", async () => {
      const vm = await start({ grants: ['io', 'debug', 'package', 'collectgarbage'] })
      await vm.execute(
        'os.remove = nil local f = io.open("/tmp/kept", "w") f:write("x") KEEP = f io.open("/home/web_user/a", "w"):write("y")',
        { echoReturnValues: false },
      )
      await vm.reset()
      const r = await vm.execute('return io.open("/tmp/kept"), io.open("/home/web_user/a"), KEEP', {
        echoReturnValues: false,
      })
      expect(r.values).toEqual([null, null, null])
    })
  }
})
