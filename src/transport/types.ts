/**
 * The one interface every plain-HTTP identity request goes through. Two
 * implementations exist: the native addon (`native.ts`) and a `node:net`
 * fallback (`fallback.ts`) used only when the addon cannot be loaded. Both
 * take numeric IPs only; names are resolved by `resolve.ts` first.
 */

/** What a TCP connect attempt found, with how long it took. */
export interface ProbeResult {
  outcome: "connected" | "refused" | "unreachable" | "timeout";
  elapsedMs: number;
  /** The errno name behind `refused`/`unreachable` (e.g. `EHOSTUNREACH`). */
  errno?: string;
}

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

export interface RawResponse {
  status: number;
  statusText: string;
  /** Lower-cased names; repeated headers joined with `, ` (RFC 9110 5.3). */
  headers: Record<string, string>;
  body: Buffer;
  elapsedMs: number;
}

export interface Transport {
  readonly kind: "native" | "node";
  /** Bounded TCP connect; never rejects for network outcomes, only for bad arguments. */
  probe(ip: string, port: number, timeoutMs: number): Promise<ProbeResult>;
  /** One HTTP/1.1 exchange; rejects with a `TransportError` carrying `code` and `phase`. */
  request(request: RawRequest): Promise<RawResponse>;
}

export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
