/**
 * `WorkloadIdentityCredential`: a Kubernetes (or any OIDC-federated)
 * workload exchanging the token in `AZURE_FEDERATED_TOKEN_FILE` for an Entra
 * ID token (spec §3). Options override `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`
 * and `AZURE_FEDERATED_TOKEN_FILE`. A missing setting makes the link
 * unavailable (at `getToken`, so chains just move on); the exchange itself is
 * delegated to `@azure/identity` (which re-reads the file after 5 minutes).
 * When Entra rejects the assertion the link is unavailable too, as in
 * `@azure/identity`'s chain (spec §10 item 61).
 *
 * @example
 * ```ts
 * const credential = new WorkloadIdentityCredential({ clientId: "<app id>" });
 * ```
 */
import type { TokenCredential } from "@azure/core-auth";
import { isAzmiError } from "../errors";
import { DelegatedCredential, ENTRA_CALL_LIMIT_MS, type Unavailability } from "./delegated";
import { withRequestTimeout } from "./requestTimeout";
import { FEDERATED_TOKEN_FILE_HINT, federatedTokenFileProblem, unsafeToReadProblem } from "./federatedTokenFile";
import { unavailable } from "./unavailable";
import { resolveEntraOptions, type EntraCredentialOptions } from "./entraOptions";
import type { AzureIdentityModule } from "./identityLoader";
import { checkOptionalString, checkTenantId } from "./validation";

export interface WorkloadIdentityCredentialOptions extends EntraCredentialOptions {
  tenantId?: string;
  clientId?: string;
  tokenFilePath?: string;
}

export class WorkloadIdentityCredential extends DelegatedCredential {
  readonly credentialName = "WorkloadIdentityCredential";
  private readonly tenantId?: string;
  private readonly clientId?: string;
  private readonly tokenFilePath?: string;
  /** Where the path came from, for messages: the option or the variable. */
  private readonly tokenFileSetting: string;
  private readonly missing?: Unavailability;
  private readonly options: Omit<WorkloadIdentityCredentialOptions, "env">;
  private readonly authorityHost?: string;

  /** @throws AzmiError `ERR_INVALID_ARGUMENT` for a malformed tenant id or a non-https authority host. */
  constructor(options: WorkloadIdentityCredentialOptions = {}) {
    super();
    options ??= {}; // null as @azure/identity takes it: no options
    checkOptionalString(options.tenantId, "tenantId");
    checkOptionalString(options.clientId, "clientId");
    checkOptionalString(options.tokenFilePath, "tokenFilePath");
    const env = options.env ?? process.env;
    this.tenantId = options.tenantId ?? (env.AZURE_TENANT_ID || undefined);
    this.clientId = options.clientId ?? (env.AZURE_CLIENT_ID || undefined);
    this.tokenFilePath = options.tokenFilePath ?? (env.AZURE_FEDERATED_TOKEN_FILE || undefined);
    this.tokenFileSetting = options.tokenFilePath ? "tokenFilePath" : "AZURE_FEDERATED_TOKEN_FILE";
    this.options = options;
    const missing: string[] = [];
    if (!this.tenantId) missing.push("AZURE_TENANT_ID");
    if (!this.clientId) missing.push("AZURE_CLIENT_ID");
    if (!this.tokenFilePath) missing.push("AZURE_FEDERATED_TOKEN_FILE");
    if (missing.length > 0) {
      this.missing = {
        reason: `${missing.join("/")} not set`,
        hint: "Set them (the AKS workload identity webhook does) or pass tenantId, clientId and tokenFilePath. To troubleshoot, visit https://aka.ms/azsdk/js/identity/workloadidentitycredential/troubleshoot.",
      };
      return;
    }
    checkTenantId(this.tenantId!, options.tenantId ? "tenantId" : "AZURE_TENANT_ID");
    const entra = resolveEntraOptions(options, env);
    this.authorityHost = entra.authorityHost;
    this.options = entra.options;
  }

  override describe(): string {
    if (this.missing) return `unavailable: ${this.missing.reason}`;
    return `federated token ${this.tokenFilePath} for app ${this.clientId} in tenant ${this.tenantId}`;
  }

  /** An Entra ID flow: a silent authority must not hold the call for good (see DelegatedCredential). */
  protected override callLimitMs(): number {
    return ENTRA_CALL_LIMIT_MS;
  }

  protected availability(): Unavailability | undefined {
    return this.missing;
  }

  protected override problemBeforeFetch(): Error | undefined {
    const unsafe = this.tokenFilePath ? unsafeToReadProblem(this.tokenFilePath) : undefined;
    if (!unsafe) return undefined;
    return unavailable(this.credentialName, `the federated token file ${this.tokenFilePath} (${this.tokenFileSetting}) ${unsafe}`, FEDERATED_TOKEN_FILE_HINT);
  }

  /**
   * A missing, unreadable or empty token file is this machine's problem, not
   * Entra ID's answer: say so, and what to do (still unavailable, as in
   * `@azure/identity`'s chain).
   */
  protected override mapError(error: unknown): Error {
    const name = (error as { name?: unknown } | null)?.name;
    if (this.tokenFilePath && name !== "AbortError" && !isAzmiError(error)) {
      const problem = federatedTokenFileProblem(this.tokenFilePath, this.tokenFileSetting);
      if (problem) return unavailable(this.credentialName, problem, FEDERATED_TOKEN_FILE_HINT, error);
    }
    return super.mapError(error);
  }

  protected override configuredClientId(): string | undefined {
    return this.clientId;
  }

  protected createInner(identity: AzureIdentityModule): TokenCredential {
    return new identity.WorkloadIdentityCredential({
      ...withRequestTimeout(this.options, ENTRA_CALL_LIMIT_MS),
      tenantId: this.tenantId,
      clientId: this.clientId,
      tokenFilePath: this.tokenFilePath,
    });
  }
}
