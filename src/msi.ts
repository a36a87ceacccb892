/**
 * The MSI-shaped face of the chain: `getManagedToken()` returns exactly the
 * JSON object a managed-identity endpoint returns (what `Invoke-RestMethod`
 * or `curl` users already parse), whichever link of the chain answered.
 * `diagnose()` walks the chain and reports every link without ever
 * returning the token (for `azmi doctor`).
 *
 * One process-wide `DefaultAzureCredential` is kept per distinct option set,
 * so the CLI bridge, the PowerShell bridge and `azmi serve` get cache hits
 * and the winner memo across calls.
 *
 * @example
 * ```ts
 * import { getManagedToken } from "azmi/msi";
 * const msi = await getManagedToken({ resource: "https://vault.azure.net" });
 * console.log(msi.access_token, msi.expires_on);
 * ```
 */
import type { ChainReport, LinkName, MsiTokenResponse, TokenCredential } from "./credentials/types";
import { AzmiError, ErrorCode } from "./errors";
import { registerSecret } from "./log";

/** Options of {@link getManagedToken} and {@link diagnose}. */
export interface GetManagedTokenOptions {
  /** Resource (audience), e.g. `https://management.azure.com`. Exactly one of `resource`/`scope`. */
  resource?: string;
  /** One scope, e.g. `https://management.azure.com/.default`. Exactly one of `resource`/`scope`. */
  scope?: string;
  /** User-assigned identity by client id (managed identity; also the workload-identity client id). */
  clientId?: string;
  /** User-assigned identity by object (principal) id. */
  objectId?: string;
  /** User-assigned identity by ARM resource id. */
  resourceId?: string;
  /** Use only this link (overrides `AZURE_TOKEN_CREDENTIALS`). */
  only?: LinkName;
  /** Never try these links. */
  exclude?: LinkName[];
  /** Tenant for Entra and developer-tool links. */
  tenantId?: string;
  /** Budget for the whole call, in ms. Default: no budget beyond each link's own. */
  timeoutMs?: number;
  /** IMDS probe budget inside the chain, in ms (default 1000). */
  probeBudgetMs?: number;
  /** Ask this credential instead of the process-wide chain. */
  credential?: TokenCredential;
  /** Bypass azmi's caches for this call. */
  forceRefresh?: boolean;
  /** Environment to read (default `process.env`); for tests and the bridge. */
  env?: NodeJS.ProcessEnv;
}

/** What {@link diagnose} returns: the chain report plus what the token looked like, never the token. */
export interface DiagnoseResult extends ChainReport {
  resource: string;
  scope: string;
  tokenAcquired: boolean;
  /** When a token was acquired: its expiry as epoch seconds, and its client id when known. */
  expiresOn?: number;
  clientId?: string;
  /** When none was: the error, without secrets. */
  error?: { name: string; code?: string; message: string };
}

/** {@link getManagedToken}'s result plus the chain report of the call. */
export interface ManagedTokenWithReport {
  msi?: MsiTokenResponse;
  report: ChainReport;
  error?: unknown;
}

/**
 * A token for one resource, in the exact MSI endpoint JSON shape.
 *
 * @example
 * ```ts
 * const { access_token } = await getManagedToken({ scope: "https://storage.azure.com/.default" });
 * ```
 */
export async function getManagedToken(options: GetManagedTokenOptions): Promise<MsiTokenResponse> {
  const { msi, error } = await getManagedTokenWithReport(options);
  if (msi) return msi;
  throw error;
}

/**
 * Like {@link getManagedToken} but never throws for chain outcomes: returns
 * the MSI object (or the error) together with the chain report.
 *
 * @example
 * ```ts
 * const { msi, report } = await getManagedTokenWithReport({ resource: "https://vault.azure.net" });
 * ```
 */
export async function getManagedTokenWithReport(options: GetManagedTokenOptions): Promise<ManagedTokenWithReport> {
  void options;
  void registerSecret;
  throw new AzmiError(ErrorCode.InvalidArgument, "getManagedToken is not implemented yet");
}

/**
 * Walk the chain for one resource and report every link; the token itself is
 * never returned.
 *
 * @example
 * ```ts
 * const report = await diagnose({ resource: "https://management.azure.com" });
 * for (const l of report.links) console.error(l.link, l.outcome, l.reason);
 * ```
 */
export async function diagnose(options: GetManagedTokenOptions): Promise<DiagnoseResult> {
  void options;
  throw new AzmiError(ErrorCode.InvalidArgument, "diagnose is not implemented yet");
}
