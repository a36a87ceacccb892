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
 * running, and the run fails at its end naming them. (Suites that install
 * their own guard, `useLoopbackGuard`, fail at their own end as before; the
 * native addon and child processes are not covered here: namespaces and
 * fakes keep those on loopback.) Installed when this file loads, before any
 * spec file, so a suite's own guard restores this one, not the bare connect.
 */
import * as net from "node:net";
import { clearProcessProbeMemo } from "../src/cache/probeMemo";
import { connectTarget, isLoopbackHost } from "./support/loopback";

const violations: string[] = [];
let currentTest = "(outside any test)";
const bareConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
  const target = connectTarget(args);
  if (target !== undefined && !isLoopbackHost(target)) {
    violations.push(`${target} during "${currentTest}"`);
    throw new Error(`NETWORK RULE: a test tried to connect to ${target}`);
  }
  return (bareConnect as (...a: unknown[]) => unknown).apply(this, args) as never;
} as typeof bareConnect;

export const mochaHooks = {
  beforeEach(this: Mocha.Context): void {
    clearProcessProbeMemo();
    currentTest = this.currentTest?.fullTitle() ?? currentTest;
  },
  afterAll(): void {
    if (violations.length > 0) throw new Error(`NETWORK RULE: non-loopback connects attempted: ${violations.join("; ")}`);
  },
};
