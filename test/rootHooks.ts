/**
 * Mocha root hooks (registered in .mocharc.json via "require"; not a *.spec
 * file, so the spec glob never picks it up as a suite).
 *
 * The IMDS probe memo keeps a process-wide map keyed by host:port and network
 * for minutes, independent of AZMI_HOME: a negative probe recorded for a
 * refused loopback port in one test would otherwise answer for a later test
 * whose fake server binds the same port.
 */
import { clearProcessProbeMemo } from "../src/cache/probeMemo";

export const mochaHooks = {
  beforeEach(): void {
    clearProcessProbeMemo();
  },
};
