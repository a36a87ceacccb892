/**
 * Mocha root hooks (registered in .mocharc.json via "require"; not a *.spec
 * file, so the spec glob never picks it up as a suite).
 *
 * The IMDS probe memo keeps a process-wide map keyed by host:port and network
 * for minutes, independent of AZMI_HOME: a negative probe recorded for a
 * refused loopback port in one test would otherwise answer for a later test
 * whose fake server binds the same port.
 *
 * NETWORK RULE, for the whole run: a TCP connect from this process to
 * anything but loopback throws and is recorded with the test that was
 * running, and the run fails at its end naming them (test/support/loopback.ts;
 * suites that call `useLoopbackGuard` also fail at their own end). The
 * native addon and child processes are not covered here: namespaces and
 * fakes keep those on loopback.
 */
import { clearProcessProbeMemo } from "../src/cache/probeMemo";
import { installLoopbackGuard, loopbackViolations, setGuardedTest } from "./support/loopback";

installLoopbackGuard();

export const mochaHooks = {
  beforeEach(this: Mocha.Context): void {
    clearProcessProbeMemo();
    if (this.currentTest) setGuardedTest(this.currentTest.fullTitle());
  },
  afterAll(): void {
    const seen = loopbackViolations();
    if (seen.length > 0) throw new Error(`NETWORK RULE: non-loopback connects attempted: ${seen.join("; ")}`);
  },
};
