import { describe, expect, it } from 'vitest'
import { ConfigManager } from '../src/config/config-manager.js'
import type { ConfigSchema } from '../src/config/schema.js'
import { ConfigError, LuaRuntimeError, PackageError, XapiError } from '../src/errors/index.js'
import { createLogger, type LogRecord } from '../src/logger/logger.js'
import { BackendRegistry } from '../src/registry/backend-registry.js'
import { isSecretName, redactFields, redactText } from '../src/util/redact.js'

describe('redactText', () => {
  it.each([
    ['https://root:hunter2@xcp.example/path', 'https://[redacted]@xcp.example/path'],
    ['ssh://deploy:s3cret@10.0.0.5:22', 'ssh://[redacted]@10.0.0.5:22'],
    ['git+https://ghp_TOKEN123@github.com/o/r.git', 'git+https://[redacted]@github.com/o/r.git'],
    ['https://u:p@ss@host/x', 'https://[redacted]@host/x'],
    [
      'fetch https://a:b@h1/m and https://c:d@h2/n failed',
      'fetch https://[redacted]@h1/m and https://[redacted]@h2/n failed',
    ],
    ['https://h/manifest?password=pw&x=1', 'https://h/manifest?password=[redacted]&x=1'],
    ['https://h/m?access_token=abc;api_key=k#frag', 'https://h/m?access_token=[redacted];api_key=[redacted]#frag'],
    ['"https://h/m?token=t"', '"https://h/m?token=[redacted]"'],
  ])('%s → %s', (input, output) => {
    expect(redactText(input)).toBe(output)
  })

  it('leaves text without credentials alone', () => {
    for (const text of [
      'https://xcp.example:443/path?page=2',
      'root@10.0.0.5 (an ssh target, not a URL)',
      'mail me at someone@example.org',
      'timeoutMs=30 a=b',
      'no url here',
    ]) {
      expect(redactText(text)).toBe(text)
    }
  })

  it('knows secret names', () => {
    for (const name of ['password', 'XCPNG_PASSWORD', 'passwd', 'api_key', 'privateKey', 'token', 'client_secret']) {
      expect(isSecretName(name), name).toBe(true)
    }
    for (const name of ['username', 'xapi_url', 'keys', 'timeoutMs']) expect(isSecretName(name), name).toBe(false)
  })

  it('redactFields hides secret-named fields and credentials in any string, deeply', () => {
    expect(
      redactFields({ password: 'pw', servers: ['https://u:p@rocks.example/'], nested: { url: 'ssh://a:b@h' } }),
    ).toEqual({
      password: '[redacted]',
      servers: ['https://[redacted]@rocks.example/'],
      nested: { url: 'ssh://[redacted]@h' },
    })
  })
})

describe('wherever a password is hidden, a URL credential is too', () => {
  it('errors: message, stack and details; XAPI params; never the Lua program text', () => {
    const e = new PackageError('cannot read https://bob:pw1@rocks.example/manifest', {
      details: { server: 'https://bob:pw1@rocks.example/', token: 'abc' },
    })
    expect(e.message).toBe('cannot read https://[redacted]@rocks.example/manifest')
    expect(e.stack).not.toContain('pw1')
    expect(JSON.stringify(e.toJSON())).not.toMatch(/pw1|abc/)
    const x = new XapiError('PROTOCOL_ERROR', ['xapi_url is not a URL: https://root:pw2@h x'])
    expect(JSON.stringify({ m: x.message, p: x.params, d: x.toJSON() })).not.toContain('pw2')
    expect(new ConfigError('xapi_url https://root:pw3@h').message).not.toContain('pw3')
    // What the Lua program raised is its own data, reported as it said it.
    expect(new LuaRuntimeError('https://u:p@h').message).toBe('https://u:p@h')
  })

  it('logs: message and fields', () => {
    const records: LogRecord[] = []
    const log = createLogger('t', { level: 'debug', sink: (r) => records.push(r) })
    log.info('connecting to https://root:pw4@xcp.example', { url: 'https://root:pw4@xcp.example', password: 'x' })
    expect(JSON.stringify(records)).not.toContain('pw4')
    expect(records[0]?.message).toBe('connecting to https://[redacted]@xcp.example')
  })

  it('config show and config validate', () => {
    const schema: ConfigSchema = {
      url: { type: 'string', description: 'endpoint', check: (v) => `cannot reach ${String(v)}` },
      servers: { type: 'string[]', description: 'rock servers' },
    }
    const registry = new BackendRegistry().register({
      type: 'demo',
      description: 'demo',
      capabilities: {
        sandboxed: true,
        persistentState: true,
        sessions: false,
        packages: false,
        networking: false,
        memoryLimit: false,
        hardTimeout: false,
        remote: false,
      },
      configSchema: schema,
      checkConfig: (c) => `url ${String(c.url)} is down`,
      detect: async () => ({ available: true }),
      load: async () => {
        throw new Error('not used')
      },
    })
    const cfg = new ConfigManager({
      env: {},
      explicit: { backends: { demo: { url: 'https://root:pw5@h/x?token=t5', servers: ['ssh://a:pw6@h'] } } },
    })
    const shown = JSON.stringify(cfg.redacted(registry))
    expect(shown).not.toMatch(/pw5|t5|pw6/)
    expect(shown).toContain('https://[redacted]@h/x?token=[redacted]')
    const problems = cfg.validate(registry)
    expect(problems.length).toBeGreaterThan(0)
    expect(JSON.stringify(problems)).not.toMatch(/pw5|t5/)
  })
})
