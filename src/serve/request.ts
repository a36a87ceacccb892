/**
 * Parsing and validation of what a client sends to `azmi serve`: the
 * request target (path + query), secret headers and bodies. Everything here
 * runs on the hot path, so it works on plain strings without `new URL`.
 *
 * @example
 * ```ts
 * const query = parseQuery("api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net");
 * if (query.ok) console.log(query.params["resource"]);
 * ```
 */
import { isIP } from "node:net";
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/** Longest request target we answer (the rest of the header block has its own limit). */
export const MAX_TARGET_BYTES = 8 * 1024;
/** Status line plus headers (passed to `http.createServer({ maxHeaderSize })`). */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Largest body accepted (only Cloud Shell POSTs have one). */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Whether an unknown path looks like an attempt to escape the routes
 * (dot segments, encoded characters, backslashes, empty segments), which
 * gets a 400 rather than a 404. Known routes are matched exactly before
 * this is asked, so a trick can never reach a handler.
 *
 * @example
 * ```ts
 * isSuspiciousPath("/metadata/../etc/passwd"); // true
 * ```
 */
export function isSuspiciousPath(path: string): boolean {
  if (path.length === 0 || path[0] !== "/") return true;
  if (path.includes("..") || path.includes("%") || path.includes("\\") || path.includes("//")) return true;
  // Anything outside visible ASCII (control bytes, raw UTF-8) has no business in our paths.
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return true;
  }
  return false;
}

export type ParsedQuery =
  | { ok: true; params: Record<string, string> }
  | { ok: false; reason: "duplicate" | "malformed"; key: string };

/**
 * Parse `a=1&b=2` (query string or form body). Duplicate keys (compared
 * case-insensitively, as IMDS does) and broken percent-encoding are refused.
 * `+` means space only in form bodies.
 *
 * @example
 * ```ts
 * parseQuery("api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net");
 * // { ok: true, params: { "api-version": "2018-02-01", resource: "https://vault.azure.net" } }
 * parseQuery("resource=a&resource=b"); // { ok: false, reason: "duplicate", key: "resource" }
 * ```
 */
export function parseQuery(search: string, form = false): ParsedQuery {
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  const seen = new Set<string>();
  if (search.length === 0) return { ok: true, params };
  let start = 0;
  while (start <= search.length) {
    let end = search.indexOf("&", start);
    if (end < 0) end = search.length;
    if (end > start) {
      const eq = search.indexOf("=", start);
      const hasValue = eq >= 0 && eq < end;
      const rawKey = search.slice(start, hasValue ? eq : end);
      const rawValue = hasValue ? search.slice(eq + 1, end) : "";
      const key = decode(rawKey, form);
      const value = decode(rawValue, form);
      if (key === undefined) return { ok: false, reason: "malformed", key: rawKey.slice(0, 64) };
      if (value === undefined) return { ok: false, reason: "malformed", key };
      const lower = key.toLowerCase();
      if (seen.has(lower)) return { ok: false, reason: "duplicate", key };
      seen.add(lower);
      params[key] = value;
    }
    start = end + 1;
  }
  return { ok: true, params };
}

function decode(text: string, form: boolean): string | undefined {
  const s = form && text.includes("+") ? text.replace(/\+/g, " ") : text;
  if (!s.includes("%")) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/**
 * Compare a header value with a secret in constant time (for equal
 * lengths; a length mismatch is not a secret worth hiding).
 *
 * @example
 * ```ts
 * const secret = Buffer.from(randomHex);
 * secretMatches(req.headers["x-identity-header"], secret);
 * ```
 */
export function secretMatches(value: string | string[] | undefined, secret: Buffer): boolean {
  if (typeof value !== "string") return false;
  const given = Buffer.from(value, "utf8");
  if (given.length !== secret.length) return false;
  return timingSafeEqual(given, secret);
}

/**
 * Whether a `Host` header names this machine by a loopback address or
 * `localhost`. A server bound to loopback answers only such requests, so a
 * web page that re-binds its own DNS name to 127.0.0.1 cannot reach it
 * (DNS-rebinding protection; the IMDS dialect has no secret).
 *
 * @example
 * ```ts
 * isLoopbackHostHeader("127.0.0.1:4000"); // true
 * isLoopbackHostHeader("evil.example:4000"); // false
 * ```
 */
export function isLoopbackHostHeader(value: string | undefined): boolean {
  const name = hostHeaderName(value);
  if (name === undefined) return false;
  if (name === "localhost" || name === "::1") return true;
  if (!name.startsWith("127.")) return false;
  const parts = name.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** Domains never delegated in public DNS, so no web page can re-bind a name in them. */
const PRIVATE_NAME_SUFFIXES: readonly string[] = [".internal", ".localhost"];

/**
 * Whether a `Host` header names this machine the way a client that reaches
 * a server bound beyond loopback does: by an IP address, `localhost`, the
 * machine's own host name (`ownNames`, lower case), or a name in a domain no
 * one can register in public DNS: `.internal` (reserved by ICANN for private
 * use, 2024), where container runtimes name the host (`host.docker.internal`,
 * `host.containers.internal`, `host.lima.internal`, ...), and `.localhost`
 * (RFC 6761). Any other name is refused there too: a web page that re-binds
 * its own DNS name to this machine's address would otherwise get the IMDS
 * dialect's tokens with nothing but `Metadata: true`, which a page may send
 * to its own origin.
 *
 * @example
 * ```ts
 * isDirectHostHeader("172.17.0.1:4000", new Set(["laptop"])); // true
 * isDirectHostHeader("host.docker.internal:4000", new Set()); // true
 * isDirectHostHeader("evil.example:4000", new Set()); // false
 * ```
 */
export function isDirectHostHeader(value: string | undefined, ownNames: ReadonlySet<string>): boolean {
  const name = hostHeaderName(value);
  if (name === undefined) return false;
  if (isIP(name) !== 0 || name === "localhost" || ownNames.has(name)) return true;
  return PRIVATE_NAME_SUFFIXES.some((suffix) => name.endsWith(suffix) && name.length > suffix.length);
}

/**
 * Whether a `Host` header names one of `names` (lower case), whatever its port.
 *
 * @example
 * ```ts
 * isAllowedHostHeader("MyApp.test:4000", new Set(["myapp.test"])); // true
 * ```
 */
export function isAllowedHostHeader(value: string | undefined, names: ReadonlySet<string>): boolean {
  if (names.size === 0) return false;
  const name = hostHeaderName(value);
  return name !== undefined && names.has(name);
}

/**
 * The host name or address of a `Host` header (without port or brackets,
 * lower case); `undefined` when malformed, including a port that is not
 * digits (`name:abc`, `name:1:2`: RFC 9110 allows digits only, or none).
 */
function hostHeaderName(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.startsWith("[")) {
    const end = value.indexOf("]");
    if (end < 0 || !isPortPart(value.slice(end + 1))) return undefined;
    const inside = value.slice(1, end);
    // Brackets hold an IPv6 address, nothing else (isIP also takes one with a zone id: still an address, never a name).
    return isIP(inside) === 6 ? inside.toLowerCase() : undefined;
  }
  const colon = value.indexOf(":");
  if (colon >= 0 && !isPortPart(value.slice(colon))) return undefined;
  return (colon < 0 ? value : value.slice(0, colon)).toLowerCase();
}

/** What may follow a Host header's name: nothing, or `:` and up to five digits. */
function isPortPart(rest: string): boolean {
  if (rest === "") return true;
  if (rest.charCodeAt(0) !== 0x3a || rest.length > 6) return false;
  for (let i = 1; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * Read a request body up to `limit` bytes; resolves `undefined` (and stops
 * reading) when the body is larger.
 *
 * @example
 * ```ts
 * const body = await readBody(req, MAX_BODY_BYTES);
 * if (!body) return tooLarge(res);
 * ```
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (value: Buffer | undefined) => {
      if (done) return;
      done = true;
      req.removeListener("data", onData);
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        finish(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => finish(Buffer.concat(chunks, size)));
    req.once("error", () => finish(undefined));
    req.once("close", () => finish(size <= limit && req.complete ? Buffer.concat(chunks, size) : undefined));
  });
}
