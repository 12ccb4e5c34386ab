import { BackendRegistry } from '../../core/src/index.ts'
import { processBackend } from '/work/main/packages/backend-process/src/index.ts'
const reg = new BackendRegistry().register(processBackend)
console.log(JSON.stringify(await reg.detect(), null, 1).slice(0, 900))
for (const mode of ['persistent', 'oneshot', 'pool'] as const) {
  const vm = await reg.create('basic', 'vm-' + mode, { mode, luaExecutable: 'lua5.4' })
  const r = await vm.execute('print("  hi  ") x = (x or 0) + 1 return x, 2+2')
  const r2 = await vm.execute('x = (x or 0) + 1 return x')
  console.log(mode, JSON.stringify(r), r2.values)
  const s = await vm.openSession()
  for (const line of ['1 + 1', 'y = 5', '= y', 'function f(n)', '  return n * 2', 'end', 'f(21)', 'error("e")', 'y']) {
    const rep = await s.sendInput(line)
    console.log('  >', line, '→', rep.status, JSON.stringify(rep.output))
  }
  let t = performance.now(); for (let i = 0; i < 500; i++) await s.sendInput('1'); console.log('  session rt µs', ((performance.now() - t) / 500 * 1000).toFixed(0))
  await s.sendInput('os.exit(0)').then((r) => console.log('  exit →', r.status), (e) => console.log('  exit rejected', e.message))
  await s.sendInput('1').then((r) => console.log('  after exit →', r.status), (e) => console.log('  after exit rejected:', e._tag, e.message))
  console.log(' ', JSON.stringify(await vm.getStatus()).slice(0, 400))
  await vm.stop()
}
