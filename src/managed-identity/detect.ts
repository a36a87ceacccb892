/**
 * Which managed-identity source this environment offers, in the official
 * precedence (spec §4.1, checklist 44/45):
 *
 * | # | Source              | Selected when                                                            |
 * |---|---------------------|--------------------------------------------------------------------------|
 * | 0 | token exchange      | client id (option or `AZURE_CLIENT_ID`) + `AZURE_TENANT_ID` + `AZURE_FEDERATED_TOKEN_FILE`, and `allowTokenExchange` |
 * | 1 | Service Fabric      | `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` + `IDENTITY_SERVER_THUMBPRINT`   |
 * | 2 | App Service 2019    | `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`                                  |
 * | 3 | Machine Learning / App Service 2017 | `MSI_ENDPOINT` + `MSI_SECRET`                            |
 * | 4 | Cloud Shell         | `MSI_ENDPOINT`                                                           |
 * | 5 | Azure Arc           | `IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`, or the Arc agent is installed      |
 * | 6 | IMDS                | always (base overridable with `AZURE_POD_IDENTITY_AUTHORITY_HOST`)        |
 *
 * Empty variables count as unset (.NET's rule, and MSAL JS `tryCreate`'s).
 * A malformed URL in the variable that selected a source is a
 * `CredentialUnavailableError` with code `ERR_INVALID_ENVIRONMENT` naming the
 * variable — before any request.
 *
 * @example
 * ```ts
 * const source = detectSource(process.env, { clientId: undefined, allowTokenExchange: true });
 * source.kind; // "app-service" on App Service, "imds" on a VM
 * ```
 */
import { CredentialUnavailableError, ErrorCode } from "../errors";
import { registerSecret } from "../log";
import { createAppService } from "./appService";
import { ARC_DEFAULT_ENDPOINT, arcAgentInstalled, createAzureArc } from "./azureArc";
import { createCloudShell } from "./cloudShell";
import { createImds, IMDS_DEFAULT_BASE_URL, IMDS_TOKEN_PATH } from "./imds";
import { createMachineLearning } from "./machineLearning";
import { snippet } from "./response";
import { createServiceFabric } from "./serviceFabric";
import type { Source } from "./types";
import { parseHttpUrl, type HttpUrl } from "../transport/http";

export interface DetectOptions {
  /** The credential's client id option (token exchange falls back to `AZURE_CLIENT_ID`). */
  clientId?: string;
  /** False when the chain excludes workload identity. Default true. */
  allowTokenExchange?: boolean;
}

function get(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

/**
 * Parse an endpoint variable; only http/https URLs are endpoints.
 *
 * @example
 * ```ts
 * parseEndpointVar("MSI_ENDPOINT", env.MSI_ENDPOINT!, "http://localhost:50342/oauth2/token");
 * ```
 */
export function parseEndpointVar(name: string, value: string, example: string): HttpUrl {
  let url: HttpUrl | undefined;
  try {
    url = parseHttpUrl(value);
  } catch {}
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || !url.hostname) {
    throw new CredentialUnavailableError(
      `ManagedIdentityCredential: ${name} is not an http:// or https:// URL (${JSON.stringify(snippet(withoutUserinfo(value)))}). Set it to the endpoint's URL, e.g. ${example}, or unset it.`,
      { code: ErrorCode.InvalidEnvironment },
    );
  }
  // A fragment is never sent, and what azmi appends (the query, IMDS's token
  // path) landed in it: the request went out without resource or api-version.
  // (Only when there is one: a URL setter's first use costs a fresh process ~0.2 ms.)
  // (parseHttpUrl leaves any URL with a `#` to WHATWG's URL, which has the setter.)
  if (value.includes("#")) (url as URL).hash = "";
  return url;
}

/**
 * `value` as a message may quote it (it failed to parse, so its parts are
 * guesses): everything between its scheme (`scheme:` and any slashes) and
 * its last `@` becomes `***`, where a `user:password` would be, whatever
 * characters the password holds (`/`, `?`, `#`, `\`).
 *
 * @example
 * ```ts
 * withoutUserinfo("http://me:s3cret@127.0.0.1:99999/x"); // "http://***@127.0.0.1:99999/x"
 * ```
 */
export function withoutUserinfo(value: string): string {
  const at = value.lastIndexOf("@");
  if (at < 0) return value;
  const colon = value.indexOf(":");
  let from = colon > 0 && isSchemeName(value.slice(0, colon)) ? colon + 1 : 0;
  while (value.charCodeAt(from) === 0x2f /* / */ || value.charCodeAt(from) === 0x5c /* \ */) from++;
  return at < from ? value : `${value.slice(0, from)}***${value.slice(at)}`;
}

/** A URL scheme's name: a letter, then letters, digits, `+`, `-` or `.` (RFC 3986). */
function isSchemeName(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) | 0x20;
    const letter = c >= 0x61 && c <= 0x7a;
    if (!letter && (i === 0 || !((c >= 0x30 && c <= 0x39) || text[i] === "+" || text[i] === "-" || text[i] === "."))) return false;
  }
  return text.length > 0;
}

/**
 * A secret variable that is sent as an HTTP header value must be visible
 * ASCII (inner spaces allowed). A CRLF env file leaves a trailing CR; a
 * copy-paste can add non-ASCII: say which, never echo the value.
 *
 * @example
 * ```ts
 * checkHeaderVar("IDENTITY_HEADER", env.IDENTITY_HEADER!);
 * ```
 */
export function checkHeaderVar(name: string, value: string): void {
  if (isHeaderToken(value)) return;
  const why = /[\r\n]\s*$/.test(value)
    ? "ends with a line break (an env file with CRLF line ends?)"
    : /^\s|\s$/.test(value)
      ? "starts or ends with whitespace"
      : /[^\x00-\x7f]/.test(value)
        ? "contains a non-ASCII character"
        : "contains a control character";
  throw new CredentialUnavailableError(
    `ManagedIdentityCredential: ${name} ${why}, which an HTTP header cannot carry. Set it to the exact value the platform provides.`,
    { code: ErrorCode.InvalidEnvironment },
  );
}

/**
 * Visible ASCII with inner spaces, not empty
 * (`/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/` as a loop: a fresh process
 * compiles a regex on its first runs, and this runs in every App Service
 * and Machine Learning process's first token).
 */
function isHeaderToken(value: string): boolean {
  const last = value.length - 1;
  if (last < 0) return false;
  for (let i = 0; i <= last; i++) {
    const c = value.charCodeAt(i);
    if (c > 0x7e || c < 0x20 || (c === 0x20 && (i === 0 || i === last))) return false;
  }
  return true;
}

/**
 * The IMDS base URL: `AZURE_POD_IDENTITY_AUTHORITY_HOST` or 169.254.169.254.
 *
 * @example
 * ```ts
 * imdsBase({}).href; // "http://169.254.169.254/"
 * ```
 */
export function imdsBase(env: NodeJS.ProcessEnv): HttpUrl {
  const override = get(env, "AZURE_POD_IDENTITY_AUTHORITY_HOST");
  if (!override) return IMDS_DEFAULT_BASE_URL;
  const base = parseEndpointVar("AZURE_POD_IDENTITY_AUTHORITY_HOST", override, "http://127.0.0.1:4000");
  // Every SDK appends the token path to this variable, so a value that
  // already ends with it can only ever get 404s (after ~20 s of retries).
  const tokenPathAt = tokenPathIndex(base.pathname);
  if (tokenPathAt >= 0) {
    // Quoted and suggested without any user:password (a secret), and with any path prefix kept.
    const shown = `${base.protocol}//${base.host}${base.pathname}`;
    const fixed = `${base.protocol}//${base.host}${base.pathname.slice(0, tokenPathAt)}`;
    throw new CredentialUnavailableError(
      `ManagedIdentityCredential: AZURE_POD_IDENTITY_AUTHORITY_HOST ends with the token path /metadata/identity/oauth2/token, which every SDK appends to it (${JSON.stringify(snippet(shown))}). Set it to ${fixed}, or unset it.`,
      { code: ErrorCode.InvalidEnvironment },
    );
  }
  return base;
}

/**
 * Where `pathname` ends with the IMDS token path (any case, then any
 * slashes), or -1: `/\/metadata\/identity\/oauth2\/token\/*$/i` as a loop,
 * since compiling that regex cost a fresh process's first IMDS token ~0.17 ms.
 */
function tokenPathIndex(pathname: string): number {
  let end = pathname.length;
  while (end > 0 && pathname.charCodeAt(end - 1) === 0x2f) end--;
  const at = end - IMDS_TOKEN_PATH.length;
  return at >= 0 && pathname.slice(at, end).toLowerCase() === IMDS_TOKEN_PATH ? at : -1;
}

/** The source to use, by precedence. Throws only for malformed variables. */
export function detectSource(env: NodeJS.ProcessEnv, options: DetectOptions = {}): Source {
  const clientId = options.clientId || get(env, "AZURE_CLIENT_ID");
  const tenantId = get(env, "AZURE_TENANT_ID");
  const tokenFile = get(env, "AZURE_FEDERATED_TOKEN_FILE");
  if (options.allowTokenExchange !== false && clientId && tenantId && tokenFile) {
    const authorityHost = get(env, "AZURE_AUTHORITY_HOST");
    let endpoint = "login.microsoftonline.com:443";
    if (authorityHost) {
      try {
        const u = new URL(authorityHost);
        endpoint = `${u.hostname}:${u.port || (u.protocol === "http:" ? "80" : "443")}`;
      } catch {}
    }
    return {
      kind: "token-exchange",
      name: "token exchange (workload identity)",
      endpoint,
      clientId,
      tenantId,
      tokenFilePath: tokenFile,
      authorityHost,
    };
  }

  const identityEndpoint = get(env, "IDENTITY_ENDPOINT");
  const identityHeader = get(env, "IDENTITY_HEADER");
  registerSecret(identityHeader);
  const thumbprint = get(env, "IDENTITY_SERVER_THUMBPRINT");
  if (identityEndpoint && identityHeader) checkHeaderVar("IDENTITY_HEADER", identityHeader);
  if (identityEndpoint && identityHeader && thumbprint) {
    const url = parseEndpointVar("IDENTITY_ENDPOINT", identityEndpoint, "https://localhost:2377/metadata/identity/oauth2/token");
    if (!/^[0-9a-f]{40}$/i.test(thumbprint.replace(/[\s:]/g, ""))) {
      throw new CredentialUnavailableError(
        `ManagedIdentityCredential: IDENTITY_SERVER_THUMBPRINT is not a SHA-1 thumbprint (40 hex digits) (${JSON.stringify(snippet(thumbprint))}). Set it to the Service Fabric endpoint certificate's thumbprint, or unset it.`,
        { code: ErrorCode.InvalidEnvironment },
      );
    }
    return createServiceFabric(url, identityHeader, thumbprint);
  }
  if (identityEndpoint && identityHeader) {
    const url = parseEndpointVar("IDENTITY_ENDPOINT", identityEndpoint, "http://localhost:4141/MSI/token");
    return createAppService(url, identityHeader);
  }
  const msiEndpoint = get(env, "MSI_ENDPOINT");
  const msiSecret = get(env, "MSI_SECRET");
  registerSecret(msiSecret);
  if (msiEndpoint && msiSecret) {
    checkHeaderVar("MSI_SECRET", msiSecret);
    const url = parseEndpointVar("MSI_ENDPOINT", msiEndpoint, "http://127.0.0.1:41741/MSI/token/");
    return createMachineLearning(url, msiSecret, get(env, "DEFAULT_IDENTITY_CLIENT_ID"));
  }
  if (msiEndpoint) {
    const url = parseEndpointVar("MSI_ENDPOINT", msiEndpoint, "http://localhost:50342/oauth2/token");
    return createCloudShell(url);
  }
  if ((identityEndpoint && get(env, "IMDS_ENDPOINT")) || arcAgentInstalled(env)) {
    const url = identityEndpoint
      ? parseEndpointVar("IDENTITY_ENDPOINT", identityEndpoint, ARC_DEFAULT_ENDPOINT)
      : parseHttpUrl(ARC_DEFAULT_ENDPOINT);
    return createAzureArc(url, env);
  }
  const imds = createImds(imdsBase(env));
  const half = halfPairs(identityEndpoint, identityHeader, msiEndpoint, msiSecret);
  if (half) imds.ignoredVariables = half;
  return imds;
}

/** Which managed-identity variables are set without their partner (so their source was not used), in one clause; undefined when none. */
function halfPairs(identityEndpoint?: string, identityHeader?: string, msiEndpoint?: string, msiSecret?: string): string | undefined {
  const notes: string[] = [];
  if (identityEndpoint && !identityHeader) notes.push("IDENTITY_ENDPOINT is set without IDENTITY_HEADER, so App Service was not used");
  if (identityHeader && !identityEndpoint) notes.push("IDENTITY_HEADER is set without IDENTITY_ENDPOINT, so App Service was not used");
  if (msiSecret && !msiEndpoint) notes.push("MSI_SECRET is set without MSI_ENDPOINT, so Machine Learning / App Service 2017 was not used");
  return notes.length ? notes.join("; ") : undefined;
}

/**
 * One line for diagnostics — no secrets.
 *
 * @example
 * ```ts
 * describeSource(detectSource(env)); // "IMDS at 127.0.0.1:4000"
 * ```
 */
export function describeSource(source: Source): string {
  if (source.kind === "token-exchange") return `${source.name} for client ${source.clientId} via ${source.endpoint}`;
  return `${source.name} at ${source.endpoint}`;
}
