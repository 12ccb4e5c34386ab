/**
 * This package's own test (`pnpm test` here): core's conformance kit and
 * the backend's own checks, against the package's runner. The suite lives
 * in suite.ts so the monorepo's integration project can run it too.
 */
import { describeHttpRunner } from './suite.js'

describeHttpRunner()
