// Prints the one line CI reads — "N passed, N failed" — from vitest's JSON
// reports plus the extra steps, and exits non-zero on any failure (including
// a runner that crashed before writing its report).
import { existsSync, readFileSync } from 'node:fs'

const [vitestJson, distJson, extraPassed, extraFailed, ...codes] = process.argv.slice(2)
let passed = Number(extraPassed)
let failed = Number(extraFailed)
for (const file of [vitestJson, distJson]) {
  if (!existsSync(file)) {
    console.error(`no test report at ${file}: the runner did not finish`)
    failed += 1
    continue
  }
  const r = JSON.parse(readFileSync(file, 'utf8'))
  passed += r.numPassedTests
  failed += r.numFailedTests
  // Suites that failed to load have no tests to count: count each as a failure.
  failed += (r.testResults ?? []).filter((s) => s.status === 'failed' && (s.assertionResults ?? []).length === 0).length
}
const crashed = codes.some((c) => c !== '0')
if (crashed && failed === 0) failed = 1
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed > 0 || passed === 0 ? 1 : 0)
