import { ConfigError, type LuaVMError } from '@bioxen-luavm/core'
import { Effect } from 'effect'
import type { XcpngConfig } from '../config.js'
import { isRef, str, strList } from '../xapi/codec.js'
import type { XapiSession } from '../xapi/session.js'
import { attempt, type Provisioning, xcall } from './effects.js'

/** XAPI's built-in roles, weakest first: each holds every permission of the ones before it. */
export const XAPI_ROLES = [
  'read-only',
  'vm-operator',
  'vm-admin',
  'vm-power-admin',
  'pool-operator',
  'pool-admin',
] as const

/** A built-in role. */
export type XapiRole = (typeof XAPI_ROLES)[number]

/**
 * The weakest role a config needs, and why. Cloning, provisioning, VIFs
 * and destroying need vm-admin; `VM.set_memory_limits` (vm_memory) needs
 * vm-power-admin; attaching to a running VM only reads.
 */
export function requiredRole(cfg: XcpngConfig): { role: XapiRole; why: string } {
  if (cfg.attachVm) return { role: 'read-only', why: 'attach_vm only reads the VM' }
  if (cfg.vmMemory !== undefined) return { role: 'vm-power-admin', why: 'vm_memory calls VM.set_memory_limits' }
  return { role: 'vm-admin', why: 'cloning, provisioning and destroying VMs' }
}

/**
 * Refuses, before anything is created, a user whose roles cannot do what
 * the config asks. Only when XAPI names the session's subject and all its
 * roles are built-in ones: root (no subject) can do everything, and a
 * custom role or a host that does not answer is left to XAPI's own check
 * (`RBAC_PERMISSION_DENIED`, whose hint names the role).
 */
export function checkRole(session: XapiSession, cfg: XcpngConfig): Effect.Effect<void, LuaVMError, Provisioning> {
  const { role, why } = requiredRole(cfg)
  if (role === 'read-only') return Effect.void
  return Effect.gen(function* () {
    const roles = yield* sessionRoles(session).pipe(Effect.orElseSucceed(() => undefined))
    if (roles === undefined || roles.some((r) => !(XAPI_ROLES as readonly string[]).includes(r))) return
    const best = Math.max(-1, ...roles.map((r) => XAPI_ROLES.indexOf(r as XapiRole)))
    if (best >= XAPI_ROLES.indexOf(role)) return
    return yield* Effect.fail(
      new ConfigError(
        `the XAPI user '${cfg.username}' has the role ${roles.join(', ') || '(none)'}, but this config needs ${role} or above (${why}); grant it with xe subject-role-add${role === 'vm-power-admin' ? ', or leave vm_memory unset to need only vm-admin' : ''}; see docs/xcpng.md`,
        { details: { roles, required: role } },
      ) as LuaVMError,
    )
  })
}

/** The role names of the session's subject; undefined for root and other local superusers. */
function sessionRoles(session: XapiSession): Effect.Effect<string[] | undefined, LuaVMError, Provisioning> {
  return Effect.gen(function* () {
    const subject = str(
      yield* attempt('XAPI session.get_subject', (signal) => session.callOnSelf('session.get_subject', { signal })),
      'subject',
    )
    if (!isRef(subject)) return undefined
    const roles = strList(yield* xcall(session, 'subject.get_roles', [subject]), 'roles')
    const names: string[] = []
    for (const ref of roles) names.push(str(yield* xcall(session, 'role.get_name_label', [ref]), 'role name'))
    return names
  })
}
