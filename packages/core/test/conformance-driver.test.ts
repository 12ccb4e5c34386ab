import { runConformance } from '../src/testing/index.js'
import { driverTestBackend } from './fixtures/driver-backend.js'

// The kit against a real lua5.4 driven through the shared driver: every
// capability-independent check must pass, and so must the session and
// persistence checks (the fixture declares both).
runConformance(driverTestBackend)
