/**
 * Checks every transport argument once, at the public edge, with messages
 * that name the option and the fix (as better-sqlite3 does before touching
 * C++). Both transports receive the same normalised request, so a
 * non-numeric host or a header that would break framing never reaches C++
 * or a socket.
 */
import type { RawRequest } from "./types";

/**
 * Default cap on status line + headers (+ trailers): 16 KiB, as Node's own
 * HTTP parser. (Also exported from types.ts.)
 *
 * @example
 * ```ts
 * await send({ url, timeoutMs: 1000, maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES * 2 });
 * ```
 */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
/**
 * Default cap on a decoded body: 1 MiB, far above any token response.
 *
 * @example
 * ```ts
 * await send({ url, timeoutMs: 1000, maxBodyBytes: DEFAULT_MAX_BODY_BYTES });
 * ```
 */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Largest timeout a poll()/setTimeout can honour (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMEOUT_MS = 2147483647;
/** Largest cap either transport accepts for headers or body (1 GiB). */
export const MAX_CAP_BYTES = 1 << 30;

/** A request after validation: what both transports actually consume. */
export interface NormalizedRequest {
  ip: string;
  port: number;
  method: string;
  path: string;
  /** Flat `[name, value, name, value, ...]`, in the caller's order. */
  headers: string[];
  body: Buffer | undefined;
  timeoutMs: number;
  maxHeaderBytes: number;
  maxBodyBytes: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]+$/;

/**
 * 4 or 6 for a numeric IPv4/IPv6 address (the forms inet_pton accepts, no
 * zone ids), else 0. Avoids loading `node:net` on the hot path.
 *
 * @example
 * ```ts
 * ipFamily("169.254.169.254"); // 4
 * ipFamily("::1");             // 6
 * ipFamily("localhost");       // 0
 * ```
 */
export function ipFamily(value: string): 0 | 4 | 6 {
  if (IPV4.test(value)) return 4;
  if (!value.includes(":") || !IPV6_CHARS.test(value) || value.length > 45) return 0;
  try {
    // The WHATWG URL parser (already loaded at startup) implements the RFC
    // 4291 text forms, including an embedded dotted IPv4 tail.
    new URL(`http://[${value}]/`);
    return 6;
  } catch {
    return 0;
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Visible ASCII, space and tab: identity headers never need more, and
// anything else (CR, LF, NUL, non-ASCII) could split or smuggle a request.
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;
const PATH = /^(\/[\x21-\x7e]*|\*)$/;

/**
 * Throws `TypeError`/`RangeError` unless `ip` is a numeric IPv4/IPv6 address.
 *
 * @example
 * ```ts
 * checkIp("169.254.169.254", "ip"); // ok
 * checkIp("example.com", "ip");     // RangeError: ip must be a numeric IPv4 or IPv6 address ...
 * ```
 */
export function checkIp(ip: unknown, name = "ip"): string {
  if (typeof ip !== "string") throw new TypeError(`${name} must be a string holding a numeric IPv4 or IPv6 address`);
  if (ipFamily(ip) === 0) {
    throw new RangeError(
      `${name} must be a numeric IPv4 or IPv6 address, got ${JSON.stringify(ip.slice(0, 64))}; resolve host names with send() first`,
    );
  }
  return ip;
}

/**
 * Throws unless `value` is an integer port from 1 to 65535.
 *
 * @example
 * ```ts
 * checkPort(80, "port");
 * ```
 */
export function checkPort(value: unknown, name = "port"): number {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number from 1 to 65535`);
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new RangeError(`${name} must be an integer from 1 to 65535, got ${value}`);
  }
  return value;
}

/**
 * Throws unless `value` is a positive finite number of milliseconds; returns
 * it rounded up to a whole millisecond.
 *
 * @example
 * ```ts
 * checkTimeout(1000, "timeoutMs"); // 1000
 * ```
 */
export function checkTimeout(value: unknown, name = "timeoutMs"): number {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number of milliseconds`);
  if (!Number.isFinite(value) || value <= 0 || value > MAX_TIMEOUT_MS) {
    throw new RangeError(`${name} must be greater than 0 and at most ${MAX_TIMEOUT_MS} ms, got ${value}`);
  }
  return Math.ceil(value);
}

/**
 * Throws unless `value` is undefined (→ `fallback`) or an integer in `[min, MAX_CAP_BYTES]`.
 *
 * @example
 * ```ts
 * checkCap(undefined, "maxBodyBytes", 1024, 0); // 1024
 * ```
 */
export function checkCap(value: unknown, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") throw new TypeError(`${name} must be a number of bytes`);
  if (!Number.isInteger(value) || value < min || value > MAX_CAP_BYTES) {
    throw new RangeError(`${name} must be an integer from ${min} to ${MAX_CAP_BYTES}, got ${value}`);
  }
  return value;
}

/**
 * Throws unless `method` is an HTTP token of at most 32 characters.
 *
 * @example
 * ```ts
 * checkMethod("GET", "method");
 * ```
 */
export function checkMethod(method: unknown, name = "method"): string {
  if (typeof method !== "string") throw new TypeError(`${name} must be a string such as "GET"`);
  if (method.length > 32 || !TOKEN.test(method)) throw new RangeError(`${name} must be an HTTP method token such as "GET"`);
  return method;
}

/**
 * Checks one header pair; returns nothing, throws naming the header.
 *
 * @example
 * ```ts
 * checkHeader("Metadata", "true", "headers");
 * ```
 */
export function checkHeader(name: unknown, value: unknown, option = "headers"): void {
  if (typeof name !== "string" || typeof value !== "string") {
    throw new TypeError(`${option} must map header names to string values`);
  }
  if (!TOKEN.test(name)) throw new RangeError(`${option}: ${JSON.stringify(name.slice(0, 64))} is not a valid header name`);
  if (!FIELD_VALUE.test(value)) {
    // Never quote the value: it may be a secret.
    throw new RangeError(`${option}: the value of ${name} contains characters not allowed in a header (CR, LF, NUL or non-ASCII)`);
  }
  if (name.toLowerCase() === "transfer-encoding") {
    throw new RangeError(`${option}: Transfer-Encoding is not supported; pass the whole body and let Content-Length be set`);
  }
}

/**
 * Validates a `RawRequest` for either transport and fills in defaults.
 *
 * @example
 * ```ts
 * const req = normalizeRequest({ ip: "127.0.0.1", port: 8080, method: "GET", path: "/", timeoutMs: 500 });
 * ```
 */
export function normalizeRequest(request: RawRequest): NormalizedRequest {
  if (request === null || typeof request !== "object") throw new TypeError("request must be an object");
  const ip = checkIp(request.ip, "ip");
  const port = checkPort(request.port, "port");
  const method = checkMethod(request.method, "method");
  if (typeof request.path !== "string") throw new TypeError('path must be a string such as "/metadata/identity/oauth2/token"');
  if (!PATH.test(request.path)) {
    throw new RangeError('path must start with "/" and contain only encoded, visible ASCII (use encodeURIComponent for query values)');
  }
  const headers: string[] = [];
  if (request.headers !== undefined) {
    if (!Array.isArray(request.headers)) throw new TypeError("headers must be an array of [name, value] pairs");
    for (const pair of request.headers) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError("headers must be an array of [name, value] pairs");
      checkHeader(pair[0], pair[1], "headers");
      headers.push(pair[0], pair[1]);
    }
  }
  let body: Buffer | undefined;
  if (typeof request.body === "string") body = Buffer.from(request.body, "utf8");
  else if (Buffer.isBuffer(request.body)) body = request.body;
  else if (request.body !== undefined) throw new TypeError("body must be a string or a Buffer");
  return {
    ip,
    port,
    method,
    path: request.path,
    headers,
    body,
    timeoutMs: checkTimeout(request.timeoutMs, "timeoutMs"),
    maxHeaderBytes: checkCap(request.maxHeaderBytes, "maxHeaderBytes", DEFAULT_MAX_HEADER_BYTES, 1),
    maxBodyBytes: checkCap(request.maxBodyBytes, "maxBodyBytes", DEFAULT_MAX_BODY_BYTES, 0),
  };
}
