import { describe, expect, it } from 'vitest'
import {
  type BackendCapabilities,
  Catalog,
  type InstallOptions,
  type InstallResult,
  InvalidArgumentError,
  installInOrder,
  PackageError,
  PackageInstaller,
  type PackageKind,
  type PackageTargetVM,
  type VMLookup,
} from '../src/index.js'

const catalog = Catalog.fromJSON(
  {
    version: 1,
    packages: [
      { name: 'base', pure: true },
      { name: 'cmod', pure: false, modules: ['cmod'] },
      { name: 'mid', pure: true, dependencies: ['base'] },
      { name: 'top', pure: true, dependencies: ['mid', 'cmod'] },
      { name: 'flaky', pure: true },
      { name: 'after_flaky', pure: true, dependencies: ['flaky'] },
    ],
    profiles: {
      stack: { packages: ['top'] },
      flaky: { packages: ['after_flaky', 'base'] },
      mixed: { packages: ['cmod', 'base'] },
    },
  },
  'test catalog',
)

const caps = (packages: boolean, packageKinds?: PackageKind[]): BackendCapabilities => ({
  sandboxed: false,
  persistentState: true,
  sessions: false,
  packages,
  networking: false,
  memoryLimit: false,
  hardTimeout: true,
  remote: false,
  ...(packageKinds ? { packageKinds } : {}),
})

/** A VM that records installs and fails the ones named in `failing`. */
function fakeVM(
  id: string,
  capabilities: BackendCapabilities,
  failing: string[] = [],
): PackageTargetVM & { calls: Array<[string, InstallOptions | undefined]> } {
  const calls: Array<[string, InstallOptions | undefined]> = []
  return {
    id,
    type: 'fake',
    capabilities,
    calls,
    async installPackage(name, options): Promise<InstallResult> {
      calls.push([name, options])
      if (failing.includes(name)) throw new PackageError(`installing '${name}' failed: Error: no such rock`)
      return { name, version: options?.version ?? '1.0-1', success: true, modules: [name] }
    },
  }
}

function lookup(...vms: PackageTargetVM[]): VMLookup {
  return {
    requireVM(id) {
      const vm = vms.find((v) => v.id === id)
      if (!vm) throw new InvalidArgumentError(`no VM '${id}'`)
      return vm
    },
  }
}

describe('PackageInstaller.installInVM', () => {
  it("calls the VM's installPackage with the options", async () => {
    const vm = fakeVM('a', caps(true))
    const installer = new PackageInstaller({ manager: lookup(vm), catalog })
    const r = await installer.installInVM('base', 'a', { version: '2.0-1' })
    expect(r).toMatchObject({ name: 'base', version: '2.0-1', modules: ['base'] })
    expect(vm.calls).toEqual([['base', { version: '2.0-1' }]])
  })

  it('validates the name before the VM sees it', async () => {
    const vm = fakeVM('a', caps(true))
    const installer = new PackageInstaller({ manager: lookup(vm), catalog })
    await expect(installer.installInVM('--server=evil', 'a')).rejects.toBeInstanceOf(InvalidArgumentError)
    expect(vm.calls).toEqual([])
  })

  it('refuses a native package on a pure-only backend, and any package where packages are off', async () => {
    const wasm = fakeVM('w', caps(true, ['pure']))
    const off = fakeVM('o', caps(false))
    const installer = new PackageInstaller({ manager: lookup(wasm, off), catalog })
    await expect(installer.installInVM('cmod', 'w')).rejects.toThrow(/native \(C\) code.*pure-Lua rocks only/)
    await expect(installer.installInVM('base', 'o')).rejects.toBeInstanceOf(PackageError)
    expect(wasm.calls).toEqual([])
    // Unknown packages go to the backend, which decides.
    await installer.installInVM('not_in_catalog', 'w')
    expect(wasm.calls.map(([n]) => n)).toEqual(['not_in_catalog'])
  })

  it('takes the VM itself without a manager, and says what is missing for an id', async () => {
    const vm = fakeVM('a', caps(true))
    const installer = new PackageInstaller({ catalog })
    await expect(installer.installInVM('base', vm)).resolves.toMatchObject({ name: 'base' })
    await expect(installer.installInVM('base', 'a')).rejects.toThrow(/no VM manager/)
  })
})

describe('PackageInstaller.installProfile', () => {
  it('installs dependencies first, each once', async () => {
    const vm = fakeVM('a', caps(true))
    const r = await new PackageInstaller({ manager: lookup(vm), catalog }).installProfile('stack', 'a')
    expect(vm.calls.map(([n]) => n)).toEqual(['base', 'mid', 'cmod', 'top'])
    expect(r).toMatchObject({ profile: 'stack', vmId: 'a', backend: 'fake', ok: true })
    expect(r.outcomes.map((o) => [o.name, o.status])).toEqual([
      ['base', 'installed'],
      ['mid', 'installed'],
      ['cmod', 'installed'],
      ['top', 'installed'],
    ])
  })

  it('skips native packages (and what needs them) on pure-only backends', async () => {
    const vm = fakeVM('w', caps(true, ['pure']))
    const r = await new PackageInstaller({ manager: lookup(vm), catalog }).installProfile('stack', 'w')
    expect(vm.calls.map(([n]) => n)).toEqual(['base', 'mid'])
    expect(r.outcomes.find((o) => o.name === 'cmod')).toMatchObject({
      status: 'skipped',
      reason: expect.stringMatching(/pure-Lua rocks only/),
    })
    expect(r.outcomes.find((o) => o.name === 'top')).toMatchObject({
      status: 'skipped',
      reason: 'needs cmod, which did not install',
    })
    expect(r.ok).toBe(true)
  })

  it('pureOnly skips native packages even where they could be built', async () => {
    const vm = fakeVM('p', caps(true))
    const r = await new PackageInstaller({ manager: lookup(vm), catalog }).installProfile('mixed', 'p', {
      pureOnly: true,
    })
    expect(vm.calls.map(([n]) => n)).toEqual(['base'])
    expect(r.outcomes.map((o) => o.status)).toEqual(['skipped', 'installed'])
  })

  it('never rejects for one package: the failure is reported and dependents skipped', async () => {
    const vm = fakeVM('a', caps(true), ['flaky'])
    const seen: string[] = []
    const r = await new PackageInstaller({ manager: lookup(vm), catalog }).installProfile('flaky', 'a', {
      onOutcome: (o) => seen.push(`${o.name}:${o.status}`),
      extra: { servers: ['/rocks'] },
      timeoutMs: 5_000,
    })
    expect(seen).toEqual(['flaky:failed', 'after_flaky:skipped', 'base:installed'])
    expect(r.ok).toBe(false)
    expect(r.outcomes[0]?.error).toMatch(/Error: no such rock/)
    expect(vm.calls.at(-1)).toEqual(['base', { servers: ['/rocks'], timeoutMs: 5_000 }])
  })

  it('rejects an unknown profile, an unknown VM and a VM without packages', async () => {
    const off = fakeVM('o', caps(false))
    const installer = new PackageInstaller({ manager: lookup(off), catalog })
    await expect(installer.installProfile('nope', 'o')).rejects.toThrow(/unknown profile 'nope'; profiles: stack/)
    await expect(installer.installProfile('stack', 'missing')).rejects.toThrow(/no VM 'missing'/)
    await expect(installer.installProfile('stack', 'o')).rejects.toThrow(/cannot install packages/)
  })

  it('uses the default catalog when none is given', () => {
    expect(new PackageInstaller().catalog.profile('bio').packages).toContain('bio_compute')
  })
})

describe('installInOrder', () => {
  it('reports present packages without reinstalling and stops on abort', async () => {
    const installed: string[] = []
    const controller = new AbortController()
    const outcomes = await installInOrder(catalog, ['mid', 'flaky'], {
      install: async (name) => {
        installed.push(name)
        controller.abort()
        return { name, version: '1', success: true, modules: [] }
      },
      isPresent: (name) => name === 'base',
      signal: controller.signal,
    })
    expect(installed).toEqual(['mid'])
    expect(outcomes.map((o) => `${o.name}:${o.status}`)).toEqual(['base:present', 'mid:installed', 'flaky:skipped'])
    expect(outcomes[2]?.reason).toBe('cancelled')
  })
})
