/**
 * URL-level requests for identity endpoints. `send()` validates its options,
 * resolves the host under the same deadline (`localhost` and numeric IPs
 * without DNS), then hands plain HTTP to the active transport (native addon,
 * or node:net fallback) and HTTPS (Service Fabric) to node:https with
 * optional certificate-thumbprint pinning. Proxy variables are never used:
 * identity endpoints are loopback or link-local. One deadline covers the
 * whole call.
 *
 * Why one file: this module is ALL that requiring the transport loads (plus
 * the addon), and on a cold start every extra CommonJS file costs ~0.3–0.5 ms
 * of resolve + read + compile + wrap (issue 2 asks for under 5 ms, of which
 * Node's own first require takes ~3 ms). So the five parts that were always
 * loaded together — argument checks (was validate.ts), the addon loader and
 * native `Transport` (was native.ts), the transport choice (was active.ts),
 * URL parsing and `send()` — live here in that order, as sections; importers
 * use this module. Everything else (the node:net fallback, the parser, TLS, DNS, error
 * formatting) loads on first use. Nothing is computed at module load but
 * one 128-byte table (CHAR_CLASSES): no path resolution, no regex, no env reads.
 */
import type { TransportError } from "../errors";
import type { ProbeResult, RawRequest, RawResponse, Transport } from "./types";

// errors.ts and facts.ts are needed only on the DNS and failure paths: load
// them there, so requiring the transport costs fewer module loads.
const errors = (): typeof import("../errors") => require("../errors") as typeof import("../errors");

/**
 * Milliseconds on the monotonic clock: the same as `nowMs()` of
 * src/clock.ts, repeated here so the load path is one file.
 */
function nowMs(): number {
  return process.uptime() * 1e3;
}

// ─── Argument checks (was validate.ts) ──────────────────────────────────────
// Every transport argument is checked once, at the public edge, with messages
// that name the option and the fix (as better-sqlite3 does before touching
// C++). Both transports receive the same normalised request, so a
// non-numeric host or a header that would break framing never reaches C++
// or a socket.


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

// Character classes as loops over char codes, not regexes: a fresh process
// compiles a regex the first time it runs and, with V8's regexp tier-up,
// again to machine code the second time — 50–250 µs per pattern, about
// 0.8 ms over a first token. A loop runs in the interpreter from its first
// call. (Exact equivalents of the patterns they replace, noted on each.)

const C_TOKEN = 1; // RFC 9110 tchar: [!#$%&'*+\-.^_`|~0-9A-Za-z]
const C_HOST = 2; // what a plain URL's host may hold: [a-z0-9.-]
const C_PATH = 4; // a plain URL's path characters: [A-Za-z0-9._~!$&'()*+,;=:@%/-]
const C_QUERY = 8; // a plain URL's query characters: [A-Za-z0-9._~!$&()*+,;=:@/?%-]
/**
 * The class bits of every ASCII code, as the four sets above define them.
 * Written out rather than built from those sets on first use: building it
 * (four loops over ~280 characters, in the interpreter) cost every first
 * token ~0.1 ms (CPU profiles of 30 fresh processes). Exported for
 * test/transport/charClasses.spec.ts, which rebuilds it from the sets and
 * compares.
 */
// prettier-ignore
export const CHAR_CLASSES: Readonly<Uint8Array> = new Uint8Array([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //   control characters
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //   control characters
  0, 13, 0, 1, 13, 13, 13, 5, 12, 12, 13, 13, 12, 15, 15, 12, //  !"#$%&'()*+,-./
  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 12, 12, 0, 12, 0, 8, // 0123456789:;<=>?
  12, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, // @ABCDEFGHIJKLMNO
  13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 0, 0, 0, 1, 13, // PQRSTUVWXYZ[\]^_
  1, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, // `abcdefghijklmno
  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 0, 1, 0, 13, 0, // pqrstuvwxyz{|}~ DEL
]);

/** Whether char code `c` has class bit `bit`. */
function inClass(c: number, bit: number): boolean {
  return c < 128 && (CHAR_CLASSES[c]! & bit) !== 0;
}

/** Every character of `s`, from `from` on, has class bit `bit` (true for none). */
function allOf(s: string, bit: number, from = 0): boolean {
  const t = CHAR_CLASSES;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || (t[c]! & bit) === 0) return false;
  }
  return true;
}

/** Every character code of `s` is in [lo, hi]. */
function allBetween(s: string, lo: number, hi: number): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < lo || c > hi) return false;
  }
  return true;
}

/** `s` is 1 to `max` ASCII digits. */
function isDigits(s: string, max: number): boolean {
  return s.length > 0 && s.length <= max && allBetween(s, 0x30, 0x39);
}

/** A canonical dotted quad: four parts 0–255 without leading zeros (`/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.…){3}$/`). */
export function isDottedQuad(s: string): boolean {
  const parts = s.split(".");
  return parts.length === 4 && parts.every((p) => isDigits(p, 3) && (p.length === 1 || p.charCodeAt(0) !== 0x30) && Number(p) <= 255);
}

/** Hex digits, `:` and `.` only, at least one (`/^[0-9A-Fa-f:.]+$/`). */
export function isIpv6Chars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x3a) || c === 0x2e || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return s.length > 0;
}

/** Tab, space and visible ASCII (`/^[\t\x20-\x7e]*$/`). */
function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c > 0x7e) return false;
  }
  return true;
}

/**
 * True for `localhost`, `127.0.0.0/8` and `::1` (brackets and case ignored):
 * a host that is this machine.
 *
 * @example
 * ```ts
 * isLoopbackHost("127.0.0.1"); // true
 * isLoopbackHost("[::1]");     // true
 * isLoopbackHost("169.254.169.254"); // false
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

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
  if (isDottedQuad(value)) return 4;
  if (!value.includes(":") || !isIpv6Chars(value) || value.length > 45) return 0;
  try {
    // The WHATWG URL parser (already loaded at startup) implements the RFC
    // 4291 text forms, including an embedded dotted IPv4 tail.
    new URL(`http://[${value}]/`);
    return 6;
  } catch {
    return 0;
  }
}


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
  if (method.length === 0 || method.length > 32 || !allOf(method, C_TOKEN)) throw new RangeError(`${name} must be an HTTP method token such as "GET"`);
  return method;
}

/**
 * The most header fields a request may carry, counting the Host added when
 * none is given (the addon reads at most this many, native/addon.cc;
 * identity requests send three or four). Every transport applies it, so an
 * answer never depends on which one is loaded.
 *
 * @example
 * ```ts
 * if (pairs.length > MAX_REQUEST_HEADERS) console.error("too many headers");
 * ```
 */
export const MAX_REQUEST_HEADERS = 64;

function checkHeaderCount(count: number): void {
  if (count > MAX_REQUEST_HEADERS) {
    throw new RangeError(`headers: at most ${MAX_REQUEST_HEADERS} fields, Host included, can be sent (got ${count})`);
  }
}

/** Whether a header name is Host's, in any case (both transports add one when none is given). */
function isHostField(name: string): boolean {
  return name.length === 4 && name.toLowerCase() === "host";
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
  if (name.length === 0 || !allOf(name, C_TOKEN)) throw new RangeError(`${option}: ${JSON.stringify(name.slice(0, 64))} is not a valid header name`);
  // Visible ASCII, space and tab: identity headers never need more, and
  // anything else (CR, LF, NUL, non-ASCII) could split or smuggle a request.
  if (!isFieldValue(value)) {
    // Never quote the value: it may be a secret.
    throw new RangeError(`${option}: the value of ${name} contains characters not allowed in a header (CR, LF, NUL or non-ASCII)`);
  }
  // Length first: lower-casing allocates, and this runs for every header of every request.
  if (name.length === 17 && name.toLowerCase() === "transfer-encoding") {
    throw new RangeError(`${option}: Transfer-Encoding is not supported; pass the whole body and let Content-Length be set`);
  }
}

/**
 * The last ip, method and path that passed their checks. A process talks to
 * one endpoint with one or two paths, so the usual call compares strings
 * instead of running the checks again (strings are immutable: equal to one
 * that passed is as good as a re-check). They start as a symbol no argument
 * can equal (an empty string did: `ip: ""` skipped its check in a fresh
 * process). Header values are not kept: they may be secrets.
 */
const NONE_YET: unique symbol = Symbol("nothing checked yet");
const passed: { ip: string | typeof NONE_YET; method: string | typeof NONE_YET; path: string | typeof NONE_YET; host: string | typeof NONE_YET; hostIp: string } = {
  ip: NONE_YET,
  method: NONE_YET,
  path: NONE_YET,
  host: NONE_YET,
  hostIp: "",
};

/** Throws unless `path` is an origin-form path (or `*`) of encoded, visible ASCII. */
function checkPath(path: unknown): string {
  if (typeof path !== "string") throw new TypeError('path must be a string such as "/metadata/identity/oauth2/token"');
  // Origin form or `*` (`/^(\/[\x21-\x7e]*|\*)$/`).
  if (!(path === "*" || (path.charCodeAt(0) === 0x2f && allBetween(path, 0x21, 0x7e)))) {
    throw new RangeError('path must start with "/" and contain only encoded, visible ASCII (use encodeURIComponent for query values)');
  }
  return path;
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
  const ip = request.ip === passed.ip ? passed.ip : (passed.ip = checkIp(request.ip, "ip"));
  const port = checkPort(request.port, "port");
  const method = request.method === passed.method ? passed.method : (passed.method = checkMethod(request.method, "method"));
  const path = request.path === passed.path ? passed.path : (passed.path = checkPath(request.path));
  const headers: string[] = [];
  const list = request.headers;
  if (list !== undefined) {
    if (!Array.isArray(list)) throw new TypeError("headers must be an array of [name, value] pairs");
    checkHeaderCount(list.length);
    let hasHost = false;
    // Indexed, not for-of: no iterator objects while the code is still cold.
    for (let i = 0; i < list.length; i++) {
      const pair = list[i];
      if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError("headers must be an array of [name, value] pairs");
      checkHeader(pair[0], pair[1], "headers");
      if (!hasHost && isHostField(pair[0])) hasHost = true;
      headers.push(pair[0], pair[1]);
    }
    // Both transports add a Host when none is given, as send() does.
    if (!hasHost) checkHeaderCount(list.length + 1);
  }
  let body: Buffer | undefined;
  if (typeof request.body === "string") body = Buffer.from(request.body, "utf8");
  else if (Buffer.isBuffer(request.body)) body = request.body;
  else if (request.body !== undefined) throw new TypeError("body must be a string or a Buffer");
  return {
    ip,
    port,
    method,
    path,
    headers,
    body,
    timeoutMs: checkTimeout(request.timeoutMs, "timeoutMs"),
    maxHeaderBytes: checkCap(request.maxHeaderBytes, "maxHeaderBytes", DEFAULT_MAX_HEADER_BYTES, 1),
    maxBodyBytes: checkCap(request.maxBodyBytes, "maxBodyBytes", DEFAULT_MAX_BODY_BYTES, 0),
  };
}

// ─── The addon's contract (native/addon.cc) ─────────────────────────────────
// Its one export, azmiAbi6(op, ...arguments), and the NativeBinding object
// of methods the transport and the server use, built over it here.
//
// Why one export with positional arguments: a fresh process binds each
// Node-API function the addon first calls through a lookup in Node's own
// symbol tables, and where page faults are slow each lookup costs ~15 us of
// a first token. Reading an options object took four more of them, and an
// object of methods had V8 make five functions at load (README, session 17).

/** The name the addon gives its export; it carries the ABI version. */
const NATIVE_EXPORT_NAME = "azmiAbi6";

/** The addon's export as loaded (process.dlopen's module.exports). */
type NativeExport = (op: number, ...args: unknown[]) => unknown;

// The operations (native/addon.cc, enum Op).
const OP_REQUEST = 1;
const OP_REQUEST_POOL = 2;
const OP_PROBE = 3;
const OP_PROBE_POOL = 4;
const OP_DUPLICATE_LISTENER = 5;

/** What `request()`/`requestPool()` take (checked again in native/addon.cc). */
interface NativeRequestOptions {
  ip: string;
  port: number;
  method: string;
  path: string;
  /** Flat: name, value, name, value, ... */
  headers: string[];
  body?: Buffer;
  timeoutMs: number;
  maxHeaderBytes: number;
  maxBodyBytes: number;
}

/** A probe's facts (native/js_facts.h): `[outcome, elapsedUs]`, or `[outcome, elapsedUs, errno]`. */
type NativeProbeFacts = readonly [outcome: ProbeResult["outcome"], elapsedUs: number, errno?: string];

/**
 * An exchange's facts (native/js_facts.h), arrays because they cost a fresh
 * process fewer lookups in Node's symbol tables than objects (README,
 * session 18): an answer, its headers flat after the body as received
 * (lower-cased names; joinHeaders joins repeats), or a failure, whose second
 * element is its code.
 */
type NativeOutcome = NativeAnswer | NativeFailure;
// (Elapsed time in whole microseconds: create_int64 costs no fault where create_double cost one.)
type NativeAnswer = readonly [elapsedUs: number, status: number, statusText: string, body: Buffer, ...headers: string[]];
type NativeFailure = readonly [elapsedUs: number, code: string, phase: "connect" | "write" | "headers" | "body", detail: string];

/**
 * The addon as methods.
 *
 * @example
 * ```ts
 * const b: NativeBinding | null = loadNative();
 * const facts = await b?.probe("127.0.0.1", 80, 100);
 * ```
 */
export interface NativeBinding {
  /** One bounded connect stepped by this thread's event loop. */
  probe(ip: string, port: number, timeoutMs: number): Promise<NativeProbeFacts>;
  /** The same connect, blocking on a libuv pool thread. */
  probePool(ip: string, port: number, timeoutMs: number): Promise<NativeProbeFacts>;
  /** One exchange stepped by this thread's event loop (uv_poll + uv_timer), never blocking it. */
  request(options: NativeRequestOptions): Promise<NativeOutcome>;
  /** The same exchange, blocking on a libuv pool thread. */
  requestPool(options: NativeRequestOptions): Promise<NativeOutcome>;
  /** A close-on-exec duplicate of a listening TCP socket's fd (native/listener.h); throws with an errno `code` otherwise. */
  duplicateListener(fd: number): number;
  /** The export itself, for tests of its own argument checks. */
  native: NativeExport;
}

/**
 * The methods over the addon's export. Arguments go through unchecked (the
 * addon checks them again and throws a TypeError or RangeError).
 *
 * @example
 * ```ts
 * const b = bindNative(module.exports as NativeExport);
 * ```
 */
export function bindNative(native: NativeExport): NativeBinding {
  const request = (op: number, o: NativeRequestOptions): Promise<NativeOutcome> => {
    const headers = o.headers;
    const args: unknown[] = [op, o.ip, o.port, o.method, o.path, o.timeoutMs, o.maxHeaderBytes, o.maxBodyBytes, headers.length / 2];
    for (let i = 0; i < headers.length; i++) args.push(headers[i]);
    if (o.body !== undefined && o.body !== null) args.push(o.body);
    return native.apply(undefined, args as [number, ...unknown[]]) as Promise<NativeOutcome>;
  };
  return {
    probe: (ip, port, timeoutMs) => native(OP_PROBE, ip, port, timeoutMs) as Promise<NativeProbeFacts>,
    probePool: (ip, port, timeoutMs) => native(OP_PROBE_POOL, ip, port, timeoutMs) as Promise<NativeProbeFacts>,
    request: (options) => request(OP_REQUEST, options),
    requestPool: (options) => request(OP_REQUEST_POOL, options),
    duplicateListener: (fd) => native(OP_DUPLICATE_LISTENER, fd) as number,
    native,
  };
}

// ─── The native addon and its Transport (was native.ts) ─────────────────────
// Finds, loads and caches the addon (`build/Release/azmi.node`, or a
// prebuild, via node-gyp-build) on first use, and wraps it as a `Transport`.

/**
 * Which addon driver runs an exchange or a probe: `"loop"` (default; the event loop
 * wakes on the socket, no thread hop, immune to a busy libuv pool) or
 * `"pool"` (a pool thread blocks in poll(); `AZMI_NATIVE_DRIVER=pool`).
 *
 * @example
 * ```ts
 * const driver: NativeDriver = "pool";
 * ```
 */
export type NativeDriver = "loop" | "pool";

let binding: NativeBinding | null | undefined;
let loadError: string | undefined;

/**
 * The addon, or `null` when it is not built / cannot load (then
 * `nativeLoadError()` says why). Cached after the first call.
 *
 * @example
 * ```ts
 * const b = loadNative();
 * if (b) await b.probe("127.0.0.1", 80, 100);
 * ```
 */
export function loadNative(): NativeBinding | null {
  if (binding !== undefined) return binding;
  const path = require("node:path") as typeof import("node:path");
  // The package root: dist/src/transport (or dist/src/bundle) → ../../..
  // dirname, not resolve or join: __dirname is absolute and normal already,
  // and their normalising loops are another first-use cost of a first token.
  const root = path.dirname(path.dirname(path.dirname(__dirname)));
  try {
    // AZMI_NATIVE_PATH points at a specific build (e.g. the sanitizer build
    // of scripts/sanitize-native.sh). Otherwise the common case first: a
    // local node-gyp build, without node-gyp-build's directory scan; then
    // prebuilds and Debug builds through node-gyp-build.
    const override = process.env.AZMI_NATIVE_PATH;
    let loaded: unknown;
    if (override) {
      // The same way as the local build (dlopen), so both load alike.
      const module = { exports: {} as unknown };
      process.dlopen(module, path.resolve(override));
      loaded = module.exports;
    } else {
      const local = `${root}${path.sep}build${path.sep}Release${path.sep}azmi.node`;
      // process.dlopen, not require: the same load without the module
      // loader's resolution work (~0.5 ms of a first token on a slow
      // machine). No existsSync first: a stat per start for the rare case;
      // a failed dlopen asks whether the file is there at all.
      const module = { exports: {} as unknown };
      try {
        process.dlopen(module, local);
        loaded = module.exports;
      } catch (e) {
        if ((require("node:fs") as typeof import("node:fs")).existsSync(local)) throw e;
        loaded = (require("node-gyp-build") as (dir: string) => unknown)(root);
      }
    }
    // The export's name carries the ABI version (an addon built from other sources has another).
    if (typeof loaded !== "function" || loaded.name !== NATIVE_EXPORT_NAME) {
      const seen = typeof loaded === "function" ? `an export named ${JSON.stringify(loaded.name)}` : `exports of type ${typeof loaded}`;
      throw new Error(`unexpected addon ABI: ${seen}, not ${NATIVE_EXPORT_NAME} (rebuild it: npm run build:native)`);
    }
    binding = bindNative(loaded as NativeExport);
  } catch (e) {
    binding = null;
    loadError = (e as Error).message.split("\n")[0];
  }
  return binding;
}

/**
 * Why the addon could not be loaded, for diagnostics (`azmi doctor`).
 *
 * @example
 * ```ts
 * if (!loadNative()) console.error(`native addon unavailable: ${nativeLoadError()}`);
 * ```
 */
export function nativeLoadError(): string | undefined {
  loadNative();
  return loadError;
}

/**
 * How long after its deadline a pool job may take before the JS side
 * answers for it. A job that started on time always answers by its deadline;
 * one still waiting for a libuv pool thread (all busy, e.g. with other slow
 * jobs or dns.lookup) would otherwise be late by however long the queue is.
 * (The pool drivers only: the loop driver's own uv
 * timer answers at the deadline whatever the pool is doing.)
 */
const GUARD_MS = 50;

/**
 * Settles with `late()` if `job` has not settled `GUARD_MS` after the
 * deadline. The extra setImmediate lets a result that is already posted by
 * the pool (handled in libuv's poll phase, after timers) win the race.
 */
function guarded<T>(job: Promise<T>, timeoutMs: number, late: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<T>((resolve) => {
    timer = setTimeout(() => setImmediate(() => resolve(late())), timeoutMs + GUARD_MS);
    timer.unref();
  });
  return Promise.race([job, guard]).finally(() => clearTimeout(timer));
}

/**
 * One exchange of an already validated request on the addon: the hot path
 * of both `nativeTransport().request()` and `send()` (which validates its own
 * options and so skips a second pass).
 */
async function nativeExchange(b: NativeBinding, driver: NativeDriver, n: NormalizedRequest): Promise<RawResponse> {
  let r: NativeOutcome;
  if (driver === "loop") {
    r = await b.request(n);
  } else {
    const started = nowMs();
    // "ETIMEDOUT" is ErrorCode.Timeout, spelled out so errors.ts stays off the success path.
    r = await guarded<NativeOutcome>(b.requestPool(n), n.timeoutMs, () => [(nowMs() - started) * 1000, "ETIMEDOUT", "connect", "timed out"]);
  }
  if (typeof r[1] === "number") return responseFrom(r as NativeAnswer);
  const f = r as NativeFailure;
  // facts.ts (and errors.ts behind it) load on the first failure only.
  const { transportError } = require("./facts") as typeof import("./facts");
  throw transportError({
    code: f[1], phase: f[2], address: n.ip, port: n.port, timeoutMs: n.timeoutMs, elapsedMs: f[0] / 1000, detail: f[3],
    maxHeaderBytes: n.maxHeaderBytes, maxBodyBytes: n.maxBodyBytes,
  });
}

/** The answer an exchange's facts describe. */
function responseFrom(r: NativeAnswer): RawResponse {
  return { status: r[1], statusText: r[2], headers: joinHeaders(r as readonly unknown[] as readonly string[], 4), body: r[3], elapsedMs: r[0] / 1000 };
}

/**
 * Joins repeated headers with `, ` (RFC 9110 §5.3) into the record shape of
 * `RawResponse.headers`, from a flat `[name, value, ...]` list (read from
 * index `from`): one joining for every transport.
 *
 * @example
 * ```ts
 * joinHeaders(["x", "1", "x", "2"]); // { x: "1, 2" }
 * ```
 */
export function joinHeaders(flat: readonly string[], from = 0): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = from; i < flat.length; i += 2) {
    const name = flat[i]!;
    const prev = Object.prototype.hasOwnProperty.call(out, name) ? out[name] : undefined;
    const value = prev === undefined ? flat[i + 1]! : `${prev}, ${flat[i + 1]}`;
    // A peer-chosen "__proto__" must stay a plain key, not reach the prototype.
    if (name === "__proto__") Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
    else out[name] = value;
  }
  return out;
}

function makeNativeTransport(b: NativeBinding, driver: NativeDriver): Transport {
  return {
    kind: "native",
    driver,
    async probe(ip: string, port: number, timeoutMs: number): Promise<ProbeResult> {
      checkIp(ip, "ip");
      checkPort(port, "port");
      const t = checkTimeout(timeoutMs, "timeoutMs");
      let r: NativeProbeFacts;
      if (driver === "loop") {
        r = await b.probe(ip, port, t);
      } else {
        const started = nowMs();
        r = await guarded<NativeProbeFacts>(b.probePool(ip, port, t), t, () => ["timeout", (nowMs() - started) * 1000]);
      }
      const elapsedMs = r[1] / 1000;
      return r.length < 3 ? { outcome: r[0], elapsedMs } : { outcome: r[0], elapsedMs, errno: r[2] };
    },
    request(request: RawRequest): Promise<RawResponse> {
      // Validation errors reject (as from an async function), never throw synchronously.
      let n: NormalizedRequest;
      try {
        n = normalizeRequest(request);
      } catch (e) {
        return Promise.reject(e as Error);
      }
      return nativeExchange(b, driver, n);
    },
  };
}

let loopTransport: Transport | null | undefined;
let poolTransport: Transport | null | undefined;

/**
 * The native `Transport`, or `null` when the addon is unavailable. Requests
 * and probes use the event-loop driver unless `driver` (or, when omitted, the
 * env `AZMI_NATIVE_DRIVER=pool`, read on each call) picks the pool driver;
 * both give identical results and errors.
 *
 * @example
 * ```ts
 * const t = nativeTransport();
 * const res = await t?.request({ ip: "127.0.0.1", port: 8080, method: "GET", path: "/", timeoutMs: 500 });
 * const viaPool = nativeTransport("pool");
 * ```
 */
export function nativeTransport(driver?: NativeDriver): Transport | null {
  if (driver !== undefined && driver !== "loop" && driver !== "pool") {
    throw new TypeError(`nativeTransport: driver must be "loop" or "pool", got ${JSON.stringify(driver)}`);
  }
  const d: NativeDriver = driver ?? (process.env.AZMI_NATIVE_DRIVER === "pool" ? "pool" : "loop");
  if (d === "loop") {
    if (loopTransport === undefined) {
      const b = loadNative();
      loopTransport = b ? makeNativeTransport(b, d) : null;
    }
    return loopTransport;
  }
  if (poolTransport === undefined) {
    const b = loadNative();
    poolTransport = b ? makeNativeTransport(b, d) : null;
  }
  return poolTransport;
}

// ─── Which transport answers (was active.ts) ────────────────────────────────
// The native addon when it loads, else the node:net fallback.
// `AZMI_TRANSPORT=node` forces the fallback (tests, or to rule the addon
// out); `AZMI_TRANSPORT=native` insists on the addon and fails loudly when
// it is missing.

// The fallback pulls in node:net and its parser: load it only when used.
function fallbackModule(): typeof import("./fallback") {
  return require("./fallback") as typeof import("./fallback");
}

/**
 * Why the active transport was chosen, for `azmi doctor`.
 *
 * @example
 * ```ts
 * const d: TransportDiagnostics = transportDiagnostics();
 * ```
 */
export interface TransportDiagnostics {
  kind: "native" | "node";
  reason: string;
}

/**
 * The transport to use now (re-reads `AZMI_TRANSPORT` each call; the addon
 * itself is loaded once).
 *
 * @example
 * ```ts
 * const res = await activeTransport().request({ ip: "127.0.0.1", port: 80, method: "GET", path: "/", timeoutMs: 1000 });
 * ```
 */
export function activeTransport(): Transport {
  const wanted = process.env.AZMI_TRANSPORT;
  if (wanted === "node") return fallbackModule().fallbackTransport;
  const native = nativeTransport();
  if (native) return native;
  if (wanted === "native") {
    // errors.ts loads only here: the common paths never need it.
    const { AzmiError, ErrorCode } = errors();
    throw new AzmiError(
      ErrorCode.InvalidEnvironment,
      `AZMI_TRANSPORT=native but the native addon could not be loaded (${nativeLoadError()}); run "npm run build:native" or unset AZMI_TRANSPORT`,
    );
  }
  return fallbackModule().fallbackTransport;
}

/**
 * Which transport answers and why.
 *
 * @example
 * ```ts
 * transportDiagnostics(); // { kind: "native", reason: "native addon loaded" }
 * ```
 */
export function transportDiagnostics(): TransportDiagnostics {
  const wanted = process.env.AZMI_TRANSPORT;
  if (wanted === "node") return { kind: "node", reason: "AZMI_TRANSPORT=node forces the node:net fallback" };
  // Anything but "native", "node" or nothing is ignored: say so where someone looks (azmi doctor).
  const ignored = wanted && wanted !== "native" ? `; AZMI_TRANSPORT=${JSON.stringify(wanted).slice(1, -1).slice(0, 40)} ignored (it takes native or node)` : "";
  if (nativeTransport()) return { kind: "native", reason: `native addon loaded${ignored}` };
  return { kind: "node", reason: `native addon unavailable (${nativeLoadError()}); using the node:net fallback${ignored}` };
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

/**
 * Which transport plain-HTTP requests go through in this process, as far as
 * that is known without loading the addon to find out: `node` when
 * `AZMI_TRANSPORT=node` forces the fallback or the addon failed to load, else
 * `native` (loaded, or not needed yet). For reports, which must not load the
 * addon for a call that never used it (an answer from the routing tables, a
 * developer tool's token); `transportKind()` loads it to be sure.
 *
 * @example
 * ```ts
 * report.transport = transportKindSoFar(); // "native"
 * ```
 */
export function transportKindSoFar(): "native" | "node" {
  return process.env.AZMI_TRANSPORT === "node" || binding === null ? "node" : "native";
}

// ─── URLs (parseHttpUrl) ────────────────────────────────────────────────────
// http(s) URLs as azmi reads them: the seven parts of `HttpUrl`, from a plain
// URL by hand, from anything else by WHATWG `URL`.
//
// Why not always `URL`: a fresh Node process's first `new URL`, and the first
// read of each of its getters, cost about 0.5 ms together (Node compiles its
// URL code lazily), a sixth of a first token on the way to an endpoint that is
// almost always `http://169.254.169.254`, `http://127.0.0.1:PORT/...` or
// `http://localhost:PORT/...`.
//
// The hand path takes only strings that are already in WHATWG's serialized
// form, so parsing them changes nothing: lowercase `http`/`https`, a lowercase
// DNS name or a dotted-quad address, a port without leading zeros that is not
// the scheme's default, and a path and query of characters WHATWG leaves as
// they are (no dot segments, no fragment, no backslash, no userinfo). For
// those, `href` is the text itself (with the `/` WHATWG adds to an empty
// path). Everything else, including every string the hand path is unsure of,
// goes to `URL`: its answer, its errors. test/transport/httpUrl.spec.ts
// compares the two on generated strings.

/** The parts of an http(s) URL azmi reads; a WHATWG `URL` has all of them. */
export interface HttpUrl {
  readonly href: string;
  readonly protocol: string;
  readonly hostname: string;
  /** hostname, plus `:port` when the port is not the scheme's default. */
  readonly host: string;
  /** "" for the scheme's default port. */
  readonly port: string;
  readonly pathname: string;
  /** "" or "?" and the query. */
  readonly search: string;
}

/**
 * Parse `text` as an absolute http(s) URL; throws what `new URL(text)`
 * throws for text that is not a URL. Other schemes are returned as `URL`
 * returns them (the caller checks `protocol`).
 *
 * @example
 * ```ts
 * const url = parseHttpUrl("http://127.0.0.1:4000/metadata/identity/oauth2/token?api-version=2018-02-01");
 * url.port;     // "4000"
 * url.pathname; // "/metadata/identity/oauth2/token"
 * ```
 */
export function parseHttpUrl(text: string): HttpUrl {
  return plainUrl(text) ?? new URL(text);
}

/**
 * The parts of `scheme://host[:port][path][?query]` when every one of them
 * is plain (see the section's header), else `undefined`.
 */
function plainUrl(text: string): HttpUrl | undefined {
  const scheme = text.startsWith("http://") ? "http" : text.startsWith("https://") ? "https" : undefined;
  if (scheme === undefined) return undefined;
  let at = scheme.length + 3;
  const hostStart = at;
  while (at < text.length && inClass(text.charCodeAt(at), C_HOST)) at++;
  const hostname = text.slice(hostStart, at);
  if (!plainHost(hostname)) return undefined;
  let port = "";
  if (text.charCodeAt(at) === 0x3a /* : */) {
    const portStart = at + 1;
    at = portStart;
    while (at < text.length && text.charCodeAt(at) >= 0x30 && text.charCodeAt(at) <= 0x39) at++;
    port = text.slice(portStart, at);
    if (!plainPort(scheme, port)) return undefined;
  }
  const q = text.indexOf("?", at);
  const path = text.slice(at, q === -1 ? text.length : q);
  if (path !== "" && path.charCodeAt(0) !== 0x2f /* / */) return undefined; // userinfo, a fragment, a backslash...
  if (!allOf(path, C_PATH) || !plainPath(path)) return undefined;
  // (A lone "?" is kept in WHATWG's href but not in its search: left to URL.)
  const search = q === -1 ? "" : text.slice(q);
  if (search === "?" || !allOf(search, C_QUERY, 1)) return undefined;
  const protocol = `${scheme}:`;
  const host = port ? `${hostname}:${port}` : hostname;
  const pathname = path || "/";
  return { href: `${protocol}//${host}${pathname}${search}`, protocol, hostname, host, port, pathname, search };
}

/**
 * A host WHATWG keeps as written: a canonical dotted quad (four decimal
 * parts, 0–255, no leading zeros), or a name whose labels are non-empty
 * and whose last label starts with a letter (a last label that is a number,
 * `0x…` included, makes WHATWG read the host as an IPv4 address) and that
 * has no `xn--` label (punycode is decoded and checked).
 */
function plainHost(host: string): boolean {
  const labels = host.split(".");
  if (labels.some((l) => l.length === 0 || l.startsWith("xn--"))) return false;
  const last = labels[labels.length - 1]!;
  const c = last.charCodeAt(0);
  if (c >= 0x61 && c <= 0x7a) return true; // a-z: a name
  return isDottedQuad(host);
}

/** A port WHATWG keeps: at most 65535 and not the scheme's default (which it drops). */
function plainPort(scheme: string, port: string): boolean {
  if (!isDigits(port, 5) || (port.length > 1 && port.charCodeAt(0) === 0x30)) return false;
  const n = Number(port);
  return n <= 65535 && n !== (scheme === "https" ? 443 : 80);
}

/** A path without dot segments (`.`, `..`, or `%2e` spellings of them), which WHATWG removes. */
function plainPath(path: string): boolean {
  if (!path.includes(".") && !path.includes("%")) return true;
  return path.split("/").every((s) => s !== "." && s !== ".." && !s.toLowerCase().includes("%2e"));
}

// ─── send() ─────────────────────────────────────────────────────────────────

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

/**
 * The last URL string parsed and its URL. Callers ask the same endpoint
 * again and again, and parsing costs several µs on a cold path; the cached
 * URL is only read here and never handed out, so it cannot be changed.
 */
let lastUrl: { text: string; url: HttpUrl } | undefined;

function parseUrl(url: unknown): HttpUrl {
  if (url instanceof URL) return url;
  if (typeof url !== "string") throw new TypeError("url must be a string or a URL");
  if (lastUrl !== undefined && lastUrl.text === url) return lastUrl.url;
  try {
    const parsed = parseHttpUrl(url);
    lastUrl = { text: url, url: parsed };
    return parsed;
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
  const wantedMethod = options.method ?? "GET";
  const method = wantedMethod === passed.method ? passed.method : (passed.method = checkMethod(wantedMethod, "method"));
  const maxHeaderBytes = checkCap(options.maxHeaderBytes, "maxHeaderBytes", DEFAULT_MAX_HEADER_BYTES, 1);
  const maxBodyBytes = checkCap(options.maxBodyBytes, "maxBodyBytes", DEFAULT_MAX_BODY_BYTES, 0);
  const headers: Record<string, string> = options.headers ?? {};
  if (headers === null || typeof headers !== "object") throw new TypeError("headers must be an object of header names to string values");
  // Flat [name, value, ...] as the addon takes them, checked once here (the
  // request below skips normalizeRequest's second pass over the same values).
  const flat: string[] = [];
  let hasHost = false;
  for (const name in headers) {
    if (!Object.prototype.hasOwnProperty.call(headers, name)) continue;
    const value = headers[name];
    checkHeader(name, value, "headers");
    if (!hasHost && isHostField(name)) hasHost = true;
    flat.push(name, value as string);
  }
  checkHeaderCount(flat.length / 2 + (hasHost ? 0 : 1));
  let body: Buffer | undefined;
  // (No body first: Buffer.isBuffer is a Node function a GET's first call would compile only to learn that.)
  if (options.body === undefined) body = undefined;
  else if (typeof options.body === "string") body = Buffer.from(options.body, "utf8");
  else if (Buffer.isBuffer(options.body)) body = options.body;
  else throw new TypeError("body must be a string or a Buffer");

  const secure = url.protocol === "https:";
  if (!secure && url.protocol !== "http:") {
    throw new RangeError(`url must use http: or https:, got ${url.protocol}`);
  }
  let pinned: string | undefined;
  if (options.pinnedThumbprint !== undefined) {
    if (typeof options.pinnedThumbprint !== "string") throw new TypeError("pinnedThumbprint must be a string of 40 hex digits");
    const clean = options.pinnedThumbprint.replace(/:/g, "");
    if (!/^[0-9a-fA-F]{40}$/.test(clean)) throw new RangeError("pinnedThumbprint must be a SHA-1 thumbprint: 40 hex digits (colons allowed)");
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
    if (!hasHost) flat.unshift("Host", url.host);
    if (knownNoRoute(ip)) {
      // Reject once the caller awaits this promise, not before: a promise
      // that rejects while nobody holds it yet goes through Node's
      // unhandled-rejection bookkeeping, ~0.15 ms the first time in a process.
      await undefined;
      throw noRouteFailure(ip, port, left, nowMs() - started);
    }
    const transport = activeTransport();
    let res: RawResponse;
    if (transport.kind === "native") {
      // The checks normalizeRequest would repeat on the values checked above
      // (ip, method, headers, body, timeout, caps) are skipped; port and
      // path come from the URL and are checked here.
      const n: NormalizedRequest = {
        ip, port: checkPort(port, "port"), method, path: path === passed.path ? passed.path : (passed.path = checkPath(path)), headers: flat, body, timeoutMs: left, maxHeaderBytes, maxBodyBytes,
      };
      res = await nativeExchange(binding!, transport.driver ?? "loop", n);
    } else {
      const pairs: Array<[string, string]> = [];
      for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
      res = await transport.request({ ip, port, method, path, headers: pairs, body, timeoutMs: left, maxHeaderBytes, maxBodyBytes });
    }
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

/**
 * Whether a connect to `ip` is known to fail for want of any route, asked
 * only until the addon is loaded: the answer then comes from the routing
 * tables (routes.ts) and spares loading the addon (~0.9 ms of a fresh
 * process) for it; once loaded, the connect answers as fast. Never asked
 * for loopback (nor is routes.ts loaded for it), nor under
 * `AZMI_TRANSPORT=native`, which insists on the addon (and fails loudly
 * when it is missing).
 *
 * @example
 * ```ts
 * if (knownNoRoute("169.254.169.254")) return unreachable(); // inside `docker run --network none`
 * ```
 */
export function knownNoRoute(ip: string): boolean {
  if (binding !== undefined || ip.startsWith("127.") || !isDottedQuad(ip) || process.env.AZMI_TRANSPORT === "native") return false;
  const { noRouteTo } = require("./routes") as typeof import("./routes");
  return noRouteTo(ip);
}

/**
 * The failure of a connect to `ip` that `knownNoRoute` answered: what the
 * connect itself would give, said to come from the routing tables.
 *
 * @example
 * ```ts
 * if (knownNoRoute(ip)) throw noRouteFailure(ip, 80, timeoutMs, 0);
 * ```
 */
export function noRouteFailure(ip: string, port: number, timeoutMs: number, elapsedMs: number): TransportError {
  const { transportError } = require("./facts") as typeof import("./facts");
  return transportError({
    code: "ENETUNREACH", phase: "connect", address: ip, port, timeoutMs, elapsedMs,
    detail: "network unreachable (no route in this machine's routing tables)",
  });
}

/** The address for a numeric host or localhost (no DNS); undefined for names. */
function literalAddress(hostname: string): string | undefined {
  if (hostname === passed.host) return passed.hostIp;
  const ip = literalAddressOf(hostname);
  if (ip !== undefined) {
    passed.host = hostname;
    passed.hostIp = ip;
  }
  return ip;
}

function literalAddressOf(hostname: string): string | undefined {
  const bare = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  if (ipFamily(bare) !== 0) return bare;
  const lower = bare.toLowerCase();
  return lower === "localhost" || lower === "localhost." ? "127.0.0.1" : undefined;
}

function isNumericHost(hostname: string): boolean {
  return hostname.startsWith("[") || ipFamily(hostname) === 4;
}
