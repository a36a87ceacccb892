/**
 * URL-level requests for identity endpoints. `send()` validates its options,
 * resolves the host under the same deadline (`localhost` and numeric IPs
 * without DNS), then hands plain HTTP to the active transport (native addon,
 * or node:net fallback) and HTTPS (Service Fabric) to node:https with
 * optional certificate-thumbprint pinning. Proxy variables are never used:
 * identity endpoints are loopback or link-local. One deadline covers the
 * whole call.
 */
import type { TransportError } from "../errors";
import { activeTransport, transportDiagnostics } from "./active";
import type { RawResponse } from "./types";
import { checkCap, checkHeader, checkMethod, checkTimeout, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_HEADER_BYTES, ipFamily } from "./validate";
import { nowMs } from "../clock";

// errors.ts and facts.ts are needed only on the DNS and failure paths: load
// them there, so requiring the transport costs fewer module loads.
const errors = (): typeof import("../errors") => require("../errors") as typeof import("../errors");

/**
 * Options of `send()`.
 *
 * @example
 * ```ts
 * const options: SendOptions = { url: "http://localhost:50342/oauth2/token", method: "POST",
 *   headers: { Metadata: "true", "Content-Type": "application/x-www-form-urlencoded" },
 *   body: "resource=https%3A%2F%2Fmanagement.azure.com", timeoutMs: 5000 };
 * ```
 */
export interface SendOptions {
  url: string | URL;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** One deadline for resolve + connect + write + read. */
  timeoutMs: number;
  maxHeaderBytes?: number;
  maxBodyBytes?: number;
  /** HTTPS only: accept the server certificate iff its SHA-1 thumbprint (hex, any case) matches. */
  pinnedThumbprint?: string;
}

const THUMBPRINT = /^[0-9a-fA-F]{40}$/;

function parseUrl(url: unknown): URL {
  if (url instanceof URL) return url;
  if (typeof url !== "string") throw new TypeError("url must be a string or a URL");
  try {
    return new URL(url);
  } catch {
    throw new TypeError("url must be an absolute http: or https: URL, such as http://169.254.169.254/metadata/identity/oauth2/token");
  }
}

/**
 * One HTTP(S) exchange with an identity endpoint.
 *
 * Rejects with `TransportError` (`code`: `ETIMEDOUT`, `ECONNREFUSED`,
 * `ENETUNREACH`, `EHOSTUNREACH`, `ECONNRESET`, `ERR_HTTP_PARSE`,
 * `ERR_HEADERS_TOO_LARGE`, `ERR_BODY_TOO_LARGE`, `ERR_DNS_LOOKUP`, `ERR_TLS`,
 * `ERR_TLS_THUMBPRINT_MISMATCH`; `phase`: resolve, connect, tls, write,
 * headers, body) and with `TypeError`/`RangeError` for bad options.
 *
 * @example
 * ```ts
 * const res = await send({
 *   url: "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com",
 *   headers: { Metadata: "true" },
 *   timeoutMs: 1000,
 * });
 * if (res.status === 200) JSON.parse(res.body.toString("utf8"));
 * ```
 */
export async function send(options: SendOptions): Promise<RawResponse> {
  const started = nowMs();
  if (options === null || typeof options !== "object") throw new TypeError("send() options must be an object");
  const url = parseUrl(options.url);
  const timeoutMs = checkTimeout(options.timeoutMs, "timeoutMs");
  const method = checkMethod(options.method ?? "GET", "method");
  const maxHeaderBytes = checkCap(options.maxHeaderBytes, "maxHeaderBytes", DEFAULT_MAX_HEADER_BYTES, 1);
  const maxBodyBytes = checkCap(options.maxBodyBytes, "maxBodyBytes", DEFAULT_MAX_BODY_BYTES, 0);
  const headers: Record<string, string> = options.headers ?? {};
  if (headers === null || typeof headers !== "object") throw new TypeError("headers must be an object of header names to string values");
  const pairs: Array<[string, string]> = [];
  let hasHost = false;
  for (const [name, value] of Object.entries(headers)) {
    checkHeader(name, value, "headers");
    if (name.toLowerCase() === "host") hasHost = true;
    pairs.push([name, value]);
  }
  let body: Buffer | undefined;
  if (typeof options.body === "string") body = Buffer.from(options.body, "utf8");
  else if (Buffer.isBuffer(options.body)) body = options.body;
  else if (options.body !== undefined) throw new TypeError("body must be a string or a Buffer");

  const secure = url.protocol === "https:";
  if (!secure && url.protocol !== "http:") {
    throw new RangeError(`url must use http: or https:, got ${url.protocol}`);
  }
  let pinned: string | undefined;
  if (options.pinnedThumbprint !== undefined) {
    if (typeof options.pinnedThumbprint !== "string") throw new TypeError("pinnedThumbprint must be a string of 40 hex digits");
    const clean = options.pinnedThumbprint.replace(/:/g, "");
    if (!THUMBPRINT.test(clean)) throw new RangeError("pinnedThumbprint must be a SHA-1 thumbprint: 40 hex digits (colons allowed)");
    pinned = clean.toLowerCase();
  }
  const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
  const path = `${url.pathname || "/"}${url.search}`;

  // Numeric hosts and localhost need no lookup: the transport gets the whole
  // budget and reports it as given. Names go through resolve.ts (loaded only
  // then) and the transport gets what is left.
  let ip = literalAddress(url.hostname);
  const viaDns = ip === undefined;
  let left = timeoutMs;
  if (ip === undefined) {
    const { resolveHost } = require("./resolve") as typeof import("./resolve");
    ip = await resolveHost(url.hostname, port, timeoutMs);
    const spent = nowMs() - started;
    left = Math.floor(timeoutMs - spent);
    if (left < 1) {
      const { ErrorCode, TransportError } = errors();
      throw new TransportError(ErrorCode.Timeout, `resolve ETIMEDOUT ${url.host} after ${timeoutMs} ms`, {
        phase: "resolve", address: url.hostname, port, timeoutMs, elapsedMs: spent,
      });
    }
  }

  try {
    if (secure) {
      const { httpsExchange } = require("./tls") as typeof import("./tls");
      const h: Record<string, string> = hasHost ? { ...headers } : { Host: url.host, ...headers };
      return await httpsExchange({
        ip, servername: isNumericHost(url.hostname) ? undefined : url.hostname, port, method, path, headers: h, body,
        timeoutMs: left, maxHeaderBytes, maxBodyBytes, pinnedThumbprint: pinned,
      });
    }
    if (!hasHost) pairs.unshift(["Host", url.host]);
    const res = await activeTransport().request({
      ip, port, method, path, headers: pairs, body, timeoutMs: left, maxHeaderBytes, maxBodyBytes,
    });
    if (viaDns) res.elapsedMs = nowMs() - started;
    return res;
  } catch (e) {
    if (viaDns && e instanceof errors().TransportError) {
      const { restate } = require("./facts") as typeof import("./facts");
      throw restate(e as TransportError, { timeoutMs, elapsedMs: nowMs() - started });
    }
    throw e;
  }
}

/** The address for a numeric host or localhost (no DNS); undefined for names. */
function literalAddress(hostname: string): string | undefined {
  const bare = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  if (ipFamily(bare) !== 0) return bare;
  const lower = bare.toLowerCase();
  return lower === "localhost" || lower === "localhost." ? "127.0.0.1" : undefined;
}

function isNumericHost(hostname: string): boolean {
  return hostname.startsWith("[") || ipFamily(hostname) === 4;
}

/**
 * Which transport answers plain-HTTP requests in this process.
 *
 * @example
 * ```ts
 * transportKind(); // "native", or "node" when the addon is missing or AZMI_TRANSPORT=node
 * ```
 */
export function transportKind(): "native" | "node" {
  return transportDiagnostics().kind;
}

/** Which transport answers and why (re-exported from active.ts for `azmi doctor`). */
export { transportDiagnostics };
