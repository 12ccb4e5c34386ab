/**
 * The plugin's test suite, as a function so that two runners can register
 * it: this package's own `pnpm test` (test/conformance.test.ts) and the
 * monorepo's integration project (test/examples/plugin-http-runner.test.ts).
 *
 * It proves the backend the way every backend is proven — core's
 * conformance kit — against its own runner started on a free port of
 * 127.0.0.1 (with a token, so every check also exercises authentication),
 * then checks what only this backend has: typed errors for a runner that is
 * down, refuses the token, or answers nonsense; capabilities narrowed to the
 * runner's.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { BackendRegistry } from '@bioxen-luavm/core'
import { runConformance } from '@bioxen-luavm/core/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HTTP_RUNNER_CAPABILITIES, httpRunnerBackend, httpRunnerConfigSchema } from '../src/index.js'
import { type HttpRunnerServer, startHttpRunnerServer } from '../src/server.js'

/** An HTTP server on a free port that answers every request with `reply`. */
async function fakeRunner(reply: (path: string) => { status: number; body: string }): Promise<Server> {
  const server = createServer((req, res) => {
    const { status, body } = reply(req.url ?? '/')
    res.writeHead(status, { 'content-type': 'application/json' }).end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

const urlOf = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()))

async function tagOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    return String((error as { _tag?: string })._tag)
  }
  return '(resolved)'
}

/**
 * Registers the suite: starts a runner (token-protected) before, closes it
 * after, runs the conformance kit and the backend's own checks against it.
 */
export function describeHttpRunner(): void {
  const TOKEN = 'conformance-token-5c1d'
  let runner: HttpRunnerServer
  // Filled in beforeAll; the kit reads it when each check creates its VMs.
  const config: Record<string, unknown> = { token: TOKEN }

  beforeAll(async () => {
    runner = await startHttpRunnerServer({ token: TOKEN, vmConfig: { memoryLimitBytes: '128MiB' } })
    config.url = runner.url
  })

  afterAll(async () => {
    await runner?.close()
  })

  runConformance(httpRunnerBackend, { config, timeoutMs: 60_000 })

  describe('http-runner specifics', () => {
    const registry = new BackendRegistry().register(httpRunnerBackend)

    it('a runner that is not running is BackendUnavailableError (connection refused)', async () => {
      const server = await fakeRunner(() => ({ status: 200, body: '{}' }))
      const url = urlOf(server)
      await close(server) // the port is free again: nothing listens there now
      let error: unknown
      await registry.create('http-runner', 'down', { url }).catch((e: unknown) => {
        error = e
      })
      expect((error as { _tag?: string })?._tag).toBe('BackendUnavailableError')
      expect((error as Error).message).toContain('connection refused')
    })

    it('a wrong or missing token is ConfigError, and the token never shows in the message', async () => {
      let error: unknown
      await registry
        .create('http-runner', 'bad-token', { url: runner.url, token: 'not-the-token' })
        .catch((e: unknown) => {
          error = e
        })
      expect((error as { _tag?: string })?._tag).toBe('ConfigError')
      expect((error as Error).message).toContain('the token is wrong')
      expect((error as Error).message).not.toContain('not-the-token')
      expect(await tagOf(registry.create('http-runner', 'no-token', { url: runner.url }))).toBe('ConfigError')
    })

    it('a reply that breaks the protocol is ProtocolError', async () => {
      const health = JSON.stringify({ ok: true, protocol: 1, luaVersion: 'Lua 5.4', capabilities: {} })
      const server = await fakeRunner((path) =>
        path === '/health' ? { status: 200, body: health } : { status: 200, body: '{"stdout": 42}' },
      )
      try {
        const vm = await registry.create('http-runner', 'nonsense', { url: urlOf(server) })
        try {
          expect(await tagOf(vm.execute('return 1'))).toBe('ProtocolError')
        } finally {
          await vm.stop()
        }
        const html = await fakeRunner(() => ({ status: 200, body: '<html>proxy login</html>' }))
        try {
          expect(await tagOf(registry.create('http-runner', 'html', { url: urlOf(html) }))).toBe('ProtocolError')
        } finally {
          await close(html)
        }
      } finally {
        await close(server)
      }
    })

    it('never claims more than its runner: capabilities are narrowed at start', async () => {
      // A stateless runner: no sessions, no memory cap. The VM must say so,
      // and then keeps no remote session either.
      const health = JSON.stringify({
        ok: true,
        protocol: 1,
        luaVersion: 'Lua 5.4',
        capabilities: { sandboxed: true, hardTimeout: true },
      })
      const result = JSON.stringify({
        stdout: '',
        stderr: '',
        values: [1],
        status: 'ok',
        truncated: false,
        durationMs: 1,
      })
      const paths: string[] = []
      const server = await fakeRunner((path) => {
        paths.push(path)
        return path === '/health' ? { status: 200, body: health } : { status: 200, body: result }
      })
      try {
        const vm = await registry.create('http-runner', 'narrow', { url: urlOf(server) })
        try {
          expect(vm.capabilities).toMatchObject({
            persistentState: false,
            sessions: false,
            memoryLimit: false,
            sandboxed: true,
            remote: true,
          })
          expect(HTTP_RUNNER_CAPABILITIES.sessions, 'the descriptor is not changed').toBe(true)
          expect((await vm.execute('return 1')).values).toEqual([1])
          expect(await tagOf(vm.openSession())).toBe('BackendUnavailableError')
        } finally {
          await vm.stop()
        }
        expect(paths).not.toContain('/sessions')
      } finally {
        await close(server)
      }
    })

    it('marks the token secret and rejects credentials in the URL', async () => {
      expect(httpRunnerConfigSchema.token?.secret).toBe(true)
      expect(await tagOf(registry.create('http-runner', 'creds', { url: 'http://user:pw@127.0.0.1:1' }))).toBe(
        'ConfigError',
      )
    })

    it('frees its remote session on stop', async () => {
      const vm = await registry.create('http-runner', 'frees', config)
      expect(runner.sessions).toBeGreaterThan(0)
      const before = runner.sessions
      await vm.stop()
      expect(runner.sessions).toBe(before - 1)
    })
  })
}
