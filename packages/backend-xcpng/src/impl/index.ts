/**
 * The heavy half of the `xcpng` backend, loaded by the registry on first
 * use (see `xcpngBackend.load`).
 *
 * @module
 */
import type { BaseLuaVM, VMInit } from '@bioxen-luavm/core'
import { XcpngVM } from '../xcpng-vm.js'

/** Builds an `xcpng` VM (not yet started). */
export function createVM(init: VMInit<Record<string, unknown>>): BaseLuaVM {
  return new XcpngVM(init)
}

export { destroyGuest, guestStatus, listGuests, stopGuest } from '../operate.js'
export { connectXapi, reapOrphans } from '../reap.js'
export { XcpngVM }
