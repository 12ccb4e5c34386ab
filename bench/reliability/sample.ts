import fc from 'fast-check'
import { program, render } from '../../test/reliability/support/lua-gen.js'

const n = Number(process.argv[2] ?? 3)
for (const p of fc.sample(program, { seed: 42, numRuns: n })) {
  console.log('-----')
  console.log(render(p))
}
