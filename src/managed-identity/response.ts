/**
 * Turning a managed-identity endpoint's answer into a token, or into a
 * description of what it said — never echoing a token or a secret.
 *
 * Expiry (spec §5.2), in order:
 * 1. `expires_on` as epoch seconds (number or numeric string), the App
 *    Service 2017 date strings (Windows `1/16/2020 5:24:12 AM +00:00`, Linux
 *    `06/20/2019 02:57:58 +00:00`) or ISO-8601;
 * 2. else `expires_in` (relative seconds, number or string).
 * A token already expired, or claiming to live longer than
 * `MAX_TOKEN_LIFETIME_MS`, is rejected with `ERR_INVALID_RESPONSE` naming
 * the field. @azure/identity instead treats date strings and `expires_in`-only
 * answers as "expires now" and re-requests on every call (checklist 47/48);
 * we parse them, because those endpoints exist and the token is valid.
 * `refresh_in` sets `refreshAfterTimestamp`; the half-life / 5-minute rules
 * live in the TokenCache.
 *
 * @example
 * ```ts
 * const token = parseTokenResponse(raw, { source: "IMDS", endpoint: "127.0.0.1:4000" });
 * token.expiresOnTimestamp; // ms since the epoch
 * ```
 */
import { isUtf8 } from "node:buffer";
import { CredentialUnavailableError, ErrorCode } from "../errors";
import { redact, registerSecret } from "../log";
import type { AzmiAccessToken } from "../credentials/types";
import type { RawResponse } from "../transport/types";

/** Managed-identity tokens live ≤ 24 h; anything beyond a week is a broken endpoint or clock. */
export const MAX_TOKEN_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;
/** How much of a non-JSON body an error message may quote (after redaction). */
export const SNIPPET_CHARS = 120;

/** Who answered, for messages: a source name and `host:port` (never a header value). */
export interface ResponseContext {
  source: string;
  endpoint: string;
  /** Clock, ms since the epoch (tests). */
  now?: number;
}

function invalid(ctx: ResponseContext, what: string, cause?: unknown): CredentialUnavailableError {
  return new CredentialUnavailableError(
    `ManagedIdentityCredential: ${ctx.source} at ${ctx.endpoint} ${what}. The endpoint is not a working managed-identity endpoint; check the environment variables that point to it.`,
    { code: ErrorCode.InvalidResponse, cause },
  );
}

/**
 * The body as text (a leading BOM dropped), or `undefined` when it is not
 * valid UTF-8. Decoding replaces every invalid sequence with U+FFFD, so a
 * text without one came from valid UTF-8, and only a text with one (invalid,
 * or a U+FFFD the endpoint really sent) needs `isUtf8`'s verdict: a first
 * token skips that call's first-use cost (~0.05–0.1 ms). Not a fatal
 * `TextDecoder`: the same answer at ~0.5 ms more on a first token.
 */
export function bodyText(body: Buffer): string | undefined {
  // (UTF-8 by default; without arguments Buffer#toString skips its encoding lookup, another first-use cost.)
  const text = body.toString();
  if (text.includes("\ufffd") && !isUtf8(body)) return undefined;
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Whether a token holds whitespace or a control character
 * (`/[\s\u0000-\u001f\u007f]/`). A JWT (base64url and dots) is left as it is
 * by `encodeURIComponent`, a builtin, which proves it clean without the
 * pattern: a fresh process compiles a regex on its first runs (~70 µs of a
 * first token). Anything else (or a lone surrogate, which it refuses) goes
 * to the pattern.
 */
export function hasSpaceOrControl(token: string): boolean {
  try {
    if (encodeURIComponent(token) === token) return false;
  } catch {
    // a lone surrogate: the pattern decides
  }
  return /[\s\u0000-\u001f\u007f]/.test(token);
}

/**
 * A short, redacted, single-line quote of a body, for error messages.
 * Redacted whole before it is flattened and cut: a secret cut in half, or
 * one whose inner spaces were folded, is no longer recognised. The cut never
 * ends inside a `[REDACTED]`.
 */
export function snippet(text: string): string {
  const flat = redact(text).replace(/[\u0000-\u001f\u007f]+/g, " ").replace(/\s+/g, " ").trim();
  if (flat.length <= SNIPPET_CHARS) return flat;
  let end = SNIPPET_CHARS;
  const marker = flat.lastIndexOf("[", end);
  if (marker >= 0 && flat.startsWith(REDACTED, marker) && marker + REDACTED.length > end) end = marker + REDACTED.length;
  return `${flat.slice(0, end)}…`;
}

const REDACTED = "[REDACTED]";

/**
 * A `Content-Type` as a message may quote it: its media type alone (a
 * parameter may carry anything an endpoint cares to echo), when that is a
 * plain `type/subtype`.
 */
function mediaType(value: string | undefined): string {
  if (value === undefined) return "no content type";
  const type = value.split(";", 1)[0]!.trim().toLowerCase();
  return type.length <= 80 && /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type) ? type : "an unusual content type";
}

/**
 * A decimal number as endpoints write them, spaces around allowed
 * (`/^\s*-?\d+(\.\d+)?\s*$/`; `trim` drops exactly `\s`). A loop, not
 * that regex: a fresh process compiles a regex on its first two uses
 * (~0.1 ms here, on every first token; see transport/http.ts).
 */
function isDecimal(value: string): boolean {
  const t = value.trim();
  const digitsFrom = (i: number): number => {
    while (i < t.length && t.charCodeAt(i) >= 0x30 && t.charCodeAt(i) <= 0x39) i++;
    return i;
  };
  const start = t.charCodeAt(0) === 0x2d /* - */ ? 1 : 0;
  const end = digitsFrom(start);
  if (end === start) return false;
  if (end === t.length) return true;
  if (t.charCodeAt(end) !== 0x2e /* . */) return false;
  const fractionEnd = digitsFrom(end + 1);
  return fractionEnd > end + 1 && fractionEnd === t.length;
}
// M/D/YYYY h:mm:ss [AM|PM] ±HH:MM — the two App Service 2017 shapes (spec §4.4.2).
const DATE_2017 = /^\s*(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2}):(\d{2})(?: ?([AaPp][Mm]))? ?([+-])(\d{2}):?(\d{2})\s*$/;
const ISO_8601 = /^\s*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?\s*$/i;

/**
 * An App Service 2017 date string in ms since the epoch, or `undefined`.
 *
 * @example
 * ```ts
 * parse2017Date("1/16/2020 5:24:12 AM +00:00"); // Date.UTC(2020, 0, 16, 5, 24, 12)
 * ```
 */
export function parse2017Date(text: string): number | undefined {
  const m = DATE_2017.exec(text);
  if (!m) return undefined;
  const [month, day, year, hour12, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as number[];
  let hour = hour12!;
  const ampm = m[7]?.toUpperCase();
  if (ampm) {
    if (hour < 1 || hour > 12) return undefined;
    hour = (hour % 12) + (ampm === "PM" ? 12 : 0);
  }
  if (month! < 1 || month! > 12 || day! < 1 || day! > 31 || hour > 23 || minute! > 59 || second! > 59) return undefined;
  const offsetMin = (m[8] === "-" ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  const utc = Date.UTC(year!, month! - 1, day!, hour, minute!, second!);
  // Date.UTC silently rolls 2/31 into March; reject instead.
  if (new Date(utc).getUTCDate() !== day) return undefined;
  return utc - offsetMin * 60_000;
}

/**
 * `expires_on` in ms since the epoch, from any shape an endpoint uses, or
 * `undefined` when the value is not a time at all.
 *
 * @example
 * ```ts
 * parseExpiresOn("1506484173");                 // 1506484173000
 * parseExpiresOn("06/20/2019 02:57:58 +00:00"); // Date.UTC(2019, 5, 20, 2, 57, 58)
 * ```
 */
export function parseExpiresOn(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value * 1000 : undefined;
  if (typeof value !== "string") return undefined;
  if (isDecimal(value)) return Number(value) * 1000;
  const d2017 = parse2017Date(value);
  if (d2017 !== undefined) return d2017;
  if (ISO_8601.test(value)) {
    const at = Date.parse(value);
    return Number.isNaN(at) ? undefined : at;
  }
  return undefined;
}

function seconds(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value === "string" && isDecimal(value)) return Number(value);
  return undefined;
}

/**
 * A successful (2xx) answer → token. Throws `CredentialUnavailableError`
 * `ERR_INVALID_RESPONSE` for anything that is not a usable token response.
 */
export function parseTokenResponse(res: RawResponse, ctx: ResponseContext): AzmiAccessToken {
  const text = bodyText(res.body);
  if (text === undefined) throw invalid(ctx, `returned a ${res.status} body that is not valid UTF-8 (${res.body.length} bytes)`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    // Quoted only when it reads as text or markup (has a space or a '<'): a
    // successful answer's body in one word may be a bare token, which no
    // pattern recognises.
    const quote = text.includes(" ") || text.includes("<") ? `: "${snippet(text)}"` : ` (${text.length} characters in one word, not quoted)`;
    throw invalid(ctx, `returned a ${res.status} body that is not JSON (${mediaType(res.headers["content-type"])})${quote}`, e instanceof Error ? new Error(e.name) : undefined);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw invalid(ctx, `returned a ${res.status} JSON body that is not an object`);
  }
  const body = json as Record<string, unknown>;
  const token = body.access_token;
  if (typeof token === "string") registerSecret(token);
  if (typeof token !== "string" || token.length === 0) {
    const got = token === undefined ? "no access_token field" : `access_token of type ${token === null ? "null" : typeof token}${token === "" ? " (empty)" : ""}`;
    throw invalid(ctx, `returned ${res.status} with ${got}`);
  }
  if (hasSpaceOrControl(token)) throw invalid(ctx, "returned an access_token containing whitespace or control characters");

  const now = ctx.now ?? Date.now();
  let expiresOn: number | undefined;
  let field = "expires_on";
  if (body.expires_on !== undefined && body.expires_on !== null && body.expires_on !== "") {
    expiresOn = parseExpiresOn(body.expires_on);
    if (expiresOn === undefined) {
      throw invalid(ctx, `returned an expires_on that is neither epoch seconds nor a date: ${JSON.stringify(snippet(String(body.expires_on)))}`);
    }
  } else {
    field = "expires_in";
    const inSec = seconds(body.expires_in);
    if (inSec === undefined) throw invalid(ctx, "returned a token without a usable expires_on or expires_in");
    expiresOn = now + inSec * 1000;
  }
  if (expiresOn <= now) {
    if (field === "expires_in") {
      // A relative lifetime does not depend on either clock: it is simply not a lifetime.
      throw invalid(ctx, `returned a token whose expires_in (${JSON.stringify(snippet(String(body.expires_in)))}) is not a positive number of seconds`);
    }
    throw invalid(ctx, `returned a token whose ${field} (${new Date(expiresOn).toISOString()}) is already in the past; check the clock of this machine and of the endpoint`);
  }
  if (expiresOn - now > MAX_TOKEN_LIFETIME_MS) {
    const when = Number.isFinite(new Date(expiresOn).getTime()) && expiresOn < 8.64e15 ? new Date(expiresOn).toISOString() : String(expiresOn);
    // Epoch milliseconds where seconds belong: the value read as milliseconds is a plausible expiry.
    const asMs = expiresOn / 1000;
    const hint = field === "expires_on" && asMs > now && asMs - now <= MAX_TOKEN_LIFETIME_MS ? `; it looks like epoch milliseconds (${new Date(asMs).toISOString()}), but expires_on is epoch seconds` : "";
    throw invalid(ctx, `returned an absurd ${field} (${when}, more than 7 days ahead${hint})`);
  }

  const result: AzmiAccessToken = { token, expiresOnTimestamp: Math.floor(expiresOn), tokenType: "Bearer" };
  const refreshIn = seconds(body.refresh_in);
  if (refreshIn !== undefined && refreshIn > 0) {
    const at = now + refreshIn * 1000;
    if (at < expiresOn) result.refreshAfterTimestamp = Math.floor(at);
  }
  if (typeof body.resource === "string") result.resource = body.resource;
  if (typeof body.client_id === "string") result.clientId = body.client_id;
  const nbf = seconds(body.not_before);
  if (nbf !== undefined) result.notBeforeTimestamp = nbf * 1000;
  return result;
}

/** What an error answer said, safe to put in a message. */
export interface ErrorBody {
  /** `json` when the body parsed as a JSON object. */
  kind: "json" | "text" | "empty" | "binary";
  /** `error` (string), `error.code` or `statusCode`, when present. */
  code?: string;
  /** `error_description`, `error.message` or `message`, redacted and truncated. */
  message?: string;
  /** Redacted single-line quote of the raw body. */
  snippet: string;
  /** Full (decoded) text, for matching only — never put this in a message. */
  text: string;
}

/**
 * Read an error answer of any shape (IMDS, App Service, Service Fabric, Cloud Shell).
 *
 * @example
 * ```ts
 * readErrorBody(res); // { kind: "json", code: "invalid_request", message: "Identity not found", ... }
 * ```
 */
export function readErrorBody(res: RawResponse): ErrorBody {
  if (res.body.length === 0) return { kind: "empty", snippet: "", text: "" };
  const text = bodyText(res.body);
  if (text === undefined) return { kind: "binary", snippet: `${res.body.length} bytes, not UTF-8`, text: "" };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: "text", snippet: snippet(text), text };
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) return { kind: "text", snippet: snippet(text), text };
  const o = json as Record<string, unknown>;
  let code: string | undefined;
  let message: string | undefined;
  if (typeof o.error === "string") {
    code = o.error;
    if (typeof o.error_description === "string") message = o.error_description;
  } else if (o.error && typeof o.error === "object") {
    const e = o.error as Record<string, unknown>;
    if (typeof e.code === "string") code = e.code;
    if (typeof e.message === "string") message = e.message;
  }
  if (message === undefined && typeof o.message === "string") message = o.message;
  if (message === undefined && typeof o.Message === "string") message = o.Message;
  if (code === undefined && (typeof o.statusCode === "number" || typeof o.statusCode === "string")) code = String(o.statusCode);
  return {
    kind: "json",
    code: code === undefined ? undefined : snippet(code),
    message: message === undefined ? undefined : snippet(message),
    snippet: snippet(text),
    text,
  };
}

/**
 * `code "message"` or the snippet, for messages.
 *
 * @example
 * ```ts
 * describeErrorBody(readErrorBody(res)); // 'invalid_request "Identity not found"'
 * ```
 */
export function describeErrorBody(body: ErrorBody): string {
  if (body.kind === "empty") return "an empty body";
  if (body.kind === "json" && (body.code || body.message)) {
    return [body.code, body.message ? JSON.stringify(body.message) : undefined].filter(Boolean).join(" ");
  }
  return `"${body.snippet}"`;
}
