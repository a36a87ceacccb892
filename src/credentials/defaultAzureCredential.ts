/**
 * `DefaultAzureCredential`: the chain users know from `@azure/identity`, in
 * its order — environment, workload identity, managed identity, Azure CLI,
 * Azure PowerShell, Azure Developer CLI — with the same switches
 * (`AZURE_TOKEN_CREDENTIALS`, `requiredEnvVars`, the managed-identity and
 * workload-identity client ids), but fast and explainable:
 * - the IMDS probe is bounded by `probeBudgetMs` (default 1000 ms) and
 *   managed identity inside the chain by `managedIdentityTimeBudgetMs`
 *   (default 3000 ms), unless managed identity was selected alone;
 * - the link that answered is remembered (as .NET does), and tokens are
 *   cached in front of the chain;
 * - `exclude` / `only` select links in code (the CLI's `--exclude`/`--only`);
 * - `lastReport` / `getTokenWithReport()` explain every link.
 *
 * Not included: VisualStudioCodeCredential and BrokerCredential (they need
 * plugins `@azure/identity` itself loads separately); `AZURE_TOKEN_CREDENTIALS=
 * VisualStudioCodeCredential` is therefore an error here.
 *
 * @example
 * ```ts
 * const credential = new DefaultAzureCredential({ managedIdentityClientId: "<client id>" });
 * const client = new SecretClient("https://myvault.vault.azure.net", credential);
 * ```
 */
import type { TokenCredential } from "@azure/core-auth";
import { AzmiError, ErrorCode } from "../errors";
import { ChainedTokenCredential, type ChainLink } from "./chainedTokenCredential";
import type { EntraCredentialOptions } from "./entraOptions";
import { parseTokenCredentials, type TokenCredentialsSelection } from "./tokenCredentialsEnv";
import { LINK_NAMES, type LinkName } from "./types";
import { shownValue } from "./validation";
import type { ManagedIdentityCredentialOptions } from "./managedIdentityCredential";

/** Default IMDS probe budget inside the chain (the SDKs' 1 s). */
export const DEFAULT_PROBE_BUDGET_MS = 1000;
/** Default budget for managed identity when it was not selected on purpose. */
export const DEFAULT_MANAGED_IDENTITY_TIME_BUDGET_MS = 3000;

/** Variables `requiredEnvVars` may name (as in `@azure/identity`). */
export type DefaultAzureCredentialEnvVars =
  | "AZURE_TOKEN_CREDENTIALS"
  | "AZURE_CLIENT_ID"
  | "AZURE_TENANT_ID"
  | "AZURE_CLIENT_SECRET"
  | "AZURE_CLIENT_CERTIFICATE_PATH"
  | "AZURE_CLIENT_CERTIFICATE_PASSWORD"
  | "AZURE_ADDITIONALLY_ALLOWED_TENANTS"
  | "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"
  | "AZURE_FEDERATED_TOKEN_FILE";

export interface DefaultAzureCredentialOptions extends EntraCredentialOptions {
  /** Tenant for the Entra and developer-tool links (default `AZURE_TENANT_ID`). */
  tenantId?: string;
  /** User-assigned managed identity by client id (also the workload-identity client id fallback). */
  managedIdentityClientId?: string;
  /** User-assigned managed identity by ARM resource id. */
  managedIdentityResourceId?: string;
  /** User-assigned managed identity by object id. */
  managedIdentityObjectId?: string;
  /** Client id for workload identity (default `managedIdentityClientId`, then `AZURE_CLIENT_ID`). */
  workloadIdentityClientId?: string;
  /** How long a developer tool may run, in ms. */
  processTimeoutInMs?: number;
  /** Throw at construction unless these variables are set and non-empty. */
  requiredEnvVars?: DefaultAzureCredentialEnvVars | DefaultAzureCredentialEnvVars[];
  /** Never try these links. Applied after `AZURE_TOKEN_CREDENTIALS` / `only`. */
  exclude?: LinkName[];
  /** .NET-style switches, same effect as listing the link in `exclude`. */
  excludeEnvironmentCredential?: boolean;
  excludeWorkloadIdentityCredential?: boolean;
  excludeManagedIdentityCredential?: boolean;
  excludeAzureCliCredential?: boolean;
  excludeAzurePowerShellCredential?: boolean;
  excludeAzureDeveloperCliCredential?: boolean;
  /** Use only this link; overrides `AZURE_TOKEN_CREDENTIALS`. `managed-identity` alone means no IMDS probe. */
  only?: LinkName;
  /** IMDS probe budget in ms (default 1000). */
  probeBudgetMs?: number;
  /** Budget for the managed-identity link in ms when it was not selected alone (default 3000). */
  managedIdentityTimeBudgetMs?: number;
}

/** `@azure/identity`'s names for the same options (one selector each there; here one type checks all three). */
export type DefaultAzureCredentialClientIdOptions = DefaultAzureCredentialOptions;
export type DefaultAzureCredentialResourceIdOptions = DefaultAzureCredentialOptions;

const EXCLUDE_FLAGS = {
  excludeEnvironmentCredential: "environment",
  excludeWorkloadIdentityCredential: "workload-identity",
  excludeManagedIdentityCredential: "managed-identity",
  excludeAzureCliCredential: "azure-cli",
  excludeAzurePowerShellCredential: "azure-powershell",
  excludeAzureDeveloperCliCredential: "azure-developer-cli",
} as const satisfies Record<string, LinkName>;

export class DefaultAzureCredential extends ChainedTokenCredential {
  /**
   * @throws AzmiError `ERR_INVALID_ENVIRONMENT` for an invalid `AZURE_TOKEN_CREDENTIALS` or a missing
   *   `requiredEnvVars` entry; `ERR_INVALID_ARGUMENT` for conflicting options or an empty chain;
   *   `TypeError`/`RangeError` for options of the wrong type.
   */
  constructor(options: DefaultAzureCredentialOptions = {}) {
    super();
    options ??= {}; // null as @azure/identity takes it: no options
    this.chainName = "DefaultAzureCredential";
    const env = options.env ?? process.env;
    validate(options);
    checkRequiredEnvVars(options.requiredEnvVars, env);
    const selection: TokenCredentialsSelection = options.only ? { kind: "all" } : parseTokenCredentials(env.AZURE_TOKEN_CREDENTIALS);
    const excluded = new Set(options.exclude ?? []);
    for (const [flag, link] of Object.entries(EXCLUDE_FLAGS)) {
      if (options[flag as keyof typeof EXCLUDE_FLAGS] === true) excluded.add(link);
    }

    const why = (link: LinkName): string | undefined => {
      if (options.only && link !== options.only) return `not selected (only ${options.only})`;
      if (selection.kind === "group" && !selection.links.includes(link)) {
        return `excluded by AZURE_TOKEN_CREDENTIALS=${selection.value}`;
      }
      if (selection.kind === "single" && selection.link !== link) return `excluded by AZURE_TOKEN_CREDENTIALS=${selection.value}`;
      if (excluded.has(link)) return "excluded by the exclude option";
      return undefined;
    };
    const miAlone =
      options.only === "managed-identity" || (selection.kind === "single" && selection.link === "managed-identity");

    // Each link's module is required when the link is first built, so a
    // process whose token comes from an early link never loads the others.
    // The developer tools' options are taken now, whenever they are built.
    const tools = toolOptions(options, env);
    /* eslint-disable @typescript-eslint/no-require-imports */
    const builders: Record<LinkName, [string, () => TokenCredential]> = {
      environment: [
        "EnvironmentCredential",
        () => {
          const { EnvironmentCredential } = require("./environmentCredential") as typeof import("./environmentCredential");
          return new EnvironmentCredential(entraOptions(options, env));
        },
      ],
      "workload-identity": [
        "WorkloadIdentityCredential",
        () => {
          const { WorkloadIdentityCredential } = require("./workloadIdentityCredential") as typeof import("./workloadIdentityCredential");
          return new WorkloadIdentityCredential({
            ...entraOptions(options, env),
            tenantId: options.tenantId,
            clientId: options.workloadIdentityClientId ?? options.managedIdentityClientId,
          });
        },
      ],
      "managed-identity": [
        "ManagedIdentityCredential",
        () => {
          const { ManagedIdentityCredential } = require("./managedIdentityCredential") as typeof import("./managedIdentityCredential");
          const mi: ManagedIdentityCredentialOptions = {
            // As @azure/identity's DefaultAzureCredential: AZURE_CLIENT_ID names the user-assigned
            // identity when no option does (its documented way to pick one in a chain).
            clientId: options.managedIdentityClientId ?? (options.managedIdentityResourceId || options.managedIdentityObjectId ? undefined : env.AZURE_CLIENT_ID || undefined),
            resourceId: options.managedIdentityResourceId,
            objectId: options.managedIdentityObjectId,
            probeImds: !miAlone,
            probeBudgetMs: options.probeBudgetMs ?? DEFAULT_PROBE_BUDGET_MS,
            timeBudgetMs: miAlone
              ? options.managedIdentityTimeBudgetMs
              : (options.managedIdentityTimeBudgetMs ?? DEFAULT_MANAGED_IDENTITY_TIME_BUDGET_MS),
            env,
            allowTokenExchange: !excluded.has("workload-identity"),
          };
          return new ManagedIdentityCredential(mi);
        },
      ],
      "azure-cli": [
        "AzureCliCredential",
        () => {
          const { AzureCliCredential } = require("./azureCliCredential") as typeof import("./azureCliCredential");
          return new AzureCliCredential({ ...tools });
        },
      ],
      "azure-powershell": [
        "AzurePowerShellCredential",
        () => {
          const { AzurePowerShellCredential } = require("./azurePowerShellCredential") as typeof import("./azurePowerShellCredential");
          return new AzurePowerShellCredential({ ...tools });
        },
      ],
      "azure-developer-cli": [
        "AzureDeveloperCliCredential",
        () => {
          const { AzureDeveloperCliCredential } = require("./azureDeveloperCliCredential") as typeof import("./azureDeveloperCliCredential");
          return new AzureDeveloperCliCredential({ ...tools });
        },
      ],
    };
    /* eslint-enable @typescript-eslint/no-require-imports */

    // The environment and workload identity links read the environment now,
    // as @azure/identity's do (a secret cleared after construction still
    // counts, and is registered for redaction at once). The later links are
    // built on the first walk that reaches them, from options taken now, so
    // a token from managed identity never loads the developer tools' modules.
    const links: ChainLink[] = LINK_NAMES.map((link) => {
      const [credentialName, build] = builders[link];
      const skipReason = why(link);
      if (skipReason) return { link, credentialName, skipReason };
      if (link !== "environment" && link !== "workload-identity") return { link, credentialName, create: build };
      try {
        return { link, credentialName, credential: build() };
      } catch (constructionError) {
        // As in @azure/identity's DAC: a link that cannot even be built is unavailable, not fatal.
        return { link, credentialName, constructionError };
      }
    });
    if (links.every((l) => l.skipReason)) {
      const what =
        selection.kind === "single" && selection.link === null
          ? `AZURE_TOKEN_CREDENTIALS=${selection.value} selects a credential azmi does not include`
          : `every link is excluded (${links.map((l) => `${l.link}: ${l.skipReason}`).join("; ")})`;
      // A bad variable is the environment's fault (as an invalid AZURE_TOKEN_CREDENTIALS value is), options the caller's.
      const byVariable = selection.kind === "single" && selection.link === null;
      throw new AzmiError(
        byVariable ? ErrorCode.InvalidEnvironment : ErrorCode.InvalidArgument,
        `DefaultAzureCredential has no credential to try: ${what}. At least one credential type must be included in the authentication flow.`,
      );
    }
    this.links = links;
  }
}

function entraOptions(options: DefaultAzureCredentialOptions, env: NodeJS.ProcessEnv): EntraCredentialOptions {
  const {
    tenantId: _t,
    managedIdentityClientId: _a,
    managedIdentityResourceId: _b,
    managedIdentityObjectId: _c,
    workloadIdentityClientId: _d,
    processTimeoutInMs: _e,
    requiredEnvVars: _f,
    exclude: _g,
    only: _h,
    probeBudgetMs: _i,
    managedIdentityTimeBudgetMs: _j,
    excludeEnvironmentCredential: _k,
    excludeWorkloadIdentityCredential: _l,
    excludeManagedIdentityCredential: _m,
    excludeAzureCliCredential: _n,
    excludeAzurePowerShellCredential: _o,
    excludeAzureDeveloperCliCredential: _p,
    ...rest
  } = options;
  return { ...rest, env };
}

function toolOptions(options: DefaultAzureCredentialOptions, env: NodeJS.ProcessEnv) {
  return {
    tenantId: options.tenantId,
    additionallyAllowedTenants: options.additionallyAllowedTenants,
    processTimeoutInMs: options.processTimeoutInMs,
    env,
  };
}

function validate(options: DefaultAzureCredentialOptions): void {
  if (options === null || typeof options !== "object") {
    throw new TypeError("DefaultAzureCredential options must be an object.");
  }
  const selectors = (["managedIdentityClientId", "managedIdentityResourceId", "managedIdentityObjectId"] as const).filter(
    (k) => options[k] !== undefined,
  );
  if (selectors.length > 1) {
    throw new AzmiError(
      ErrorCode.InvalidArgument,
      `DefaultAzureCredential: only one of managedIdentityClientId, managedIdentityResourceId or managedIdentityObjectId can be given (got ${selectors.join(
        " and ",
      )}); pass the one that identifies your user-assigned identity.`,
    );
  }
  for (const k of ["tenantId", "managedIdentityClientId", "managedIdentityResourceId", "managedIdentityObjectId", "workloadIdentityClientId"] as const) {
    const v = options[k];
    if (v !== undefined && (typeof v !== "string" || v.length === 0)) {
      throw new TypeError(`DefaultAzureCredential: ${k} must be a non-empty string when given.`);
    }
  }
  if (options.only !== undefined && !LINK_NAMES.includes(options.only)) {
    throw new TypeError(`DefaultAzureCredential: only must be one of ${LINK_NAMES.join(", ")}; got '${String(options.only)}'.`);
  }
  if (options.exclude !== undefined) {
    if (!Array.isArray(options.exclude)) {
      throw new TypeError(`DefaultAzureCredential: exclude must be an array of link names (${LINK_NAMES.join(", ")}).`);
    }
    for (const e of options.exclude) {
      if (!LINK_NAMES.includes(e)) {
        throw new TypeError(`DefaultAzureCredential: exclude contains '${String(e)}'; valid names are ${LINK_NAMES.join(", ")}.`);
      }
    }
  }
  for (const k of ["probeBudgetMs", "managedIdentityTimeBudgetMs", "processTimeoutInMs"] as const) {
    const v = options[k];
    if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v <= 0)) {
      throw new RangeError(`DefaultAzureCredential: ${k} must be a positive number of milliseconds; got ${shownValue(v)}.`);
    }
  }
}

function checkRequiredEnvVars(required: DefaultAzureCredentialOptions["requiredEnvVars"], env: NodeJS.ProcessEnv): void {
  if (required === undefined) return;
  const names = Array.isArray(required) ? required : [required];
  const missing = names.filter((n) => !env[n]);
  if (missing.length === 1) {
    throw new AzmiError(
      ErrorCode.InvalidEnvironment,
      `Required environment variable '${missing[0]}' for DefaultAzureCredential is not set or empty.`,
    );
  }
  if (missing.length > 1) {
    throw new AzmiError(
      ErrorCode.InvalidEnvironment,
      `Required environment variables '${missing.join(", ")}' for DefaultAzureCredential are not set or empty.`,
    );
  }
}
