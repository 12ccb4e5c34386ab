// One page per bundler (Vite dev and build, esbuild, webpack 5): the
// package imported as an app would, both engines in their default (worker)
// isolation, driven by the test through page.evaluate().
import { createFengariVM, createWasmVM } from '@bioxen-luavm/backend-wasm'

const out = document.querySelector('#out')

window.luavm = {
  /** Runs `code` in a fresh VM of `engine` ("wasm" | "fengari") with `config`. */
  async run(engine, code, config = {}) {
    const create = engine === 'fengari' ? createFengariVM : createWasmVM
    let vm
    try {
      vm = await create({ isolation: 'worker', ...config })
      const r = await vm.execute(code, { onStdout: (text) => out.append(text) })
      return { status: r.status, stdout: r.stdout, values: r.values, error: r.error?.message }
    } catch (error) {
      // String(error): what a user's console shows, minified or not.
      return { status: 'thrown', error: String(error) }
    } finally {
      await vm?.stop()
    }
  },
}
window.luavmReady = true
