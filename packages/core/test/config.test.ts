import { describe, expect, it } from 'vitest'
import { ConfigManager } from '../src/config/config-manager.js'
import { type ConfigSchema, coerceField, validateSection } from '../src/config/schema.js'
import { parseSize } from '../src/config/size.js'
import { ConfigError } from '../src/errors/index.js'
import type { BackendDescriptor } from '../src/registry/backend-descriptor.js'
import { BackendRegistry } from '../src/registry/backend-registry.js'

const xcpngSchema: ConfigSchema = {
  xapi_url: { type: 'string', description: 'XAPI URL', required: true, pattern: /^https?:\/\// },
  username: { type: 'string', description: 'XAPI user', default: 'root' },
  password: { type: 'string', description: 'XAPI password', secret: true, env: ['XCPNG_PASSWORD'], min: 0 },
  pool_uuid: { type: 'string', description: 'pool' },
  template_name: { type: 'string', description: 'template' },
  vm_name_prefix: { type: 'string', description: 'prefix' },
  network_uuid: { type: 'string', description: 'network' },
  storage_repository: { type: 'string', description: 'SR' },
  ssh_user: { type: 'string', description: 'ssh user' },
  ssh_key_path: { type: 'string', description: 'ssh key' },
  vm_memory: { type: 'size', description: 'guest memory' },
  vm_vcpus: { type: 'integer', description: 'vCPUs', min: 1, max: 64 },
  pin: { type: 'integer', description: 'a numeric secret', secret: true, min: 1000 },
}

const processSchema: ConfigSchema = {
  interpreter: { type: 'string', description: 'lua binary', default: 'lua5.4' },
  poolSize: { type: 'integer', description: 'pool size', min: 1, default: 1 },
  sandbox: { type: 'boolean', description: 'sandbox', default: true },
}

/** A registry holding one do-nothing backend with this config schema. */
function registryWith(type: string, configSchema: ConfigSchema): BackendRegistry {
  return new BackendRegistry().register({
    type,
    description: type,
    capabilities: {} as BackendDescriptor['capabilities'],
    configSchema,
    detect: async () => ({ available: true }),
    load: async () => ({ createVM: () => undefined as never }),
  })
}

// The original library's xcpng_config.json, as written by its users.
const originalFlatFile = {
  xapi_url: 'https://xcp.example:443',
  username: 'root',
  password: 'hunter2-secret',
  pool_uuid: 'pool-1',
  template_name: 'debian-12',
  vm_name_prefix: 'bioxen-',
  network_uuid: 'net-1',
  storage_repository: 'Local storage',
  ssh_user: 'bioxen',
  ssh_key_path: '/home/me/.ssh/id_ed25519',
  vm_memory: '2GB',
  vm_vcpus: 2,
}

describe('ConfigManager sources', () => {
  it('merges file < env < explicit, key by key', () => {
    const cfg = new ConfigManager({
      file: { backends: { process: { interpreter: 'lua5.1', poolSize: 2 } }, defaultBackend: 'wasm' },
      env: { LUAVM_PROCESS_POOLSIZE: '3', LUAVM_BACKEND: 'fengari' },
      explicit: { backends: { process: { poolSize: 4 } } },
    })
    expect(cfg.backend('process', processSchema)).toEqual({ interpreter: 'lua5.1', poolSize: 4, sandbox: true })
    expect(cfg.defaultBackend).toBe('fengari')

    const envWins = new ConfigManager({
      file: { backends: { process: { poolSize: 2 } } },
      env: { LUAVM_PROCESS_POOLSIZE: '3' },
    })
    expect(envWins.backend('process', processSchema).poolSize).toBe(3)
    expect(new ConfigManager({ file: { defaultBackend: 'wasm' }, env: {} }).defaultBackend).toBe('wasm')
    expect(new ConfigManager({ env: {} }).defaultBackend).toBe('auto')
  })

  it('merges limits from every source and rejects bad env limits naming the variable', () => {
    const cfg = new ConfigManager({
      file: { limits: { timeoutMs: 1000, maxOutputBytes: 10 } },
      env: { LUAVM_TIMEOUT_MS: '2000' },
      explicit: { limits: { maxOutputBytes: 20 } },
    })
    expect(cfg.limits).toEqual({ timeoutMs: 2000, maxOutputBytes: 20 })
    expect(() => new ConfigManager({ env: { LUAVM_TIMEOUT_MS: 'soon' } }).limits).toThrow(/LUAVM_TIMEOUT_MS/)
  })

  it('reads the original flat xcpng_config.json unchanged as the xcpng section', () => {
    const cfg = new ConfigManager({ file: originalFlatFile, fileName: 'xcpng_config.json', env: {} })
    const section = cfg.backend('xcpng', xcpngSchema)
    expect(section).toMatchObject({
      xapi_url: 'https://xcp.example:443',
      username: 'root',
      password: 'hunter2-secret',
      vm_memory: 2 * 1024 ** 3,
      vm_vcpus: 2,
      ssh_key_path: '/home/me/.ssh/id_ed25519',
    })
  })

  it('schema env aliases set keys (e.g. XCPNG_PASSWORD)', () => {
    const cfg = new ConfigManager({
      file: { backends: { xcpng: { xapi_url: 'https://x' } } },
      env: { XCPNG_PASSWORD: 'from-env' },
    })
    expect(cfg.backend('xcpng', xcpngSchema).password).toBe('from-env')
  })

  it('plugins merge without duplicates, file first', () => {
    const cfg = new ConfigManager({
      file: { plugins: ['a', 'b'] },
      env: { LUAVM_PLUGINS: 'b, c' },
      explicit: { plugins: ['d'] },
    })
    expect(cfg.plugins).toEqual(['a', 'b', 'c', 'd'])
  })

  it('fromFile reads through the given reader and names the file on errors', async () => {
    const cfg = await ConfigManager.fromFile(
      '/etc/luavm.json',
      async () => JSON.stringify({ defaultBackend: 'wasm' }),
      {
        env: {},
      },
    )
    expect(cfg.defaultBackend).toBe('wasm')
    await expect(ConfigManager.fromFile('/etc/bad.json', async () => '{nope', { env: {} })).rejects.toThrow(
      /'\/etc\/bad.json' is not valid JSON/,
    )
    await expect(
      ConfigManager.fromFile('/etc/missing.json', async () => {
        throw new Error('ENOENT')
      }),
    ).rejects.toThrow(ConfigError)
  })
})

describe('ConfigManager validation', () => {
  it('names the bad key and where it came from', () => {
    const fromFile = new ConfigManager({
      file: { backends: { process: { poolSize: 0 } } },
      fileName: 'luavm.json',
      env: {},
    })
    expect(() => fromFile.backend('process', processSchema)).toThrow(
      /backends\.process\.poolSize \(from file luavm\.json\): must be at least 1/,
    )
    const fromEnv = new ConfigManager({ env: { LUAVM_PROCESS_POOLSIZE: 'many' } })
    expect(() => fromEnv.backend('process', processSchema)).toThrow(
      /backends\.process\.poolSize \(from environment variable LUAVM_PROCESS_POOLSIZE\): expected a number/,
    )
    const fromCode = new ConfigManager({ env: {}, explicit: { backends: { process: { sandbox: 'maybe' } } } })
    expect(() => fromCode.backend('process', processSchema)).toThrow(
      /sandbox \(from explicit config\): expected true or false/,
    )
  })

  it('reports unknown keys and missing required keys together', () => {
    const cfg = new ConfigManager({ env: {}, explicit: { backends: { xcpng: { colour: 'red' } } } })
    const error = (() => {
      try {
        cfg.backend('xcpng', xcpngSchema)
      } catch (e) {
        return e as ConfigError
      }
    })()
    expect(error).toBeInstanceOf(ConfigError)
    const problems = error?.details.problems as string[]
    expect(problems.some((p) => p.includes('backends.xcpng.colour: unknown key'))).toBe(true)
    expect(problems.some((p) => p.includes('backends.xcpng.xapi_url') && p.includes('required'))).toBe(true)
  })

  it('rejects unknown top-level keys and malformed files', () => {
    expect(() => new ConfigManager({ file: { backend: 'wasm' }, fileName: 'c.json' })).toThrow(
      /c\.json.*unknown key 'backend'/,
    )
    expect(() => new ConfigManager({ file: [1, 2] })).toThrow(/expected a JSON object/)
    expect(() => new ConfigManager({ file: { plugins: 'a' } })).toThrow(/plugins/)
  })

  it('validate() collects problems across backends', () => {
    const registry = registryWith('process', processSchema)
    const cfg = new ConfigManager({ env: {}, explicit: { backends: { process: { poolSize: -1 }, ghost: {} } } })
    const problems = cfg.validate(registry)
    expect(problems).toHaveLength(2)
    expect(problems.join('\n')).toMatch(/poolSize/)
    expect(problems.join('\n')).toMatch(/ghost.*no backend/)
  })

  it('validate() and redacted() see backends configured only by environment variables', () => {
    const registry = registryWith('process', processSchema)
    const cfg = new ConfigManager({ env: { LUAVM_PROCESS_POOLSIZE: '-3' } })
    expect(cfg.validate(registry)).toEqual([expect.stringMatching(/poolSize.*LUAVM_PROCESS_POOLSIZE/)])
    expect(cfg.redacted(registry).backends).toEqual({ process: { poolSize: '-3' } })
    expect(new ConfigManager({ env: {} }).validate(registry)).toEqual([])
  })
})

describe('ConfigManager secrets', () => {
  it('redacted() and toJSON() hide secrets, including the flat file password', () => {
    const cfg = new ConfigManager({ file: originalFlatFile, env: {} })
    const printed = JSON.stringify(cfg)
    expect(printed).not.toContain('hunter2-secret')
    expect(printed).toContain('[redacted]')
    expect(printed).toContain('https://xcp.example:443')
    const registry = registryWith('xcpng', xcpngSchema)
    const withPin = new ConfigManager({
      env: {},
      explicit: { backends: { xcpng: { xapi_url: 'https://x', pin: 424242 } } },
    })
    const redacted = JSON.stringify(withPin.redacted(registry))
    expect(redacted).not.toContain('424242')
  })

  it('never puts a bad secret value into an error message', () => {
    const cfg = new ConfigManager({
      env: {},
      explicit: {
        backends: { xcpng: { xapi_url: 'https://x', password: ['s3cr3t-value'], pin: 'not-a-number-s3cr3t' } },
      },
    })
    let message = ''
    try {
      cfg.backend('xcpng', xcpngSchema)
    } catch (e) {
      message = `${(e as Error).message} ${JSON.stringify((e as ConfigError).toJSON())}`
    }
    expect(message).toContain('backends.xcpng.password')
    expect(message).toContain('secret and not shown')
    expect(message).not.toContain('s3cr3t')
  })

  it('a secret failing a range check is not shown either', () => {
    const cfg = new ConfigManager({ env: {}, explicit: { backends: { xcpng: { xapi_url: 'https://x', pin: 12 } } } })
    expect(() => cfg.backend('xcpng', xcpngSchema)).toThrow(/pin.*secret and not shown/)
    try {
      cfg.backend('xcpng', xcpngSchema)
    } catch (e) {
      expect((e as Error).message).not.toMatch(/\b12\b/)
    }
  })
})

describe('schema helpers', () => {
  it('parses sizes in binary units', () => {
    expect(parseSize('2GB')).toBe(2 * 1024 ** 3)
    expect(parseSize('512 MiB')).toBe(512 * 1024 ** 2)
    expect(parseSize('64k')).toBe(64 * 1024)
    expect(parseSize(100)).toBe(100)
    expect(parseSize('lots')).toBeUndefined()
    expect(parseSize(-1)).toBeUndefined()
  })

  it('coerces env strings to each field type', () => {
    expect(coerceField({ type: 'boolean', description: '' }, 'yes').value).toBe(true)
    expect(coerceField({ type: 'boolean', description: '' }, 'off').value).toBe(false)
    expect(coerceField({ type: 'string[]', description: '' }, 'a, b').value).toEqual(['a', 'b'])
    expect(coerceField({ type: 'integer', description: '' }, '1.5').problem).toMatch(/integer/)
    expect(coerceField({ type: 'number', description: '' }, '').problem).toMatch(/number/)
  })

  it('validateSection checks enums and patterns', () => {
    const schema: ConfigSchema = {
      mode: { type: 'string', description: 'mode', enum: ['a', 'b'] },
      url: { type: 'string', description: 'an http URL', pattern: /^http/ },
    }
    expect(() => validateSection(schema, { mode: 'c' }, 'x')).toThrow(/x\.mode: must be one of a, b/)
    expect(() => validateSection(schema, { url: 'ftp://' }, 'x')).toThrow(/x\.url: does not look right/)
    expect(validateSection(schema, { mode: 'a', url: 'http://h' }, 'x')).toEqual({ mode: 'a', url: 'http://h' })
  })
})
