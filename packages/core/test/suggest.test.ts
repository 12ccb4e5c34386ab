import { describe, expect, it } from 'vitest'
import { ConfigManager } from '../src/config/config-manager.js'
import { closestMatch, didYouMean } from '../src/util/suggest.js'

describe('closestMatch', () => {
  it('finds a typo, a swap, a missing letter; nothing for a different word', () => {
    const names = ['run', 'repl', 'backends', 'config', 'pkg', 'env', 'xcpng']
    expect(closestMatch('rnu', names)).toBe('run')
    expect(closestMatch('backend', names)).toBe('backends')
    expect(closestMatch('confg', names)).toBe('config')
    expect(closestMatch('frobnicate', names)).toBeUndefined()
    expect(closestMatch('x', names)).toBeUndefined()
    expect(didYouMean('defaultBakend', ['defaultBackend'])).toBe(" (did you mean 'defaultBackend'?)")
    expect(didYouMean('zzz', ['defaultBackend'])).toBe('')
  })

  it('config errors suggest the key meant', () => {
    expect(() => new ConfigManager({ file: { defaultBakend: 'wasm' }, env: {} })).toThrow(
      "config: unknown key 'defaultBakend' (did you mean 'defaultBackend'?); known keys:",
    )
  })
})
