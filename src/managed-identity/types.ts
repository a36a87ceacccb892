/**
 * What every managed-identity source looks like to the request loop
 * (`exchange.ts`): a name and endpoint for messages, a selector check done
 * before any request, and the request itself. Sources with a protocol step of
 * their own (Azure Arc's 401 challenge and identity echo) add hooks.
 *
 * @example
 * ```ts
 * const source = detectSource(process.env, {});
 * if (source.kind !== "token-exchange") source.checkSelector({ clientId });
 * ```
 */
import { CredentialUnavailableError, ErrorCode } from "../errors";
import type { IdentitySelector } from "../credentials/types";
import type { HttpUrl } from "../transport/http";
import type { RawResponse } from "../transport/types";

export type SourceKind =
  | "token-exchange"
  | "service-fabric"
  | "app-service"
  | "machine-learning"
  | "cloud-shell"
  | "azure-arc"
  | "imds";

/** One HTTP request to an identity endpoint. */
export interface MiRequest {
  url: string;
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string;
}

/** A source reached over plain HTTP(S) by our own transport. */
export interface HttpSource {
  kind: Exclude<SourceKind, "token-exchange">;
  /** Display name used in messages and logs, e.g. `IMDS`, `App Service`. */
  name: string;
  /** The token endpoint. */
  url: HttpUrl;
  /** `host:port`, for messages (never a header value). */
  endpoint: string;
  /** Service Fabric: SHA-1 thumbprint the server certificate must have. */
  pinnedThumbprint?: string;
  /**
   * IMDS chosen although some managed-identity variables are set (one half
   * of a pair): said in "unavailable" messages, which would otherwise only
   * name IMDS, e.g. "IDENTITY_ENDPOINT is set without IDENTITY_HEADER, so App Service was not used".
   */
  ignoredVariables?: string;
  /** Throws (before any request) when this source cannot serve the selector. */
  checkSelector(selector: IdentitySelector): void;
  buildRequest(resource: string, selector: IdentitySelector): MiRequest;
  /** Azure Arc: turn a 401 challenge into the authorised retry. */
  answerChallenge?(response: RawResponse, request: MiRequest): MiRequest;
  /** Azure Arc: confirm the response is for the identity we asked for. */
  verifyResponse?(response: RawResponse, selector: IdentitySelector): void;
}

/** Token exchange (AKS workload identity), delegated to @azure/identity. */
export interface TokenExchangeSource {
  kind: "token-exchange";
  name: string;
  endpoint: string;
  clientId: string;
  tenantId: string;
  tokenFilePath: string;
  authorityHost?: string;
}

export type Source = HttpSource | TokenExchangeSource;

/** Which selector is set, as `[kind, value]`, or `undefined` for system-assigned. */
export function selectedId(selector: IdentitySelector): ["clientId" | "objectId" | "resourceId", string] | undefined {
  if (selector.clientId) return ["clientId", selector.clientId];
  if (selector.objectId) return ["objectId", selector.objectId];
  if (selector.resourceId) return ["resourceId", selector.resourceId];
  return undefined;
}

/** `a=encodeURIComponent(b)&…` in the given order, skipping empty values (MSAL's rule). */
export function query(params: Array<[string, string | undefined]>): string {
  let out = "";
  for (const [k, v] of params) {
    if (v === undefined || v === "") continue;
    out += `${out ? "&" : ""}${k}=${encodeURIComponent(v)}`;
  }
  return out;
}

/** The endpoint URL with a query appended (keeping a query it already has). */
export function withQuery(url: HttpUrl, q: string): string {
  const base = url.href;
  if (!q) return base;
  return base.includes("?") ? `${base}&${q}` : `${base}?${q}`;
}

/** " Note: IDENTITY_ENDPOINT is set without IDENTITY_HEADER, …." for an "unavailable" message when IMDS stood in for a half-configured source; "" otherwise. */
export function ignoredNote(source: HttpSource): string {
  return source.ignoredVariables ? ` Note: ${source.ignoredVariables}.` : "";
}

/** `host:port` of a URL, with the scheme's default port filled in. */
export function endpointOf(url: HttpUrl): string {
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.hostname}:${port}`;
}


/**
 * "This source cannot select that identity" — raised before any request,
 * `CredentialUnavailableError` like @azure/identity (a chain may move on).
 */
export function unsupportedSelector(detail: string): CredentialUnavailableError {
  return new CredentialUnavailableError(`ManagedIdentityCredential: ${detail}`, {
    code: ErrorCode.MiUnsupportedSelector,
  });
}
