import { BackendUnavailableError, LuaNotFoundError } from '@bioxen-luavm/core'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_INTERPRETERS,
  detectProcessBackend,
  findInterpreters,
  parseLuaBanner,
  processBackend,
  resolveInterpreter,
} from '../src/index.js'
import { INTERPRETERS, processRegistry } from './helpers.js'

describe('parseLuaBanner', () => {
  it('reads PUC-Rio and LuaJIT banners', () => {
    expect(parseLuaBanner('Lua 5.4.4  Copyright (C) 1994-2022 Lua.org, PUC-Rio')).toEqual({
      family: 'lua',
      version: '5.4.4',
      languageVersion: 'Lua 5.4',
      label: 'Lua 5.4.4',
    })
    // 5.1 prints its banner on stderr; callers pass both streams.
    expect(parseLuaBanner('\nLua 5.1.5  Copyright (C) 1994-2012 Lua.org, PUC-Rio\n')?.languageVersion).toBe('Lua 5.1')
    expect(parseLuaBanner('LuaJIT 2.1.0-beta3 -- Copyright (C) 2005-2022 Mike Pall.')).toMatchObject({
      family: 'luajit',
      version: '2.1.0-beta3',
      languageVersion: 'Lua 5.1',
    })
    expect(parseLuaBanner('Python 3.11')).toBeUndefined()
  })
})

describe('interpreter detection', () => {
  it('finds the installed interpreters with their versions, best first', async () => {
    const { found } = await findInterpreters()
    expect(found.length).toBeGreaterThan(0)
    const commands = found.map((i) => i.command)
    for (const c of INTERPRETERS) expect(commands).toContain(c)
    // Order follows DEFAULT_INTERPRETERS: plain `lua` never wins over a versioned binary.
    const order = commands.map((c) => DEFAULT_INTERPRETERS.indexOf(c))
    expect([...order].sort((a, b) => a - b)).toEqual(order)
    const lua54 = found.find((i) => i.command === 'lua5.4')
    if (lua54)
      expect(lua54).toMatchObject({ family: 'lua', languageVersion: 'Lua 5.4', path: expect.stringMatching(/^\//) })
  })

  it('an explicit luaExecutable wins and a missing one is LuaNotFoundError with install advice', async () => {
    const chosen = await resolveInterpreter(INTERPRETERS.at(-1))
    expect(chosen.command).toBe(INTERPRETERS.at(-1))
    const error = await resolveInterpreter('lua-does-not-exist-9').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LuaNotFoundError)
    expect((error as Error).message).toMatch(/lua-does-not-exist-9/)
    expect((error as Error).message).toMatch(/apt-get install lua5\.4/)
  })

  it('a program that is not Lua is refused', async () => {
    const error = await resolveInterpreter('/bin/true').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LuaNotFoundError)
    expect((error as Error).message).toMatch(/printed no Lua version/)
  })

  it('detect() reports availability, the default interpreter and prlimit', async () => {
    const d = await detectProcessBackend()
    expect(d.available).toBe(true)
    expect(d.version).toMatch(/^Lua 5\.4/)
    expect(d.details).toMatchObject({ default: 'lua5.4', prlimit: expect.stringMatching(/prlimit$/) })
  })

  it('detect() explains why process is unavailable when PATH has no Lua', async () => {
    const { clearInterpreterCache } = await import('../src/interpreters/detect.js')
    const saved = process.env.PATH
    process.env.PATH = '/nonexistent'
    clearInterpreterCache()
    try {
      const d = await detectProcessBackend()
      expect(d.available).toBe(false)
      expect(d.reason).toMatch(/no Lua interpreter found/)
      expect(d.reason).toMatch(/apt-get install lua5\.4/)
      // auto then falls back to the next backend; with only `process` registered it explains why.
      const error = await processRegistry()
        .resolveAuto()
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(BackendUnavailableError)
      expect((error as Error).message).toMatch(/process: no Lua interpreter found/)
    } finally {
      process.env.PATH = saved
      clearInterpreterCache()
    }
  })
})

describe('descriptor', () => {
  it('is type process with alias basic, lazily loaded, with a config schema', async () => {
    expect(processBackend.type).toBe('process')
    expect(processBackend.aliases).toEqual(['basic'])
    expect(Object.keys(processBackend.configSchema ?? {})).toEqual(
      expect.arrayContaining([
        'luaExecutable',
        'mode',
        'poolSize',
        'sandbox',
        'grants',
        'env',
        'memoryLimitBytes',
        'networked',
        'cwd',
        'luaPath',
        'luaCPath',
      ]),
    )
    const impl = await processBackend.load()
    expect(typeof impl.createVM).toBe('function')
  })

  it('the registry resolves basic and validates config', async () => {
    const registry = processRegistry()
    expect(await registry.resolveType('basic')).toBe('process')
    await expect(registry.create('basic', 'bad', { mode: 'forever' }, { autoStart: false })).rejects.toThrow(/mode/)
    await expect(registry.create('basic', 'bad', { poolSize: 0 }, { autoStart: false })).rejects.toThrow(/poolSize/)
    await expect(registry.create('basic', 'bad', { env: ['no-equals'] }, { autoStart: false })).rejects.toThrow(
      /NAME=value/,
    )
    const vm = await registry.create('basic', 'ok', { luaExecutable: 'lua-not-here' }, { autoStart: false })
    await expect(vm.start()).rejects.toBeInstanceOf(LuaNotFoundError)
    expect(vm.state).toBe('failed')
  })
})
