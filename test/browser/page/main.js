// The e2e page: imports the package exactly as an app would and exposes a
// small API for the test to drive through page.evaluate().
import { createFengariVM, createWasmVM } from '@bioxen-luavm/backend-wasm'

let ticks = 0
setInterval(() => {
  ticks++
  document.querySelector('#ticks').textContent = String(ticks)
}, 10)
document.querySelector('#coi').textContent = String(globalThis.crossOriginIsolated === true)

const out = document.querySelector('#out')
const vms = {}

async function vm(kind) {
  vms[kind] ??=
    kind === 'wasm-worker'
      ? createWasmVM({
          isolation: 'worker',
          hardKillGraceMs: 25,
          hostFunctions: { greet: async (name) => `hello, ${name}` },
        })
      : kind === 'wasm-inline'
        ? createWasmVM({ isolation: 'inline' })
        : createFengariVM({ isolation: 'worker' })
  return vms[kind]
}

window.luavm = {
  ticks: () => ticks,
  async run(kind, code, options = {}) {
    const result = await (await vm(kind)).execute(code, options)
    out.textContent += `[${kind}] ${code}\n${result.stdout}→ ${result.status}${result.values.length ? ` ${JSON.stringify(result.values)}` : ''}\n`
    return result
  },
  async status(kind) {
    return (await vm(kind)).getStatus()
  },
}
document.querySelector('#status').textContent = 'ready'
window.luavmReady = true
