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
import type { DefaultAzureCredential } from "./credentials/defaultAzureCredential";
import { clientIdFromClaims, decodeJwtClaims } from "./credentials/jwtClaims";
import { CLIENT_ID_AS_GIVEN } from "./credentials/types";
import { RESOURCE_RULE, SCOPE_RULE, resourceProblem, resourceToScope, scopeProblem, scopeToResource } from "./credentials/scopes";
import type {
  AzmiAccessToken,
  AzmiGetTokenOptions,
  ChainReport,
  LinkName,
  MsiTokenResponse,
  TokenCredential,
  TokenWithReport,
} from "./credentials/types";
import { reasonOf } from "./credentials/unavailable";
import { IDENTITY_ID_RULE, identityIdFlaw, shownValue } from "./credentials/validation";
import { AzmiError, ErrorCode, isUnavailable } from "./errors";
import { redact, registerSecret } from "./log";
import { nowMs } from "./clock";

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
  /**
   * Why `transport` is what it is: "native addon loaded", or why the node:net
   * fallback answers (the addon was not built, e.g. `npm install --ignore-scripts`,
   * or was not copied next to a bundled app).
   */
  transportReason?: string;
  resource: string;
  scope: string;
  tokenAcquired: boolean;
  /** True when `timeoutMs` ended the walk (`error` is then `ERR_BUDGET_EXCEEDED`). */
  timedOut?: true;
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
  /** True when `timeoutMs` ended the call: `error` is then `ERR_BUDGET_EXCEEDED`, and `report` shows which link was cut short. */
  timedOut?: boolean;
}

/**
 * A token for one resource, in the exact MSI endpoint JSON shape.
 *
 * @throws AzmiError `ERR_INVALID_ARGUMENT` for bad options, `ERR_BUDGET_EXCEEDED` when `timeoutMs`
 *   passed, or the chain's error (`AuthenticationError`, `AggregateAuthenticationError`).
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
 * the MSI object (or the error) together with the chain report. Invalid
 * options still throw.
 *
 * @example
 * ```ts
 * const { msi, report } = await getManagedTokenWithReport({ resource: "https://vault.azure.net" });
 * ```
 */
export async function getManagedTokenWithReport(options: GetManagedTokenOptions): Promise<ManagedTokenWithReport> {
  // (`options?`: a JavaScript caller may pass nothing; resolveTarget then says what to give.)
  return run(options, options?.forceRefresh ? { forceRefresh: true } : {});
}

/** What `diagnose()` asks for when given neither `resource` nor `scope` (as `az account get-access-token`). */
export const DEFAULT_DIAGNOSE_RESOURCE = "https://management.azure.com";

/**
 * Walk the chain for one resource (default {@link DEFAULT_DIAGNOSE_RESOURCE})
 * and report every link; the token itself is never returned. Ignores the remembered winner and azmi's token cache so the
 * report shows what the chain finds now.
 *
 * @example
 * ```ts
 * const report = await diagnose({ resource: "https://management.azure.com" });
 * for (const l of report.links) console.error(l.link, l.outcome, l.reason);
 * ```
 */
export async function diagnose(options: GetManagedTokenOptions = {}): Promise<DiagnoseResult> {
  if (options && typeof options === "object" && options.resource === undefined && options.scope === undefined) {
    options = { ...options, resource: DEFAULT_DIAGNOSE_RESOURCE };
  }
  const { resource, scope } = resolveTarget(options);
  const { msi, report, error, timedOut } = await run(options, { walkFromStart: true, forceRefresh: true });
  const transport = transportDiagnostics();
  const result: DiagnoseResult = { ...report, transport: transport.kind, transportReason: transport.reason, resource, scope, tokenAcquired: msi !== undefined };
  if (timedOut) result.timedOut = true;
  if (msi) {
    result.expiresOn = Number(msi.expires_on);
    if (msi.client_id) result.clientId = msi.client_id;
  } else if (error !== undefined) {
    const e = error as { name?: string; code?: string; message?: string };
    result.error = { name: e.name ?? "Error", message: redact(e.message ?? String(error)) };
    if (e.code) result.error.code = e.code;
  }
  return result;
}

/** Which transport answers and why, for sure (it loads the addon if the walk never did); the transport module is loaded by the walk already. */
function transportDiagnostics(): { kind: ChainReport["transport"]; reason: string } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("./transport/http") as typeof import("./transport/http")).transportDiagnostics();
}

/**
 * `report` with its transport named for sure, for a report a person reads
 * (`azmi token --verbose`, the PowerShell bridge's verbose answers). A walk
 * whose links sent no plain HTTP names the transport that would be tried,
 * without loading the addon to find out (a token call need not pay for
 * that); this loads it.
 *
 * @example
 * ```ts
 * printReport(withTransportKnown(report)); // "transport node" when the addon cannot load
 * ```
 */
export function withTransportKnown<T extends { transport: ChainReport["transport"] }>(report: T): T {
  const kind = transportDiagnostics().kind;
  return kind === report.transport ? report : { ...report, transport: kind };
}

/**
 * Converts a token to the MSI JSON shape: numbers as strings in seconds,
 * `expires_in` counted from `now`, `not_before` from the token (or its JWT
 * `nbf`) else now, `client_id` only when known: the token's, else its JWT's
 * `appid`/`azp` claim, except for a Cloud Shell answer, which is passed on as
 * given (it names no client id: the token is the portal user's, and a script
 * calling the endpoint with `Invoke-RestMethod` sees no `client_id`).
 *
 * @example
 * ```ts
 * toMsiResponse(token, "https://vault.azure.net");
 * ```
 */
export function toMsiResponse(token: AzmiAccessToken, resource: string, now: number = Date.now()): MsiTokenResponse {
  registerSecret(token.token);
  const nowSec = Math.floor(now / 1000);
  const expiresOn = Math.floor(token.expiresOnTimestamp / 1000);
  const fromClaims = (token as { [CLIENT_ID_AS_GIVEN]?: boolean })[CLIENT_ID_AS_GIVEN] !== true;
  const claims = token.notBeforeTimestamp === undefined || (token.clientId === undefined && fromClaims) ? decodeJwtClaims(token.token) : undefined;
  const notBefore =
    token.notBeforeTimestamp !== undefined
      ? Math.floor(token.notBeforeTimestamp / 1000)
      : typeof claims?.nbf === "number"
        ? Math.floor(claims.nbf)
        : nowSec;
  const msi: MsiTokenResponse = {
    access_token: token.token,
    expires_in: String(Math.max(0, expiresOn - nowSec)),
    expires_on: String(expiresOn),
    not_before: String(notBefore),
    // The endpoint's own form when it named one (Cloud Shell may add a trailing slash): what Invoke-RestMethod would show.
    resource: token.resource ?? resource,
    token_type: token.tokenType ?? "Bearer",
  };
  const clientId = token.clientId ?? (fromClaims ? clientIdFromClaims(claims) : undefined);
  if (clientId) msi.client_id = clientId;
  return msi;
}

/** Forget the process-wide chains (tests; the bridge after `env` changes is handled by the key). */
export function resetManagedTokenChains(): void {
  chains.clear();
}

// ---------------------------------------------------------------------------

/** Variables that change what a chain would do; part of the memo key so an env change gets a new chain. */
const CHAIN_ENV_VARS = [
  "AZURE_TOKEN_CREDENTIALS", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
  "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
  "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
  "AZURE_ADDITIONALLY_ALLOWED_TENANTS", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
  "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET", "DEFAULT_IDENTITY_CLIENT_ID", "PATH",
];

/** How far past `timeoutMs` a link's own request deadline may run (see `run`). */
const LINK_DEADLINE_SLACK_MS = 250;

/** One DefaultAzureCredential per distinct option set and environment, for the life of the process. */
const chains = new Map<string, DefaultAzureCredential>();
const MAX_CHAINS = 32;

function chainFor(options: GetManagedTokenOptions): DefaultAzureCredential {
  const env = options.env ?? process.env;
  const key = JSON.stringify([
    options.clientId, options.objectId, options.resourceId, options.tenantId, options.only,
    options.exclude ? [...options.exclude].sort() : undefined, options.probeBudgetMs,
    CHAIN_ENV_VARS.map((n) => env[n]),
  ]);
  let chain = chains.get(key);
  if (!chain) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { DefaultAzureCredential: Dac } = require("./credentials/defaultAzureCredential") as typeof import("./credentials/defaultAzureCredential");
    chain = new Dac({
      managedIdentityClientId: options.clientId,
      managedIdentityObjectId: options.objectId,
      managedIdentityResourceId: options.resourceId,
      tenantId: options.tenantId,
      only: options.only,
      exclude: options.exclude,
      probeBudgetMs: options.probeBudgetMs,
      env,
    });
    if (chains.size >= MAX_CHAINS) chains.delete(chains.keys().next().value!);
    chains.set(key, chain);
  }
  return chain;
}

function resolveTarget(options: GetManagedTokenOptions): { resource: string; scope: string } {
  if (options === null || typeof options !== "object") {
    throw new AzmiError(ErrorCode.InvalidArgument, "getManagedToken needs an options object, e.g. { resource: 'https://management.azure.com' }.");
  }
  const { resource, scope } = options;
  if ((resource === undefined) === (scope === undefined)) {
    throw new AzmiError(
      ErrorCode.InvalidArgument,
      "Give exactly one of resource (e.g. 'https://management.azure.com') or scope (e.g. 'https://management.azure.com/.default').",
    );
  }
  if (resource !== undefined) {
    if (typeof resource !== "string" || resource.length === 0) {
      throw new AzmiError(ErrorCode.InvalidArgument, "resource must be a non-empty string, e.g. 'https://management.azure.com'.");
    }
    const problem = resourceProblem(resource);
    if (problem !== undefined) {
      throw new AzmiError(ErrorCode.InvalidArgument, `resource '${problem.shown}' ${problem.why}. ${RESOURCE_RULE}.`);
    }
    return { resource, scope: resourceToScope(resource) };
  }
  if (typeof scope !== "string" || scope.length === 0) {
    throw new AzmiError(ErrorCode.InvalidArgument, "scope must be one non-empty scope without spaces, e.g. 'https://management.azure.com/.default'.");
  }
  const problem = scopeProblem(scope);
  if (problem !== undefined) {
    throw new AzmiError(ErrorCode.InvalidArgument, `scope '${problem.shown}' ${problem.why}. ${SCOPE_RULE}.`);
  }
  return { resource: scopeToResource(scope), scope };
}

function validate(options: GetManagedTokenOptions): void {
  const selectors = (["clientId", "objectId", "resourceId"] as const).filter((k) => options[k] !== undefined);
  if (selectors.length > 1) {
    throw new AzmiError(
      ErrorCode.InvalidArgument,
      `Only one of clientId, objectId or resourceId can select the identity (got ${selectors.join(" and ")}).`,
    );
  }
  for (const name of selectors) {
    const id = options[name];
    const flaw = typeof id === "string" ? identityIdFlaw(id) : undefined;
    if (flaw) throw new AzmiError(ErrorCode.InvalidArgument, `${name} ${flaw}; ${IDENTITY_ID_RULE}.`);
  }
  if (options.timeoutMs !== undefined && (typeof options.timeoutMs !== "number" || !Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0)) {
    throw new AzmiError(ErrorCode.InvalidArgument, `timeoutMs must be a positive number of milliseconds; got ${shownValue(options.timeoutMs)}.`);
  }
  if (options.credential !== undefined && typeof (options.credential as { getToken?: unknown }).getToken !== "function") {
    throw new AzmiError(ErrorCode.InvalidArgument, "credential must be a TokenCredential (an object with getToken).");
  }
}

interface Reporting {
  getTokenWithReport(scopes: string, options: AzmiGetTokenOptions): Promise<TokenWithReport>;
  readonly lastReport?: ChainReport;
}

async function run(options: GetManagedTokenOptions, extra: AzmiGetTokenOptions): Promise<ManagedTokenWithReport> {
  const { resource, scope } = resolveTarget(options);
  validate(options);
  const credential: TokenCredential = options.credential ?? chainFor(options);
  const reporting = typeof (credential as Partial<Reporting>).getTokenWithReport === "function" ? (credential as unknown as Reporting) : undefined;
  const controller = options.timeoutMs !== undefined ? new AbortController() : undefined;
  const getOptions: AzmiGetTokenOptions = { ...extra };
  if (options.tenantId) getOptions.tenantId = options.tenantId;
  if (controller) {
    getOptions.abortSignal = controller.signal;
    // Links with requests that cannot be cancelled (the native transport)
    // cap their own deadlines near this, so the process can exit on time;
    // the slack lets this call's own budget error win the race.
    getOptions.requestOptions = { ...getOptions.requestOptions, timeout: options.timeoutMs! + LINK_DEADLINE_SLACK_MS };
  }
  const started = nowMs();

  const attempt: Promise<TokenWithReport> = reporting
    ? reporting.getTokenWithReport(scope, getOptions)
    : single(credential, scope, getOptions, started);

  let outcome: TokenWithReport;
  let cut: TokenWithReport | undefined;
  if (controller) {
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<TokenWithReport>((resolve) => {
      timer = setTimeout(() => {
        const error = new AzmiError(
          ErrorCode.BudgetExceeded,
          `No token for ${resource} within timeoutMs=${options.timeoutMs} ms; the report shows which link was cut short.`,
        );
        // The reason tells the chain's report that the budget, not the link, ended it.
        controller.abort(error);
        resolve((cut = { report: reporting?.lastReport ?? { links: [], transport: "node", ms: nowMs() - started }, error }));
      }, options.timeoutMs);
      timer.unref?.();
    });
    outcome = await Promise.race([attempt, budget]);
    clearTimeout(timer);
    attempt.catch(() => undefined);
  } else {
    outcome = await attempt;
  }
  if (outcome.token) return { msi: toMsiResponse(outcome.token, resource), report: outcome.report };
  // The budget's own outcome, not merely its timer having fired: a link that
  // settles as the abort reaches it may still win the race with its own error.
  return outcome === cut ? { report: outcome.report, error: outcome.error, timedOut: true } : { report: outcome.report, error: outcome.error };
}

/** A report for a plain TokenCredential given as `credential`. */
async function single(credential: TokenCredential, scope: string, options: AzmiGetTokenOptions, started: number): Promise<TokenWithReport> {
  const name = credential.constructor?.name ?? "TokenCredential";
  const finish = (outcome: "selected" | "unavailable" | "failed", reason: string): ChainReport => {
    const ms = nowMs() - started;
    return { links: [{ link: name, credential: name, outcome, reason, ms }], transport: "node", ms, ...(outcome === "selected" ? { winner: name } : {}) };
  };
  try {
    const token = (await credential.getToken(scope, options)) as AzmiAccessToken | null;
    if (!token) return { report: finish("unavailable", "returned no token"), error: new AzmiError(ErrorCode.CredentialUnavailable, `${name} returned no token.`) };
    return { token, report: finish("selected", "token acquired") };
  } catch (error) {
    return { report: finish(isUnavailable(error) ? "unavailable" : "failed", reasonOf(error)), error };
  }
}
