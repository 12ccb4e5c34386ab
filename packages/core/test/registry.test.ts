import { describe, expect, it } from 'vitest'
import { BaseLuaVM, type ResolvedExecOptions, type VMInit } from '../src/contract/base-vm.js'
import type { BackendCapabilities, ExecResult } from '../src/contract/types.js'
import {
  BackendNotFoundError,
  BackendUnavailableError,
  ConfigError,
  InvalidArgumentError,
} from '../src/errors/index.js'
import type { BackendDescriptor, DetectResult } from '../src/registry/backend-descriptor.js'
import { AUTO_ORDER, BackendRegistry } from '../src/registry/backend-registry.js'

const caps: BackendCapabilities = {
  sandboxed: true,
  persistentState: true,
  sessions: false,
  packages: false,
  networking: false,
  memoryLimit: false,
  hardTimeout: false,
  remote: false,
}

class EchoVM extends BaseLuaVM {
  readonly capabilities = caps
  readonly init: VMInit<unknown>
  constructor(init: VMInit<unknown>) {
    super(init)
    this.init = init
  }
  protected async doStart(): Promise<void> {}
  protected async doStop(): Promise<void> {}
  protected async runCode(code: string, _o: ResolvedExecOptions): Promise<ExecResult> {
    return this.result({ status: 'ok', stdout: code })
  }
}

interface FakeOptions {
  aliases?: string[]
  detect?: () => Promise<DetectResult>
  load?: () => Promise<{ createVM(init: VMInit<never>): BaseLuaVM }>
  schema?: BackendDescriptor['configSchema']
}

/** A descriptor that counts how often it was loaded. */
function fake(type: string, options: FakeOptions = {}): BackendDescriptor & { loads: number } {
  const d = {
    type,
    description: `fake ${type}`,
    capabilities: caps,
    loads: 0,
    ...(options.aliases ? { aliases: options.aliases } : {}),
    ...(options.schema ? { configSchema: options.schema } : {}),
    detect: options.detect ?? (async () => ({ available: true, version: 'Lua 5.4' })),
    async load() {
      d.loads++
      if (options.load) return options.load()
      return { createVM: (init: VMInit<never>) => new EchoVM(init) }
    },
  }
  return d
}

const unavailable = (reason: string) => async (): Promise<DetectResult> => ({ available: false, reason })

describe('BackendRegistry registration', () => {
  it('registers, lists, gets by type and alias, and unregisters', () => {
    const r = new BackendRegistry()
    r.register(fake('process', { aliases: ['basic'] })).register(fake('wasm'))
    expect(r.types()).toEqual(['process', 'wasm'])
    expect(r.get('basic')?.type).toBe('process')
    expect(r.has('basic')).toBe(true)
    expect(r.list().map((d) => d.type)).toEqual(['process', 'wasm'])
    expect(r.unregister('basic')).toBe(true)
    expect(r.has('process')).toBe(false)
    expect(r.has('basic')).toBe(false)
    expect(r.unregister('process')).toBe(false)
  })

  it('refuses a taken type or alias unless replace is set', () => {
    const r = new BackendRegistry()
    r.register(fake('process', { aliases: ['basic'] }))
    expect(() => r.register(fake('process'))).toThrow(InvalidArgumentError)
    expect(() => r.register(fake('other', { aliases: ['basic'] }))).toThrow(/'basic' is already registered/)
    const replacement = fake('process', { aliases: ['native'] })
    r.register(replacement, { replace: true })
    expect(r.get('process')).toBe(replacement)
    expect(r.has('basic')).toBe(false)
    expect(r.get('native')).toBe(replacement)
  })

  it('replacing through an alias removes the old owner', () => {
    const r = new BackendRegistry()
    r.register(fake('process', { aliases: ['basic'] }))
    r.register(fake('native', { aliases: ['basic'] }), { replace: true })
    expect(r.has('process')).toBe(false)
    expect(r.get('basic')?.type).toBe('native')
  })

  it('validates descriptors', () => {
    const r = new BackendRegistry()
    expect(() => r.register(fake('Bad Type'))).toThrow(InvalidArgumentError)
    expect(() => r.register(fake('auto'))).toThrow(/not 'auto'/)
    expect(() => r.register(fake('ok', { aliases: ['auto'] }))).toThrow(InvalidArgumentError)
    expect(() => r.register({ ...fake('nocaps'), capabilities: undefined } as unknown as BackendDescriptor)).toThrow(
      /capabilities/,
    )
    expect(() => r.register({ ...fake('noload'), load: undefined } as unknown as BackendDescriptor)).toThrow(/load\(\)/)
  })
})

describe('BackendRegistry resolution', () => {
  it('unknown types fail with BackendNotFoundError listing the registered ones', async () => {
    const r = new BackendRegistry()
    r.register(fake('process', { aliases: ['basic'] })).register(fake('wasm'))
    const error = await r.resolveType('nope').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendNotFoundError)
    expect((error as Error).message).toContain("'nope'")
    expect((error as Error).message).toContain('process (basic)')
    expect((error as Error).message).toContain('wasm')
    await expect(r.create('nope', 'x')).rejects.toThrow(BackendNotFoundError)
  })

  it('auto tries process, then wasm, then fengari', async () => {
    expect(AUTO_ORDER).toEqual(['process', 'wasm', 'fengari'])
    const r = new BackendRegistry()
    // Registration order is deliberately not the auto order.
    r.register(fake('fengari')).register(fake('wasm')).register(fake('process'))
    expect(await r.resolveType('auto')).toBe('process')

    const r2 = new BackendRegistry()
    r2.register(fake('fengari'))
      .register(fake('wasm'))
      .register(fake('process', { detect: unavailable('no lua') }))
    expect(await r2.resolveType('auto')).toBe('wasm')

    const r3 = new BackendRegistry()
    r3.register(fake('fengari'))
      .register(
        fake('wasm', {
          detect: async () => {
            throw new Error('detect exploded')
          },
        }),
      )
      .register(fake('process', { detect: unavailable('no lua') }))
    expect(await r3.resolveType('auto')).toBe('fengari')
  })

  it('auto with nothing usable explains every reason', async () => {
    const r = new BackendRegistry()
    r.register(fake('process', { detect: unavailable('no lua found on PATH') }))
    r.register(
      fake('wasm', {
        detect: async () => {
          throw new Error('no WebAssembly')
        },
      }),
    )
    const error = await r.resolveType('auto').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendUnavailableError)
    expect((error as Error).message).toContain('process: no lua found on PATH')
    expect((error as Error).message).toContain('wasm: detection failed: no WebAssembly')
    const empty = await new BackendRegistry().resolveType('auto').catch((e: unknown) => e)
    expect(empty).toBeInstanceOf(BackendUnavailableError)
    expect((empty as Error).message).toContain('(none)')
  })

  it('detect never rejects and reports each backend', async () => {
    const r = new BackendRegistry()
    r.register(fake('process', { detect: unavailable('missing') }))
    r.register(
      fake('wasm', {
        detect: async () => {
          throw new Error('boom')
        },
      }),
    )
    r.register(fake('fengari'))
    const rows = await r.detect()
    expect(rows.map((x) => [x.type, x.available])).toEqual([
      ['process', false],
      ['wasm', false],
      ['fengari', true],
    ])
    expect(rows[1]?.reason).toContain('boom')
  })
})

describe('BackendRegistry create', () => {
  it('loads lazily: registering and detecting never load; create loads once', async () => {
    const r = new BackendRegistry()
    const d = fake('wasm')
    r.register(d)
    await r.detect()
    await r.resolveType('auto')
    expect(d.loads).toBe(0)
    const a = await r.create('wasm', 'a')
    const b = await r.create('wasm', 'b')
    expect(d.loads).toBe(1)
    expect(a.state).toBe('running')
    expect(a.type).toBe('wasm')
    await a.stop()
    await b.stop()
  })

  it('create through an alias builds the real type; autoStart false leaves it created', async () => {
    const r = new BackendRegistry()
    r.register(fake('process', { aliases: ['basic'] }))
    const vm = await r.create('basic', 'v', {}, { autoStart: false })
    expect(vm.type).toBe('process')
    expect(vm.state).toBe('created')
  })

  it('a failing load becomes BackendUnavailableError and is retried next time', async () => {
    const r = new BackendRegistry()
    let fail = true
    const d = fake('wasm', {
      load: async () => {
        if (fail) throw new Error('module not installed')
        return { createVM: (init) => new EchoVM(init) }
      },
    })
    r.register(d)
    const error = await r.create('wasm', 'a').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendUnavailableError)
    expect((error as Error).message).toContain('module not installed')
    fail = false
    const vm = await r.create('wasm', 'b')
    expect(d.loads).toBe(2)
    await vm.stop()
  })

  it('an implementation without createVM is BackendUnavailableError', async () => {
    const r = new BackendRegistry()
    r.register(fake('wasm', { load: async () => ({}) as never }))
    await expect(r.create('wasm', 'a')).rejects.toThrow(/no createVM/)
  })

  it('validates config against the schema before building the VM', async () => {
    const r = new BackendRegistry()
    r.register(
      fake('process', {
        schema: {
          interpreter: { type: 'string', description: 'the lua binary', default: 'lua5.4' },
          poolSize: { type: 'integer', description: 'pool size', min: 1 },
        },
      }),
    )
    const vm = (await r.create('process', 'a', { poolSize: '2' })) as EchoVM
    expect(vm.init.config).toEqual({ interpreter: 'lua5.4', poolSize: 2 })
    await vm.stop()
    await expect(r.create('process', 'b', { poolSize: 0 })).rejects.toThrow(/backends\.process\.poolSize/)
    await expect(r.create('process', 'c', { colour: 'red' })).rejects.toThrow(ConfigError)
  })

  it('checkConfig rules spanning keys: create refuses before loading, ConfigManager.validate reports', async () => {
    const d = Object.assign(
      fake('pair', {
        schema: {
          mode: { type: 'string', description: 'mode', enum: ['a', 'b'], default: 'a' },
          fast: { type: 'boolean', description: 'fast', default: false },
        },
      }),
      {
        checkConfig: (c: Readonly<Record<string, unknown>>) =>
          c.mode === 'b' && c.fast === true ? 'backends.pair.fast: true needs backends.pair.mode "a"' : undefined,
      },
    )
    const r = new BackendRegistry().register(d)
    const refused = r.create('pair', 'x', { mode: 'b', fast: true })
    await expect(refused).rejects.toBeInstanceOf(ConfigError)
    await expect(refused).rejects.toThrow('backends.pair.fast: true needs backends.pair.mode "a"')
    expect(d.loads).toBe(0)
    const ok = await r.create('pair', 'y', { mode: 'b' })
    await ok.stop()
    const { ConfigManager } = await import('../src/config/config-manager.js')
    const cfg = new ConfigManager({ env: {}, explicit: { backends: { pair: { mode: 'b', fast: true } } } })
    expect(cfg.validate(r)).toEqual(['backends.pair.fast: true needs backends.pair.mode "a"'])
  })

  it('a VM that fails to start is stopped and the error rethrown', async () => {
    class BrokenVM extends EchoVM {
      protected override async doStart(): Promise<void> {
        throw new BackendUnavailableError('engine would not start')
      }
    }
    const r = new BackendRegistry()
    r.register(fake('wasm', { load: async () => ({ createVM: (init) => new BrokenVM(init) }) }))
    await expect(r.create('wasm', 'a')).rejects.toThrow('engine would not start')
  })
})
