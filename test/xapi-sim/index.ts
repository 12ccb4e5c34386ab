/**
 * The XAPI simulator (test code, never shipped): see server.ts.
 */

export { generate as generateCertificate, type SimCertificate, simCertificate } from './cert.js'
export { SimFailure } from './db.js'
export type { Seeded } from './seed.js'
export { type FaultAction, type GuestMode, type SimKnobs, XapiSim, type XapiSimOptions } from './server.js'
export {
  encodeFailure,
  encodeSuccess,
  encodeValue,
  f64,
  formatDate,
  formatG16,
  I32,
  i64,
  parseMethodCall,
} from './wire.js'
