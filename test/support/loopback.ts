/**
 * What a `Socket#connect(...)` call targets, and whether that is loopback:
 * the NETWORK RULE's check, shared by the run-wide guard (test/rootHooks.ts)
 * and the suites' own (`useLoopbackGuard` in test/credentials/support.ts).
 * Imports nothing, so the root hooks load nothing else with it.
 *
 * @example
 * ```ts
 * if (!isLoopbackHost(connectTarget(args) ?? "localhost")) throw new Error("NETWORK RULE");
 * ```
 */

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
