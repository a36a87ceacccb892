/**
 * The NETWORK RULE's guard: one patch of `Socket#connect` for the process,
 * which refuses (throws) and records every TCP connect to anything but
 * loopback. The run-wide root hook (test/rootHooks.ts) and the suites' own
 * check (`useLoopbackGuard` in test/credentials/support.ts) both read its
 * record. Imports only `node:net`, so the root hooks load nothing else with it.
 *
 * @example
 * ```ts
 * installLoopbackGuard();
 * const from = loopbackViolations().length;
 * // … a test …
 * assert.deepEqual(loopbackViolations().slice(from), []);
 * ```
 */
import * as net from "node:net";

const violations: string[] = [];
let installed = false;
let currentTest = "(outside any test)";

/** Patch `Socket#connect` once (later calls do nothing): a non-loopback target throws and is recorded. */
export function installLoopbackGuard(): void {
  if (installed) return;
  installed = true;
  const bareConnect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const target = connectTarget(args);
    if (target !== undefined && !isLoopbackHost(target)) {
      violations.push(`${target} during "${currentTest}"`);
      throw new Error(`NETWORK RULE: a test tried to connect to ${target}`);
    }
    return (bareConnect as (...a: unknown[]) => unknown).apply(this, args) as never;
  } as typeof bareConnect;
}

/** Every refused connect so far, as `host during "test title"` (read-only view). */
export function loopbackViolations(): readonly string[] {
  return violations;
}

/** The test whose connects are being recorded (the root hook sets it before each test). */
export function setGuardedTest(title: string): void {
  currentTest = title;
}

/** The host a `Socket#connect(...)` call targets (`undefined` for Unix sockets); handles net's normalized array form. */
export function connectTarget(args: unknown[]): string | undefined {
  let first = args[0];
  if (Array.isArray(first)) first = first[0]; // net.connect()/http agents pass [options, callback]
  if (first && typeof first === "object") {
    const o = first as { host?: string; path?: string };
    if (typeof o.path === "string") return undefined;
    return o.host ?? "localhost";
  }
  if (typeof first === "string" && !/^\d+$/.test(first)) return undefined; // a Unix socket path
  return typeof args[1] === "string" ? args[1] : "localhost";
}

/** 127.0.0.0/8, ::1 (and its IPv4-mapped form) or localhost. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host) || /^::ffff:127\./i.test(host);
}
