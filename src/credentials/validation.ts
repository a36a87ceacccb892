/**
 * Checks shared by the Entra and developer-tool links, done once at the
 * public edge with messages that name the setting and the fix.
 *
 * @example
 * ```ts
 * checkTenantId(env.AZURE_TENANT_ID, "AZURE_TENANT_ID");
 * const host = resolveAuthorityHost(options.authorityHost, env);
 * ```
 */
import { AzmiError, ErrorCode } from "../errors";

/** Same rule as `@azure/identity`: letters, digits, `-` and `.`. */
const TENANT_ID_PATTERN = /^[0-9a-zA-Z-.]+$/;

export const DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com";

/**
 * A bad option value as a "got …" clause shows it: a number as written,
 * anything else with its type, so a refused `"5"` does not read as the
 * number 5. Strings are quoted with control characters escaped (JSON) and
 * cut at 40 characters.
 *
 * @example
 * ```ts
 * shownValue("5"); // 'the string "5"'
 * shownValue(-1);  // "-1"
 * ```
 */
export function shownValue(value: unknown): string {
  switch (typeof value) {
    case "number":
    case "bigint":
      return String(value);
    case "string":
      return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
    case "boolean":
      return `the boolean ${String(value)}`;
    case "undefined":
      return "undefined";
    case "object":
      return value === null ? "null" : Array.isArray(value) ? "an array" : "an object";
    default:
      return `a ${typeof value}`;
  }
}

/** Throws `ERR_INVALID_ARGUMENT` naming `source` when a tenant id has characters Entra never uses. */
export function checkTenantId(tenantId: string, source: string): void {
  if (!TENANT_ID_PATTERN.test(tenantId)) {
    throw new AzmiError(
      ErrorCode.InvalidArgument,
      `Invalid tenant id provided in ${source}. You can locate your tenant id by following the instructions listed here: https://learn.microsoft.com/partner-center/find-ids-and-domain-names.`,
    );
  }
}

/**
 * The authority host to use: the option, else `AZURE_AUTHORITY_HOST`, else
 * the public cloud. Non-https hosts are refused (a client secret would travel
 * in clear text), with `@azure/identity`'s wording.
 */
export function resolveAuthorityHost(option: string | undefined, env: NodeJS.ProcessEnv): string {
  const fromOption = option !== undefined && option !== "";
  const value = fromOption ? option : env.AZURE_AUTHORITY_HOST || DEFAULT_AUTHORITY_HOST;
  const source = fromOption ? "authorityHost" : "AZURE_AUTHORITY_HOST";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AzmiError(ErrorCode.InvalidArgument, `${source} is not a valid URL; use e.g. ${DEFAULT_AUTHORITY_HOST}.`);
  }
  if (url.protocol !== "https:") {
    throw new AzmiError(
      ErrorCode.InvalidArgument,
      `The authorityHost address must use the 'https' protocol. (${source} is ${url.protocol}//${url.host}; use an https:// URL.)`,
    );
  }
  return value;
}

/** `AZURE_ADDITIONALLY_ALLOWED_TENANTS` split on `;` (option wins), as `@azure/identity` does. */
export function resolveAllowedTenants(option: string[] | undefined, env: NodeJS.ProcessEnv): string[] | undefined {
  if (option !== undefined) return option;
  const raw = env.AZURE_ADDITIONALLY_ALLOWED_TENANTS;
  return raw ? raw.split(";").map((t) => t.trim()).filter((t) => t.length > 0) : undefined;
}

/** Throws a `TypeError` naming `name` unless `value` is undefined or a non-empty string. */
export function checkOptionalString(value: unknown, name: string): void {
  if (value !== undefined && (typeof value !== "string" || value.length === 0)) {
    throw new TypeError(`${name} must be a non-empty string when given; got ${typeof value === "string" ? "''" : typeof value}.`);
  }
}

/**
 * Whether a URL's host is this machine (127.0.0.0/8, ::1, localhost). Entra
 * instance discovery asks login.microsoftonline.com about the authority, which
 * can never vouch for a local one (an emulator, a test fake), so for loopback
 * authorities we turn it off instead of sending that request off the machine.
 */
export function isLoopbackUrl(value: string): boolean {
  let host: string;
  try {
    host = new URL(value).hostname;
  } catch {
    return false;
  }
  return host === "localhost" || host === "[::1]" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * What makes `id` unusable as an identity's id, or undefined: a control
 * character, or half of a UTF-16 surrogate pair (no URL or header can carry
 * it; encodeURIComponent would throw a bare URIError).
 */
export function identityIdFlaw(id: string): string | undefined {
  const half = loneSurrogateAt(id);
  for (let i = 0; i < (half < 0 ? id.length : half); i++) {
    const c = id.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return `contains a control character (${codeUnit(c)}) at position ${i}`;
  }
  return half < 0 ? undefined : loneSurrogateFlaw(id, half);
}

/**
 * Where `text` holds half of a UTF-16 surrogate pair, or -1. No UTF-8
 * encoder can send one: `encodeURIComponent` throws a bare `URIError`.
 *
 * @example
 * ```ts
 * loneSurrogateAt("https://vault.azure.net/\uD800"); // 24
 * loneSurrogateAt("caf\u00e9 \uD83D\uDE00");        // -1 (a whole pair)
 * ```
 */
export function loneSurrogateAt(text: string): number {
  // The builtin first (ES2024, in Node 20): every first token asks this of
  // its scope, and a JavaScript loop run that long is queued for V8's
  // baseline compiler, whose batch then compiles on the spot (~0.17 ms).
  if ((text as { isWellFormed?: () => boolean }).isWellFormed?.() === true) return -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++; // a whole pair
    else return i;
  }
  return -1;
}

/** The words for a lone surrogate at `at` (from `loneSurrogateAt`), after the thing's name. */
export function loneSurrogateFlaw(text: string, at: number): string {
  return `contains half of a surrogate pair (${codeUnit(text.charCodeAt(at))}) at position ${at}, which no text encoding can send`;
}

function codeUnit(c: number): string {
  return `U+${c.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** What an identity id is, for the messages that refuse one (after `identityIdFlaw`'s words). */
export const IDENTITY_ID_RULE = "an identity is named by a GUID (clientId, objectId) or an ARM resource id (resourceId)";
