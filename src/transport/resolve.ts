/**
 * Host name → numeric IP under the caller's deadline. The addon takes
 * numeric IPs only because getaddrinfo cannot be bounded; here `localhost`
 * maps to 127.0.0.1 without DNS, numeric IPs pass through, and any other name
 * goes to `dns.lookup` raced against the time left (a lookup that loses the
 * race finishes in the background and is ignored).
 */
import { ErrorCode, type TransportError } from "../errors";
import { transportError } from "./facts";
import { ipFamily } from "./http";
import { nowMs } from "../clock";

/**
 * Resolves `hostname` (as in `URL.hostname`, IPv6 may be bracketed).
 *
 * @example
 * ```ts
 * await resolveHost("localhost", 80, 1000); // "127.0.0.1"
 * await resolveHost("[::1]", 80, 1000);     // "::1"
 * ```
 */
export async function resolveHost(hostname: string, port: number, timeoutMs: number): Promise<string> {
  const bare = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  if (ipFamily(bare) !== 0) return bare;
  const lower = bare.toLowerCase();
  if (lower === "localhost" || lower === "localhost.") return "127.0.0.1";
  const started = nowMs();
  const dns = require("node:dns") as typeof import("node:dns");
  return new Promise<string>((resolve, reject) => {
    const fail = (code: string, detail: string, cause?: unknown): TransportError =>
      transportError(
        { code, phase: "resolve", address: bare, port, timeoutMs, elapsedMs: nowMs() - started, detail },
        cause,
      );
    const timer = setTimeout(() => reject(fail(ErrorCode.Timeout, "timed out")), Math.max(0, timeoutMs));
    dns.lookup(bare, { verbatim: true }, (err, address) => {
      clearTimeout(timer);
      if (err) reject(fail(ErrorCode.DnsLookup, `lookup failed (${err.code ?? "error"})`, err));
      else resolve(address);
    });
  });
}
