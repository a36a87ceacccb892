/**
 * The one interface every plain-HTTP identity request goes through. Two
 * implementations exist: the native addon (the native section of `http.ts`) and a `node:net`
 * fallback (`fallback.ts`) used only when the addon cannot be loaded. Both
 * take numeric IPs only; `send()` (http.ts) resolves names first (resolve.ts).
 */

/** What a TCP connect attempt found, with how long it took. */
export interface ProbeResult {
  outcome: "connected" | "refused" | "unreachable" | "timeout";
  elapsedMs: number;
  /** The errno name behind `refused`/`unreachable` (e.g. `EHOSTUNREACH`). */
  errno?: string;
}

/**
 * One plain-HTTP exchange as a transport takes it (numeric IP, encoded path).
 *
 * @example
 * ```ts
 * const req: RawRequest = { ip: "169.254.169.254", port: 80, method: "GET",
 *   path: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com",
 *   headers: [["Metadata", "true"]], timeoutMs: 1000 };
 * ```
 */
export interface RawRequest {
  /** Numeric IPv4 or IPv6 address. */
  ip: string;
  port: number;
  method: string;
  /** Path and query, already encoded, e.g. `/metadata/identity/oauth2/token?api-version=2018-02-01`. */
  path: string;
  /** Header lines in order; `Host`, `Content-Length` and `Connection: close` are added when absent. */
  headers?: Array<[string, string]>;
  body?: Buffer | string;
  /** One absolute deadline for connect + write + read, in milliseconds. */
  timeoutMs: number;
  /** Cap on the status line plus headers (default 16 KiB). */
  maxHeaderBytes?: number;
  /** Cap on the decoded body (default 1 MiB). */
  maxBodyBytes?: number;
}

/** A complete response; any status counts (callers decide what a 4xx/5xx means). */
export interface RawResponse {
  status: number;
  statusText: string;
  /** Lower-cased names; repeated headers joined with `, ` (RFC 9110 5.3). */
  headers: Record<string, string>;
  body: Buffer;
  elapsedMs: number;
}

/**
 * The native addon or the node:net fallback; both agree on every outcome.
 *
 * @example
 * ```ts
 * const t = activeTransport();
 * const p = await t.probe("169.254.169.254", 80, 1000); // { outcome: "unreachable", errno: "ENETUNREACH", ... }
 * ```
 */
export interface Transport {
  readonly kind: "native" | "node";
  /** For `native`: which addon driver runs requests (`loop` is the default; see http.ts). */
  readonly driver?: "loop" | "pool";
  /** Bounded TCP connect; never rejects for network outcomes, only for bad arguments. */
  probe(ip: string, port: number, timeoutMs: number): Promise<ProbeResult>;
  /** One HTTP/1.1 exchange; rejects with a `TransportError` carrying `code` and `phase`. */
  request(request: RawRequest): Promise<RawResponse>;
}

// The default caps live in http.ts (the checks), which applies them: the hot path then
// never loads this file (every other import of it is type-only and erased).
export { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_HEADER_BYTES } from "./http";
