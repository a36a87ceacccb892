/**
 * The client fault-injection matrix (issue 6 §3): every way an identity
 * endpoint can misbehave on the wire, what `ManagedIdentityCredential` must
 * do about it, and how long it may take. The same table drives the mocha
 * spec (`faultMatrix.spec.ts`) and the printed matrix (`bench/fault-matrix.ts`).
 *
 * Each case scripts the bytes of successive connections (the last step
 * repeats), points the credential at them (IMDS override, or App Service
 * variables), and states:
 * - `expect`: success, or the error `name` and `code` (exact);
 * - `requests`: how many requests the endpoint must have seen (exact);
 * - `boundMs`: generous upper bound on the whole `getToken`: the case's
 *   deadline (`budgetMs`) when one exchange settles it, three times the
 *   deadline when it retries or must wait for the deadline — never a tight
 *   wall-time assertion.
 *
 * Retry timing: computed backoff runs at 1 % (the credential's test hook,
 * `MI_TEST_TIMING`), server-requested delays (`Retry-After`, `retry-after-ms`)
 * are real, so they are kept small.
 *
 * @example
 * ```ts
 * for (const c of FAULT_CASES) console.log(c.name, describeExpectation(c));
 * ```
 */
import { randomBytes } from "node:crypto";
import { drip, hang, resetAfter, send, writeKeepOpen, type Step } from "./faultServer";

/** Per-run values a script needs: fresh tokens (recorded) and the App Service secret. */
export interface CaseContext {
  /** A new random token, recorded as issued (tests assert none leaks into errors). */
  issue(): string;
  /** The `IDENTITY_HEADER` value (App Service, Service Fabric), also the Azure Arc key. */
  identityHeader: string;
  /** Azure Arc: path of the key file holding `identityHeader` (set by the runner). */
  arcKeyFile: string;
}

export type Expectation = { ok: true } | { ok: false; name: string; code: string };

export interface FaultCase {
  name: string;
  /** Which endpoint family the credential is pointed at (default IMDS override). */
  source?: "imds" | "app-service" | "service-fabric" | "cloud-shell" | "azure-arc";
  /** Service Fabric: the server presents a certificate other than the pinned one; `plain`: it does not speak TLS at all. */
  tls?: "pinned" | "other-certificate" | "plain";
  /** Connection scripts; `"refused"` means nothing listens. */
  steps: ((ctx: CaseContext) => Step[]) | "refused";
  /** The credential's `timeBudgetMs` for this case. */
  budgetMs: number;
  expect: Expectation;
  /** Requests the endpoint must see (not checked for `"refused"`; with `tls: "plain"`, connections that sent bytes). */
  requests: number;
  /** Upper bound on the elapsed time of `getToken`. */
  boundMs: number;
}

const REASONS: Record<number, string> = {
  200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
  410: "Gone", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** Exact response bytes with `Content-Length` and `Connection: close`. */
export function http(status: number, headers: Record<string, string>, body: string | Buffer = ""): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? "Status"}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  head += `Content-Length: ${b.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), b]);
}

const JSON_TYPE = { "Content-Type": "application/json; charset=utf-8" };
const now = () => Math.floor(Date.now() / 1000);

/** An IMDS-shaped token body (strings), with fields overridden or removed (`undefined`). */
export function tokenBody(token: unknown, overrides: Record<string, unknown> = {}): string {
  const t = now();
  const body: Record<string, unknown> = {
    access_token: token, refresh_token: "", expires_in: "3600", expires_on: String(t + 3600), not_before: String(t),
    resource: "https://vault.azure.net", token_type: "Bearer",
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete body[k];
    else body[k] = v;
  }
  return JSON.stringify(body);
}

/** A normal 200 token answer with a fresh token. */
const okToken = (ctx: CaseContext) => () => http(200, JSON_TYPE, tokenBody(ctx.issue()));
const jsonError = (status: number, headers: Record<string, string> = {}) =>
  http(status, { ...JSON_TYPE, ...headers }, JSON.stringify({ error: `status_${status}`, error_description: `scripted ${status}` }));
const repeat = <T>(n: number, v: T): T[] => Array.from({ length: n }, () => v);

const DEFAULT_BUDGET = 2000;
const RETRY_BUDGET = 5000;
/** Generous: three times the call's own budget. */
const bound = (budgetMs: number) => 3 * budgetMs;
const unavailable = (code: string): Expectation => ({ ok: false, name: "CredentialUnavailableError", code });
const OK: Expectation = { ok: true };

function c(name: string, steps: FaultCase["steps"], expect: Expectation, requests: number, extra: Partial<FaultCase> = {}): FaultCase {
  // Retrying cases get room for all six attempts even when each exchange is slow on a loaded machine.
  const budgetMs = extra.budgetMs ?? (requests > 1 ? RETRY_BUDGET : DEFAULT_BUDGET);
  // A case settled by at most one exchange and no wait must end before its deadline;
  // one that waits for the deadline, or retries, gets three times the budget.
  const waits = /deadline wins|Retry-After: 1/.test(name) || requests > 1;
  return { name, steps, expect, requests, budgetMs, boundMs: waits ? bound(budgetMs) : budgetMs, ...extra };
}

/** One status answered `n` times, then (optionally) a token. */
function sequence(status: number, n: number, thenOk: boolean, headers: Record<string, string> = {}) {
  return (ctx: CaseContext) => [...repeat(n, send(jsonError(status, headers))), ...(thenOk ? [send(okToken(ctx))] : [])];
}

const VALID = (ctx: CaseContext) => tokenBody(ctx.issue());
const arcChallenge = (realm: string) => http(401, { ...JSON_TYPE, "WWW-Authenticate": `Basic realm=${realm}` }, '{"error":"unauthorized"}');

export const FAULT_CASES: FaultCase[] = [
  // --- connection level
  c("connection refused", "refused", unavailable("ECONNREFUSED"), 0),
  c("accepts, never answers (deadline wins)", () => [hang()], unavailable("ETIMEDOUT"), 1, { budgetMs: 1000 }),
  c("reset (RST) mid-headers, every time", () => [resetAfter("HTTP/1.1 200 OK\r\nContent-Ty")], unavailable("ECONNRESET"), 6),
  c("reset (RST) mid-body, every time", (ctx) => [resetAfter(() => http(200, JSON_TYPE, VALID(ctx)).subarray(0, 150))], unavailable("ECONNRESET"), 6),
  c("closed (FIN) mid-headers, every time", () => [send("HTTP/1.1 200 OK\r\nContent-Le")], unavailable("ECONNRESET"), 6),
  c("reset mid-body once, then a token", (ctx) => [resetAfter(() => http(200, JSON_TYPE, VALID(ctx)).subarray(0, 150)), send(okToken(ctx))], OK, 2),
  c("slow drip of headers, 1 byte / 100 ms (deadline wins)", (ctx) => [drip(okToken(ctx), 100)], unavailable("ETIMEDOUT"), 1, { budgetMs: 1000 }),
  c("slow drip of the body, 1 byte / 100 ms (deadline wins)", (ctx) => [drip(okToken(ctx), 100, 120)], unavailable("ETIMEDOUT"), 1, { budgetMs: 1000 }),
  // --- framing
  c("headers over the 16 KiB cap", (ctx) => [send(() => http(200, { ...JSON_TYPE, "X-Pad": "a".repeat(20_000) }, VALID(ctx)))], unavailable("ERR_HEADERS_TOO_LARGE"), 1),
  c("body over the 256 KiB cap", () => [send(() => http(200, JSON_TYPE, `{"pad":"${"a".repeat(300_000)}"}`))], unavailable("ERR_BODY_TOO_LARGE"), 1),
  c("body over the cap, chunked", () => [send(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${"40000\r\n" + "a".repeat(0x40000) + "\r\n"}10\r\n${"b".repeat(16)}\r\n0\r\n\r\n`)], unavailable("ERR_BODY_TOO_LARGE"), 1),
  c("invalid chunk size", () => [send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")], unavailable("ERR_HTTP_PARSE"), 1),
  c("chunk data not followed by CRLF", () => [send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n")], unavailable("ERR_HTTP_PARSE"), 1),
  c("valid chunked token", (ctx) => [send(() => { const b = VALID(ctx); return `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${(10).toString(16)}\r\n${b.slice(0, 10)}\r\n${(b.length - 10).toString(16)}\r\n${b.slice(10)}\r\n0\r\n\r\n`; })], OK, 1),
  c("Content-Length larger than the body (then close)", (ctx) => [send(() => { const b = VALID(ctx); return `HTTP/1.1 200 OK\r\nContent-Length: ${b.length + 50}\r\n\r\n${b}`; })], unavailable("ECONNRESET"), 6),
  c("Content-Length smaller than the body (truncated JSON)", (ctx) => [send(() => { const b = VALID(ctx); return `HTTP/1.1 200 OK\r\nContent-Length: ${b.length - 5}\r\n\r\n${b}`; })], unavailable("ERR_INVALID_RESPONSE"), 1),
  c("conflicting Content-Length headers", (ctx) => [send(() => { const b = VALID(ctx); return `HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\nContent-Length: ${b.length + 1}\r\n\r\n${b}`; })], unavailable("ERR_HTTP_PARSE"), 1),
  c("Transfer-Encoding and Content-Length together", (ctx) => [send(() => { const b = VALID(ctx); return `HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\nTransfer-Encoding: chunked\r\n\r\n${b}`; })], unavailable("ERR_HTTP_PARSE"), 1),
  c("Content-Length body, connection left open (no wait for close)", (ctx) => [writeKeepOpen(() => http(200, { ...JSON_TYPE, Connection: "keep-alive" }, VALID(ctx)).toString("latin1").replace("Connection: close\r\n", ""))], OK, 1),
  c("chunked body, connection left open (no wait for close)", (ctx) => [writeKeepOpen(() => { const b = VALID(ctx); return `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${b.length.toString(16)}\r\n${b}\r\n0\r\n\r\n`; })], OK, 1),
  c("no framing and the connection left open (deadline wins)", (ctx) => [writeKeepOpen(() => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n${VALID(ctx)}`)], unavailable("ETIMEDOUT"), 1, { budgetMs: 1000 }),
  c("HTTP/1.0, close-delimited body", (ctx) => [send(() => `HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n${VALID(ctx)}`)], OK, 1),
  c("100 Continue before the answer", (ctx) => [send(() => Buffer.concat([Buffer.from("HTTP/1.1 100 Continue\r\n\r\n"), okToken(ctx)()]))], OK, 1),
  c("duplicate headers (Content-Type twice, Server twice)", (ctx) => [send(() => { const b = VALID(ctx); return `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Type: text/plain\r\nServer: a\r\nServer: b\r\nContent-Length: ${b.length}\r\n\r\n${b}`; })], OK, 1),
  c("negative Content-Length", () => [send("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}")], unavailable("ERR_HTTP_PARSE"), 1),
  c("obs-folded header line", (ctx) => [send(() => { const b = VALID(ctx); return `HTTP/1.1 200 OK\r\nX-Long: a\r\n  folded\r\nContent-Length: ${b.length}\r\n\r\n${b}`; })], unavailable("ERR_HTTP_PARSE"), 1),
  c("not HTTP at all", () => [send("SSH-2.0-OpenSSH_9.6\r\n\r\n")], unavailable("ERR_HTTP_PARSE"), 1),
  // --- body content
  c("non-UTF-8 body on 200", () => [send(http(200, JSON_TYPE, Buffer.from([0x7b, 0x22, 0x61, 0xff, 0xfe, 0x22, 0x7d])))], unavailable("ERR_INVALID_RESPONSE"), 1),
  c("HTML page on 200 (captive proxy)", () => [send(http(200, { "Content-Type": "text/html" }, "<html><body>Sign in to the Wi-Fi</body></html>"))], unavailable("ERR_INVALID_RESPONSE"), 1),
  c("HTML error page on 500, every time", () => [send(http(500, { "Content-Type": "text/html" }, "<html><body><h1>500</h1></body></html>"))], unavailable("ERR_MI_ENDPOINT_ERROR"), 6),
  c("HTML error page on 403 (proxy refusal)", () => [send(http(403, { "Content-Type": "text/html" }, "<html>Access denied by proxy</html>"))], unavailable("ERR_MI_ENDPOINT_ERROR"), 1),
  c("UTF-8 BOM before the JSON", (ctx) => [send(() => http(200, JSON_TYPE, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(VALID(ctx))])))], OK, 1),
  c("204 No Content", () => [send("HTTP/1.1 204 No Content\r\n\r\n")], unavailable("ERR_INVALID_RESPONSE"), 1),
  c("access_token with whitespace", (ctx) => [send(() => http(200, JSON_TYPE, tokenBody(`${ctx.issue()} x`)))], unavailable("ERR_INVALID_RESPONSE"), 1),
  c("JSON without access_token", () => [send(() => http(200, JSON_TYPE, tokenBody(undefined)))], unavailable("ERR_INVALID_RESPONSE"), 1),
  c("access_token is a number", () => [send(() => http(200, JSON_TYPE, tokenBody(12345)))], unavailable("ERR_INVALID_RESPONSE"), 1),
  c("access_token is an empty string", () => [send(() => http(200, JSON_TYPE, tokenBody("")))], unavailable("ERR_INVALID_RESPONSE"), 1),
  c("JSON array instead of an object", () => [send(http(200, JSON_TYPE, "[]"))], unavailable("ERR_INVALID_RESPONSE"), 1),
  c("empty 200 body", () => [send(http(200, JSON_TYPE, ""))], unavailable("ERR_INVALID_RESPONSE"), 1),
  // --- expiry
  c("expires_on in the past", (ctx) => [send(() => http(200, JSON_TYPE, tokenBody(ctx.issue(), { expires_on: String(now() - 60), expires_in: "0" })))], unavailable("ERR_INVALID_RESPONSE"), 1),
  c("expires_on in the far future (year 2100)", (ctx) => [send(() => http(200, JSON_TYPE, tokenBody(ctx.issue(), { expires_on: "4102444800" })))], unavailable("ERR_INVALID_RESPONSE"), 1),
  c("expires_on garbage", (ctx) => [send(() => http(200, JSON_TYPE, tokenBody(ctx.issue(), { expires_on: "soon-ish" })))], unavailable("ERR_INVALID_RESPONSE"), 1),
  c("expires_on wrong type (object)", (ctx) => [send(() => http(200, JSON_TYPE, tokenBody(ctx.issue(), { expires_on: { at: 1 } })))], unavailable("ERR_INVALID_RESPONSE"), 1),
  c("no expiry at all", (ctx) => [send(() => http(200, JSON_TYPE, tokenBody(ctx.issue(), { expires_on: undefined, expires_in: undefined })))], unavailable("ERR_INVALID_RESPONSE"), 1),
  c("expires_in only (relative, accepted)", (ctx) => [send(() => http(200, JSON_TYPE, tokenBody(ctx.issue(), { expires_on: undefined })))], OK, 1),
  // --- status sequences: retried statuses end in success, or never do
  c("404 ×2 then token", sequence(404, 2, true), OK, 3),
  c("404 forever", sequence(404, 1, false), unavailable("ERR_MI_ENDPOINT_ERROR"), 6),
  c("408 ×2 then token", sequence(408, 2, true), OK, 3),
  c("408 forever", sequence(408, 1, false), unavailable("ERR_MI_ENDPOINT_ERROR"), 6),
  c("410 ×2 then token (3 s base, scaled)", sequence(410, 2, true), OK, 3),
  c("410 forever", sequence(410, 1, false), unavailable("ERR_MI_ENDPOINT_ERROR"), 6),
  c("429 without Retry-After ×2 then token", sequence(429, 2, true), OK, 3),
  c("429 without Retry-After forever", sequence(429, 1, false), unavailable("ERR_MI_ENDPOINT_ERROR"), 6),
  c("429 Retry-After: 1 then token", sequence(429, 1, true, { "Retry-After": "1" }), OK, 2, { budgetMs: 4000 }),
  c("429 retry-after-ms: 30 forever", sequence(429, 1, false, { "retry-after-ms": "30" }), unavailable("ERR_MI_ENDPOINT_ERROR"), 6),
  c("429 Retry-After: 60 (beyond the budget)", sequence(429, 1, false, { "Retry-After": "60" }), unavailable("ERR_BUDGET_EXCEEDED"), 1),
  c("503 Retry-After as an HTTP date then token", (ctx) => [send(() => jsonError(503, { "Retry-After": new Date(Date.now() + 1000).toUTCString() })), send(okToken(ctx))], OK, 2, { budgetMs: 4000 }),
  c("500 ×2 then token", sequence(500, 2, true), OK, 3),
  c("500 forever", sequence(500, 1, false), unavailable("ERR_MI_ENDPOINT_ERROR"), 6),
  c("502 then token (502 is not retried)", sequence(502, 1, true), unavailable("ERR_MI_UNREACHABLE"), 1),
  c("502 forever", sequence(502, 1, false), unavailable("ERR_MI_UNREACHABLE"), 1),
  c("503 x-ms-retry-after-ms: 20 ×2 then token", sequence(503, 2, true, { "x-ms-retry-after-ms": "20" }), OK, 3),
  c("503 forever", sequence(503, 1, false), unavailable("ERR_MI_ENDPOINT_ERROR"), 6),
  c("504 ×2 then token", sequence(504, 2, true), OK, 3),
  c("504 forever", sequence(504, 1, false), unavailable("ERR_MI_UNREACHABLE"), 6),
  c("mixed 500, 429, 503, 410, 404 then token", (ctx) => [500, 429, 503, 410, 404].map((s) => send(jsonError(s))).concat(send(okToken(ctx))), OK, 6),
  // --- IMDS-specific answers
  c("400 Identity not found", () => [send(http(400, JSON_TYPE, JSON.stringify({ error: "invalid_request", error_description: "Identity not found" })))], unavailable("ERR_MI_IDENTITY_NOT_FOUND"), 1),
  c("403 Docker Desktop 'unreachable network'", () => [send(http(403, { "Content-Type": "text/plain" }, "A socket operation was attempted to an unreachable network."))], unavailable("ERR_MI_UNREACHABLE"), 1),
  // --- App Service (secret header in play)
  c("App Service: 401 JSON refusal stops the chain", () => [send(http(401, JSON_TYPE, JSON.stringify({ statusCode: 401, message: "The X-IDENTITY-HEADER header is missing or invalid.", correlationId: "c0" })))], { ok: false, name: "AuthenticationError", code: "ERR_AUTHENTICATION_FAILED" }, 1, { source: "app-service" }),
  c("App Service: 500 echoing the identity header, forever", (ctx) => [send(() => http(500, JSON_TYPE, JSON.stringify({ statusCode: 500, message: `bad header ${ctx.identityHeader}` })))], unavailable("ERR_MI_ENDPOINT_ERROR"), 6, { source: "app-service" }),
  c("App Service: 400 HTML echoing the identity header", (ctx) => [send(() => http(400, { "Content-Type": "text/html" }, `<p>X-IDENTITY-HEADER: ${ctx.identityHeader}</p>`))], unavailable("ERR_MI_ENDPOINT_ERROR"), 1, { source: "app-service" }),
  c("App Service: malformed header line echoing the identity header", (ctx) => [send(() => `HTTP/1.1 200 OK\r\nX-Echo ${ctx.identityHeader}\r\nContent-Length: 2\r\n\r\n{}`)], unavailable("ERR_HTTP_PARSE"), 1, { source: "app-service" }),
  c("App Service: 500 whose reason phrase and headers echo the identity header", (ctx) => [send(() => `HTTP/1.1 500 ${ctx.identityHeader}\r\nX-Echo: ${ctx.identityHeader}\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops!`)], unavailable("ERR_MI_ENDPOINT_ERROR"), 6, { source: "app-service" }),
  c("App Service: invalid status line echoing the identity header", (ctx) => [send(() => `HTTP/1.1 2x0 ${ctx.identityHeader}\r\nContent-Length: 0\r\n\r\n`)], unavailable("ERR_HTTP_PARSE"), 1, { source: "app-service" }),
  c("App Service: 307 redirect elsewhere is not followed", () => [send(http(307, { Location: "http://127.0.0.1:9/steal" }, ""))], unavailable("ERR_MI_ENDPOINT_ERROR"), 1, { source: "app-service" }),
  c("App Service: 503 ×2 then token", sequence(503, 2, true), OK, 3, { source: "app-service" }),
  c("App Service: token with garbage expiry (token must not leak)", (ctx) => [send(() => http(200, JSON_TYPE, tokenBody(ctx.issue(), { expires_on: "garbage" })))], unavailable("ERR_INVALID_RESPONSE"), 1, { source: "app-service" }),
  // --- Cloud Shell (POST with a form body)
  c("Cloud Shell: 503 ×2 then token", sequence(503, 2, true), OK, 3, { source: "cloud-shell" }),
  c("Cloud Shell: AudienceNotSupported (400 nested JSON) stops the chain", () => [send(http(400, JSON_TYPE, JSON.stringify({ error: { code: "AudienceNotSupported", message: "Audience https://vault.azure.net is not a supported MSI token audience." } })))], { ok: false, name: "AuthenticationError", code: "ERR_AUTHENTICATION_FAILED" }, 1, { source: "cloud-shell" }),
  c("Cloud Shell: closed mid-headers, every time", () => [send("HTTP/1.1 200 OK\r\nContent-Le")], unavailable("ECONNRESET"), 6, { source: "cloud-shell" }),
  // --- Azure Arc (401 challenge naming a key file; the key is a secret)
  c("Azure Arc: challenge, then a token", (ctx) => [send(() => arcChallenge(ctx.arcKeyFile)), send(okToken(ctx))], OK, 2, { source: "azure-arc" }),
  c("Azure Arc: challenge, then 500s echoing the key", (ctx) => [send(() => arcChallenge(ctx.arcKeyFile)), send(() => http(500, JSON_TYPE, JSON.stringify({ error: "unknown", error_description: `bad Authorization: Basic ${ctx.identityHeader}` })))], unavailable("ERR_MI_ENDPOINT_ERROR"), 7, { source: "azure-arc" }),
  c("Azure Arc: challenge naming a file outside the tokens folder", () => [send(arcChallenge("/etc/passwd.key"))], { ok: false, name: "AuthenticationError", code: "ERR_MI_ARC_CHALLENGE" }, 1, { source: "azure-arc" }),
  c("Azure Arc: a second 401 after the key was sent", (ctx) => [send(() => arcChallenge(ctx.arcKeyFile)), send(() => arcChallenge(ctx.arcKeyFile))], { ok: false, name: "AuthenticationError", code: "ERR_AUTHENTICATION_FAILED" }, 2, { source: "azure-arc" }),
  c("Azure Arc: 401 without WWW-Authenticate", () => [send(http(401, JSON_TYPE, '{"error":"unauthorized"}'))], { ok: false, name: "AuthenticationError", code: "ERR_MI_ARC_CHALLENGE" }, 1, { source: "azure-arc" }),
  // --- Service Fabric (HTTPS, thumbprint pinned; node:tls whatever AZMI_TRANSPORT says)
  c("Service Fabric: token over TLS with the pinned certificate", (ctx) => [send(okToken(ctx))], OK, 1, { source: "service-fabric" }),
  c("Service Fabric: certificate thumbprint mismatch (secret never sent)", (ctx) => [send(okToken(ctx))], { ok: false, name: "AuthenticationError", code: "ERR_TLS_THUMBPRINT_MISMATCH" }, 0, { source: "service-fabric", tls: "other-certificate" }),
  c("Service Fabric: endpoint answers TLS with plain HTTP", () => [send(http(400, { "Content-Type": "text/plain" }, "Client sent an HTTP request to an HTTPS server."))], unavailable("ERR_TLS"), 1, { source: "service-fabric", tls: "plain" }),
  c("Service Fabric: TLS up, never answers (deadline wins)", () => [hang()], unavailable("ETIMEDOUT"), 1, { source: "service-fabric", budgetMs: 1000 }),
  c("Service Fabric: reset mid-body, every time", (ctx) => [resetAfter(() => http(200, JSON_TYPE, VALID(ctx)).subarray(0, 150))], unavailable("ECONNRESET"), 6, { source: "service-fabric" }),
  c("Service Fabric: headers over the cap", (ctx) => [send(() => http(200, { ...JSON_TYPE, "X-Pad": "a".repeat(20_000) }, VALID(ctx)))], unavailable("ERR_HEADERS_TOO_LARGE"), 1, { source: "service-fabric" }),
  c("Service Fabric: body over the cap", () => [send(() => http(200, JSON_TYPE, `{"pad":"${"a".repeat(300_000)}"}`))], unavailable("ERR_BODY_TOO_LARGE"), 1, { source: "service-fabric" }),
  c("Service Fabric: 429 retry-after-ms ×2 then token", sequence(429, 2, true, { "retry-after-ms": "20" }), OK, 3, { source: "service-fabric" }),
  c("Service Fabric: SecretHeaderNotFound (401 JSON) stops the chain", () => [send(http(401, JSON_TYPE, JSON.stringify({ error: { correlationId: "c", code: "SecretHeaderNotFound", message: "Secret is not found in the request headers." } })))], { ok: false, name: "AuthenticationError", code: "ERR_AUTHENTICATION_FAILED" }, 1, { source: "service-fabric" }),
];

/** "ok" or `Name/CODE`, for tables and messages. */
export function describeExpectation(e: Expectation): string {
  return e.ok ? "ok" : `${e.name}/${e.code}`;
}

/** A fresh context for one run. */
export function newContext(): CaseContext & { issued: string[] } {
  const issued: string[] = [];
  return {
    issued,
    arcKeyFile: "",
    identityHeader: `hdr_${randomBytes(16).toString("hex")}`,
    issue() {
      const t = `tok_${randomBytes(20).toString("hex")}`;
      issued.push(t);
      return t;
    },
  };
}
