import { BackendRegistry, ConfigError, ConfigManager, validateSection } from '@bioxen-luavm/core'
import { afterEach, describe, expect, it } from 'vitest'
import { resolveConfig } from '../src/config.js'
import { xcpngBackend, xcpngConfigSchema } from '../src/index.js'

// The original library's xcpng_config.json, verbatim keys.
const ORIGINAL = {
  xapi_url: 'https://xcp.example:443/',
  username: 'root',
  password: 'hunter2-very-secret',
  pool_uuid: '8d8e7c3f-0b8e-4d6a-9a51-0c7c5b0f4e21',
  template_name: 'lua-bio-template',
  vm_name_prefix: 'bioxen',
  network_uuid: 'a1b2c3d4-0000-4000-8000-000000000001',
  storage_repository: 'Local storage',
  ssh_user: 'bioxen',
  ssh_key_path: '~/.ssh/id_ed25519',
  vm_memory: '2GB',
  vm_vcpus: 2,
}

describe('config schema', () => {
  it('keeps every key of the original xcpng_config.json unchanged', () => {
    for (const key of Object.keys(ORIGINAL)) expect(xcpngConfigSchema).toHaveProperty(key)
    expect(xcpngConfigSchema.password?.secret).toBe(true)
    expect(xcpngConfigSchema.ssh_private_key?.secret).toBe(true)
    expect(xcpngConfigSchema.ssh_key_passphrase?.secret).toBe(true)
  })

  it('reads the original flat file as the xcpng section, sizes included', () => {
    const manager = new ConfigManager({ file: ORIGINAL, fileName: 'xcpng_config.json', env: {} })
    const section = manager.backend('xcpng', xcpngConfigSchema)
    expect(section.vm_memory).toBe(2 * 1024 ** 3)
    const cfg = resolveConfig(section)
    expect(cfg).toMatchObject({
      templateName: 'lua-bio-template',
      vmVcpus: 2,
      sshPort: 22,
      luaExecutable: 'lua5.4',
      insecure: false,
    })
  })

  it('takes secrets and endpoints from the environment', () => {
    const manager = new ConfigManager({
      file: { ...ORIGINAL, password: undefined },
      env: { XCPNG_PASSWORD: 'from-env', XAPI_URL: 'https://other.example/', XAPI_FINGERPRINT: 'aa,bb' },
    })
    const section = manager.backend('xcpng', xcpngConfigSchema)
    expect(section).toMatchObject({
      password: 'from-env',
      xapi_url: 'https://other.example/',
      fingerprint: ['aa', 'bb'],
    })
  })

  it('never prints the password or a private key', () => {
    const registry = new BackendRegistry().register(xcpngBackend)
    const manager = new ConfigManager({
      file: { ...ORIGINAL, ssh_private_key: '-----BEGIN KEY-----\nsecretbody' },
      env: {},
    })
    const printed = JSON.stringify(manager.redacted(registry))
    expect(printed).not.toContain('hunter2')
    expect(printed).not.toContain('secretbody')
    try {
      validateSection(xcpngConfigSchema, { ...ORIGINAL, password: 12345 }, 'backends.xcpng')
      expect.unreachable()
    } catch (error) {
      expect((error as Error).message).not.toContain('12345')
    }
  })

  it.each([
    [{ template_name: undefined }, /template_name .* or attach_vm/],
    [{ ssh_private_key: 'x' }, /not both/],
    [{ insecure: true, fingerprint: ['aa'] }, /contradicts/],
  ])('cross-key rules: %j', (patch, message) => {
    const section = validateSection(xcpngConfigSchema, { ...ORIGINAL, ...patch }, 'backends.xcpng')
    expect(() => resolveConfig(section)).toThrow(message)
  })

  it('validates types with the key named', () => {
    expect(() => validateSection(xcpngConfigSchema, { ...ORIGINAL, vm_vcpus: 0 }, 'backends.xcpng')).toThrow(/vm_vcpus/)
    expect(() =>
      validateSection(xcpngConfigSchema, { ...ORIGINAL, xapi_url: 'xcp.example' }, 'backends.xcpng'),
    ).toThrow(ConfigError)
    expect(() =>
      validateSection(xcpngConfigSchema, { ...ORIGINAL, lua_executable: 'lua; id' }, 'backends.xcpng'),
    ).toThrow(/lua_executable/)
  })
})

describe('descriptor', () => {
  const saved = { ...process.env }
  afterEach(() => {
    process.env = { ...saved }
  })

  it('is plain data with the xcpng type and remote, hard-timeout capabilities', () => {
    expect(xcpngBackend.type).toBe('xcpng')
    expect(xcpngBackend.capabilities).toMatchObject({ remote: true, hardTimeout: true, persistentState: true })
  })

  it('says what to configure when nothing is, without contacting anything', async () => {
    delete process.env.XAPI_URL
    delete process.env.LUAVM_XCPNG_XAPI_URL
    const found = await xcpngBackend.detect()
    expect(found.available).toBe(false)
    expect(found.reason).toMatch(/configure xapi_url/)
  })

  it('reports configured when the environment names an endpoint', async () => {
    process.env.XAPI_URL = 'https://xcp.example/'
    expect((await xcpngBackend.detect()).available).toBe(true)
  })

  it('loads its implementation lazily', async () => {
    const impl = await xcpngBackend.load()
    expect(typeof impl.createVM).toBe('function')
  })
})
