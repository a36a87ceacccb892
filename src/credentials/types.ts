/**
 * Shapes shared by every credential, the chain and the faces above them
 * (CLI, local endpoint, PowerShell bridge).
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";

export type { AccessToken, GetTokenOptions, TokenCredential };

/** The chain's links, in the official order, by the names the CLI and cmdlets use. */
export const LINK_NAMES = [
  "environment",
  "workload-identity",
  "managed-identity",
  "azure-cli",
  "azure-powershell",
  "azure-developer-cli",
] as const;
export type LinkName = (typeof LINK_NAMES)[number];

/** Exactly one of these selects a user-assigned identity; none means system-assigned. */
export interface IdentitySelector {
  clientId?: string;
  objectId?: string;
  /** ARM resource id of the user-assigned identity. */
  resourceId?: string;
}

/**
 * An `AccessToken` with what identity endpoints also tell us, so the MSI
 * shape can be rebuilt exactly. Plain `AccessToken` consumers ignore extras.
 */
export interface AzmiAccessToken extends AccessToken {
  tokenType?: "Bearer" | "pop";
  /** The resource (audience) the token was issued for. */
  resource?: string;
  /** Client id of the identity, when the endpoint or the token says. */
  clientId?: string;
  /** `not_before`, in ms since the epoch, when known. */
  notBeforeTimestamp?: number;
}

/**
 * Marks (non-enumerably) a token whose `client_id` is to be passed on as its
 * endpoint gave it: Cloud Shell's, which names none, so the MSI shape takes
 * none from the token's claims either (see `toMsiResponse`).
 */
export const CLIENT_ID_AS_GIVEN = Symbol.for("azmi.token.clientIdAsGiven");

/**
 * Exactly what a managed-identity endpoint returns (IMDS / Cloud Shell
 * shape): every number as a string, `client_id` only when known.
 */
export interface MsiTokenResponse {
  access_token: string;
  expires_in: string;
  expires_on: string;
  not_before: string;
  resource: string;
  token_type: string;
  client_id?: string;
}

export type LinkOutcome = "selected" | "unavailable" | "failed" | "skipped";

/** What one link of a chain did during one `getToken`. */
export interface LinkReport {
  link: LinkName | string;
  /** Class name, e.g. `ManagedIdentityCredential`. */
  credential: string;
  outcome: LinkOutcome;
  /** One line, no secrets. For managed identity it names the source (e.g. `IMDS at 127.0.0.1:4000`). */
  reason: string;
  ms: number;
}

/** What a whole chain did during one `getToken`. */
export interface ChainReport {
  links: LinkReport[];
  winner?: LinkName | string;
  /**
   * Which transport answered plain-HTTP identity requests; for a walk that
   * sent none, the one that would be tried, named without loading the addon
   * (`withTransportKnown` in msi.ts names it for sure).
   */
  transport: "native" | "node";
  /** True when the remembered winner answered without walking the chain. */
  fromMemo?: boolean;
  /** True when the chain's token cache answered (no link was asked); `links` then repeat the walk that filled it. */
  fromCache?: boolean;
  ms: number;
}

/**
 * `GetTokenOptions` plus azmi's switches. Credentials that don't know them
 * ignore them.
 */
export interface AzmiGetTokenOptions extends GetTokenOptions {
  /** Skip azmi's token caches for this call (the identity endpoint may still cache). */
  forceRefresh?: boolean;
  /** Chains: ignore the remembered winner and walk from the first link (diagnostics). */
  walkFromStart?: boolean;
}

/** What `getTokenWithReport` returns: never throws for chain outcomes. */
export interface TokenWithReport {
  token?: AzmiAccessToken;
  report: ChainReport;
  /** The error `getToken` would have thrown. */
  error?: unknown;
}
