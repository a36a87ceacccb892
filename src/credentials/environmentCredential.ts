/**
 * `EnvironmentCredential`: an Entra ID app identity configured through
 * environment variables, with `@azure/identity`'s precedence (spec §2.1):
 * client secret > certificate > username/password; anything partial ⇒
 * unavailable, with the missing variable names as the reason.
 *
 * The variables are read once, at construction. The token request itself is
 * delegated to `@azure/identity` (`ClientSecretCredential`,
 * `ClientCertificateCredential`, `UsernamePasswordCredential`), loaded on the
 * first `getToken` only.
 *
 * @example
 * ```ts
 * // AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET set
 * const token = await new EnvironmentCredential().getToken("https://vault.azure.net/.default");
 * ```
 */
import type { TokenCredential } from "@azure/core-auth";
import { readErrorText, unsafeToReadProblem } from "./federatedTokenFile";
import { registerSecret } from "./lazyLog";
import { authenticationFailure, DelegatedCredential, ENTRA_CALL_LIMIT_MS, type Unavailability } from "./delegated";
import { withRequestTimeout } from "./requestTimeout";
import { resolveEntraOptions, type EntraCredentialOptions } from "./entraOptions";
import type { AzureIdentityModule } from "./identityLoader";
import { checkTenantId } from "./validation";

const TROUBLESHOOT = "To troubleshoot, visit https://aka.ms/azsdk/js/identity/environmentcredential/troubleshoot.";

export type EnvironmentCredentialOptions = EntraCredentialOptions;

/** Which Entra flow the environment configures. */
export type EnvironmentCredentialMode = "client-secret" | "client-certificate" | "username-password";

export class EnvironmentCredential extends DelegatedCredential {
  readonly credentialName = "EnvironmentCredential";
  /** The flow the environment selected, or `undefined` when it is incomplete. */
  readonly mode?: EnvironmentCredentialMode;
  private readonly tenantId?: string;
  private readonly clientId?: string;
  private readonly vars: Readonly<Record<string, string | undefined>>;
  private readonly missing?: Unavailability;
  private readonly options: EnvironmentCredentialOptions;
  private readonly authorityHost?: string;

  /**
   * @throws AzmiError `ERR_INVALID_ARGUMENT` when the environment is complete but `AZURE_TENANT_ID`
   *   is malformed or the authority host is not https.
   */
  constructor(options: EnvironmentCredentialOptions = {}) {
    super();
    options ??= {}; // null as @azure/identity takes it: no options
    this.options = options;
    const env = options.env ?? process.env;
    const v = (name: string) => (env[name] ? env[name] : undefined);
    this.vars = {
      tenantId: v("AZURE_TENANT_ID"),
      clientId: v("AZURE_CLIENT_ID"),
      secret: v("AZURE_CLIENT_SECRET"),
      certificatePath: v("AZURE_CLIENT_CERTIFICATE_PATH"),
      certificatePassword: v("AZURE_CLIENT_CERTIFICATE_PASSWORD"),
      sendChain: v("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"),
      username: v("AZURE_USERNAME"),
      password: v("AZURE_PASSWORD"),
    };
    registerSecret(this.vars.secret);
    registerSecret(this.vars.certificatePassword);
    registerSecret(this.vars.password);
    const { tenantId, clientId, secret, certificatePath, username, password } = this.vars;
    this.tenantId = tenantId;
    this.clientId = clientId;
    if (tenantId && clientId && secret) this.mode = "client-secret";
    else if (tenantId && clientId && certificatePath) this.mode = "client-certificate";
    else if (tenantId && clientId && username && password) this.mode = "username-password";

    if (!this.mode) {
      this.missing = missingVariables(this.vars);
      return;
    }
    checkTenantId(tenantId!, "AZURE_TENANT_ID");
    const entra = resolveEntraOptions(options, env);
    this.authorityHost = entra.authorityHost;
    this.options = entra.options;
  }

  override describe(): string {
    if (!this.mode) return `unavailable: ${this.missing!.reason}`;
    const flow = this.mode.replace("-", " ");
    return `${flow} for app ${this.clientId} in tenant ${this.tenantId} at ${new URL(this.authorityHost!).host}`;
  }

  /** An Entra ID flow: a silent authority must not hold the call for good (see DelegatedCredential). */
  protected override callLimitMs(): number {
    return ENTRA_CALL_LIMIT_MS;
  }

  protected availability(): Unavailability | undefined {
    return this.missing;
  }

  protected override problemBeforeFetch(): Error | undefined {
    if (this.mode !== "client-certificate") return undefined;
    const unsafe = unsafeToReadProblem(this.vars.certificatePath!);
    if (!unsafe) return undefined;
    // The same failure as a certificate file that cannot be read (mapError below).
    return authenticationFailure(this.credentialName, new Error(`the certificate file ${this.vars.certificatePath} (AZURE_CLIENT_CERTIFICATE_PATH) ${unsafe}. ${CERTIFICATE_HINT}`));
  }

  /** Configured but refused ⇒ stop the chain, as `@azure/identity` does (spec §10 item 60). */
  protected override mapError(error: unknown): Error {
    if (this.mode === "client-certificate") {
      const problem = certificateFileProblem(this.vars.certificatePath!, error);
      if (problem) return authenticationFailure(this.credentialName, new Error(problem, { cause: error }));
    }
    return authenticationFailure(this.credentialName, error);
  }

  protected override configuredClientId(): string | undefined {
    return this.clientId;
  }

  protected createInner(identity: AzureIdentityModule): TokenCredential {
    const { tenantId, clientId, secret, certificatePath, certificatePassword, sendChain, username, password } = this.vars;
    const options = withRequestTimeout(this.options, ENTRA_CALL_LIMIT_MS);
    switch (this.mode) {
      case "client-secret":
        return new identity.ClientSecretCredential(tenantId!, clientId!, secret!, options);
      case "client-certificate":
        return new identity.ClientCertificateCredential(
          tenantId!,
          clientId!,
          { certificatePath: certificatePath!, certificatePassword },
          { ...options, sendCertificateChain: sendChain === "1" || sendChain?.toLowerCase() === "true" },
        );
      default:
        return new identity.UsernamePasswordCredential(tenantId!, clientId!, username!, password!, options);
    }
  }
}

/** The one-line reason naming exactly which variables are missing. */
function missingVariables(vars: Readonly<Record<string, string | undefined>>): Unavailability {
  const missing: string[] = [];
  if (!vars.tenantId) missing.push("AZURE_TENANT_ID");
  if (!vars.clientId) missing.push("AZURE_CLIENT_ID");
  if (!vars.secret && !vars.certificatePath) {
    if (vars.username && !vars.password) missing.push("AZURE_PASSWORD");
    else if (vars.password && !vars.username) missing.push("AZURE_USERNAME");
    else if (!vars.username) missing.push("AZURE_CLIENT_SECRET");
  }
  return {
    reason: `${missing.join("/")} not set`,
    hint:
      "Set AZURE_TENANT_ID, AZURE_CLIENT_ID and one of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_USERNAME+AZURE_PASSWORD. " +
      TROUBLESHOOT,
  };
}

const CERTIFICATE_HINT = "Point AZURE_CLIENT_CERTIFICATE_PATH at a PEM file that holds the certificate and its private key (AZURE_CLIENT_CERTIFICATE_PASSWORD when the key is encrypted)";

/**
 * Why the certificate file failed, in terms of the file and the variable
 * (`@azure/identity` says only "ENOENT: no such file or directory, open
 * '…'" or "The file at the specified path does not contain a PEM-encoded
 * certificate."). Read only after a failure. `undefined`: not the file.
 */
function certificateFileProblem(certificatePath: string, error: unknown): string | undefined {
  // Loaded here, on the failure path only: `import * as fs` copied node:fs's ~100 exports at every chain construction.
  const fs = require("node:fs") as typeof import("node:fs");
  const where = `the certificate file ${certificatePath} (AZURE_CLIENT_CERTIFICATE_PATH)`;
  const unsafe = unsafeToReadProblem(certificatePath);
  if (unsafe) return `${where} ${unsafe}. ${CERTIFICATE_HINT}`;
  try {
    fs.readFileSync(certificatePath);
  } catch (e) {
    return `${where} cannot be read (${readErrorText(e)}). ${CERTIFICATE_HINT}`;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/PEM|private key|certificate/i.test(message) && !/AADSTS/.test(message)) {
    return `${where} is not usable: ${message.split("\n", 1)[0]!.trim().replace(/\.$/, "")}. ${CERTIFICATE_HINT}`;
  }
  return undefined;
}
