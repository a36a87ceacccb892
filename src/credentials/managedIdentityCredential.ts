/**
 * `ManagedIdentityCredential`: tokens from whichever managed-identity source
 * this machine offers (token exchange, Service Fabric, App Service, Machine
 * Learning / App Service 2017, Cloud Shell, Azure Arc, IMDS — precedence in
 * `managed-identity/detect.ts`), over azmi's own bounded transport, through a
 * `TokenCache` (single-flight, early refresh).
 *
 * Drop-in for `@azure/identity`'s class: same constructor forms, same
 * `CredentialUnavailableError` name for "not here, try the next credential".
 * Where an endpoint that is really there answers "no" (e.g. App Service 401
 * with a JSON error, Service Fabric `SecretHeaderNotFound`, an Arc key file
 * outside the agent's folder), we throw `AuthenticationError` and a chain
 * stops, where JS would move on; the full mapping table is in
 * `managed-identity/exchange.ts`.
 *
 * | Situation                                            | Thrown                     | `code`                       |
 * |------------------------------------------------------|----------------------------|------------------------------|
 * | more than one scope                                  | CredentialUnavailableError | `ERR_MI_MULTIPLE_SCOPES`     |
 * | source cannot select that identity (Cloud Shell, SF, ML) | CredentialUnavailableError | `ERR_MI_UNSUPPORTED_SELECTOR` |
 * | malformed endpoint variable                          | CredentialUnavailableError | `ERR_INVALID_ENVIRONMENT`    |
 * | IMDS probe negative (chain only)                     | CredentialUnavailableError | `ERR_MI_PROBE_NEGATIVE`      |
 * | unreachable / timeout / gateway / not an MI endpoint | CredentialUnavailableError | transport code, `ERR_MI_UNREACHABLE`, `ERR_MI_ENDPOINT_ERROR` |
 * | IMDS 400 identity not found                          | CredentialUnavailableError | `ERR_MI_IDENTITY_NOT_FOUND`  |
 * | bad JSON / no token / expired or absurd expiry       | CredentialUnavailableError | `ERR_INVALID_RESPONSE`       |
 * | retries would overrun `timeBudgetMs`                 | CredentialUnavailableError | `ERR_BUDGET_EXCEEDED`        |
 * | endpoint refused with a JSON 4xx (non-IMDS)          | AuthenticationError        | `ERR_AUTHENTICATION_FAILED`  |
 * | SF thumbprint mismatch, Arc challenge/echo broken    | AuthenticationError        | `ERR_TLS_THUMBPRINT_MISMATCH`, `ERR_MI_ARC_CHALLENGE`, `ERR_MI_IDENTITY_NOT_CONFIRMED` |
 *
 * @example
 * ```ts
 * const credential = new ManagedIdentityCredential({ clientId: "00000000-0000-0000-0000-000000000000" });
 * const { token } = await credential.getToken("https://vault.azure.net/.default");
 * console.error(credential.describe()); // "IMDS at 169.254.169.254:80"
 * ```
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import type { TokenCredentialOptions } from "@azure/identity";
import { AzmiError, ErrorCode } from "../errors";
import { credentialLogger, registerSecret } from "../log";
import { LONG_LIVED_TOKEN_MS, refreshTimeFor, TokenCache, type TokenFetcher } from "../cache/tokenCache";
import { describeSource, detectSource } from "../managed-identity/detect";
import { requestToken } from "../managed-identity/exchange";
import { transportDiagnostics } from "../transport/http";
import { Budget, DEFAULT_PROBE_BUDGET_MS, DEFAULT_TIME_BUDGET_MS, realTiming, type RetryTiming } from "../managed-identity/retry";
import { resourceForScopes } from "../managed-identity/scope";
import { exchangeToken } from "../managed-identity/tokenExchange";
import type { Source } from "../managed-identity/types";
import { CLIENT_ID_AS_GIVEN, type AzmiAccessToken, type IdentitySelector } from "./types";
import { abortError, badAbortSignal, joinedTimeout, limitsFired, untilAborted } from "./abort";
import { nowMs } from "../clock";
import { IDENTITY_ID_RULE, identityIdFlaw, shownValue } from "./validation";

/**
 * `TokenCredentialOptions` (`loggingOptions`, `retryOptions`, `httpClient`, …) are accepted, so that
 * code written for `@azure/identity` compiles with only its import changed, and not used: managed
 * identity requests go through azmi's own transport, with the budgets below.
 */
export interface ManagedIdentityCredentialOptions extends IdentitySelector, TokenCredentialOptions {
  /**
   * Total time budget for one getToken, retries included (default 30_000 ms
   * standalone; the default, not a chosen one, stretches to 70 s when IMDS
   * answers 410 "updating", see retry.ts).
   */
  timeBudgetMs?: number;
  /** Probe IMDS before using it (DefaultAzureCredential sets true; standalone default false). */
  probeImds?: boolean;
  /** Budget of the IMDS probe (default 1000 ms). */
  probeBudgetMs?: number;
  /** Environment to read (default process.env, read at first getToken). */
  env?: NodeJS.ProcessEnv;
  /** Used by DAC: also allow the token-exchange source (default true); false when workload identity is excluded. */
  allowTokenExchange?: boolean;
}

/** `@azure/identity`'s names for the same options (one selector each there; here one type checks all three). */
export type ManagedIdentityCredentialClientIdOptions = ManagedIdentityCredentialOptions;
export type ManagedIdentityCredentialResourceIdOptions = ManagedIdentityCredentialOptions;
export type ManagedIdentityCredentialObjectIdOptions = ManagedIdentityCredentialOptions;

/**
 * Tests only: inject retry timing (sleep, random, delay scale). A symbol, so
 * it is not part of the public options.
 */
export const MI_TEST_TIMING: unique symbol = Symbol.for("azmi.managedIdentity.timing");

const log = credentialLogger("ManagedIdentityCredential");

function invalidArgument(message: string): AzmiError {
  return new AzmiError(ErrorCode.InvalidArgument, `ManagedIdentityCredential: ${message}`);
}

function checkBudget(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`ManagedIdentityCredential: '${name}' must be a positive number of milliseconds (got ${shownValue(value)}).`);
  }
  return value;
}

function checkOptions(options: unknown): ManagedIdentityCredentialOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object") {
    throw new TypeError("ManagedIdentityCredential: options must be an object such as { clientId: '<guid>' }.");
  }
  const o = options as ManagedIdentityCredentialOptions;
  for (const name of ["clientId", "objectId", "resourceId"] as const) {
    const v = o[name];
    if (v !== undefined && typeof v !== "string") {
      throw new TypeError(`ManagedIdentityCredential: '${name}' must be a string (got ${typeof v}).`);
    }
    const flaw = typeof v === "string" ? identityIdFlaw(v) : undefined;
    if (flaw) throw invalidArgument(`'${name}' ${flaw}; ${IDENTITY_ID_RULE}.`);
  }
  const given = (["clientId", "resourceId", "objectId"] as const).filter((n) => o[n]);
  if (given.length > 1) {
    throw invalidArgument(
      `only one of 'clientId', 'resourceId', or 'objectId' can be provided; got ${given.map((n) => `'${n}'`).join(" and ")}. Pass just the one that names the identity.`,
    );
  }
  checkBudget("timeBudgetMs", o.timeBudgetMs);
  checkBudget("probeBudgetMs", o.probeBudgetMs);
  if (o.env !== undefined && (o.env === null || typeof o.env !== "object")) {
    throw new TypeError("ManagedIdentityCredential: 'env' must be an object of environment variables (e.g. process.env).");
  }
  return o;
}

export class ManagedIdentityCredential implements TokenCredential {
  private readonly selector: IdentitySelector;
  private readonly selectorKey: string;
  private readonly timeBudgetMs: number;
  /** The caller set `timeBudgetMs` (the default one makes room for an IMDS update, retry.ts). */
  private readonly budgetChosen: boolean;
  private readonly probe: boolean;
  private readonly probeBudgetMs: number;
  private readonly allowTokenExchange: boolean;
  private readonly envOption?: NodeJS.ProcessEnv;
  private readonly timing: RetryTiming;
  private readonly cache = new TokenCache({
    onBackgroundError: (key, e) => log.warning("getToken", `background refresh for ${key.split("|")[0]} failed: ${String((e as Error)?.message ?? e)}`),
  });
  /** scope (string form) → cache key, so the cached path does no string work. */
  private readonly keys = new Map<string, string>();
  private readonly fetchers = new Map<string, TokenFetcher>();
  private readonly targets = new Map<string, [resource: string, scope: string]>();
  private source?: Source;
  private env?: NodeJS.ProcessEnv;
  private imdsConfirmed = false;

  constructor(options?: ManagedIdentityCredentialOptions);
  constructor(clientId: string, options?: Omit<ManagedIdentityCredentialOptions, "clientId">);
  constructor(clientIdOrOptions?: string | ManagedIdentityCredentialOptions, maybeOptions?: ManagedIdentityCredentialOptions) {
    let options: ManagedIdentityCredentialOptions;
    if (typeof clientIdOrOptions === "string") {
      options = { ...checkOptions(maybeOptions), clientId: clientIdOrOptions };
      checkOptions(options);
    } else {
      options = checkOptions(clientIdOrOptions);
    }
    this.selector = {};
    if (options.clientId) this.selector.clientId = options.clientId;
    if (options.objectId) this.selector.objectId = options.objectId;
    if (options.resourceId) this.selector.resourceId = options.resourceId;
    this.selectorKey = options.clientId ? `client:${options.clientId}` : options.objectId ? `object:${options.objectId}` : options.resourceId ? `resource:${options.resourceId}` : "system";
    this.timeBudgetMs = options.timeBudgetMs ?? DEFAULT_TIME_BUDGET_MS;
    this.budgetChosen = options.timeBudgetMs !== undefined;
    this.probe = options.probeImds ?? false;
    this.probeBudgetMs = options.probeBudgetMs ?? DEFAULT_PROBE_BUDGET_MS;
    this.allowTokenExchange = options.allowTokenExchange ?? true;
    this.envOption = options.env;
    this.timing = (options as { [MI_TEST_TIMING]?: RetryTiming })[MI_TEST_TIMING] ?? realTiming;
  }

  /**
   * A token for exactly one scope. Cached: a valid token is returned without
   * I/O; concurrent callers share one request.
   *
   * @example
   * ```ts
   * const { token, expiresOnTimestamp } = await credential.getToken("https://management.azure.com/.default");
   * ```
   */
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AzmiAccessToken> {
    let key: string;
    let scope: string;
    try {
      scope = typeof scopes === "string" ? scopes : scopes.length === 1 && typeof scopes[0] === "string" ? scopes[0] : "";
      const tenant = options?.tenantId;
      const memoKey = tenant ? `${scope}\u0000${tenant}` : scope;
      let k = scope ? this.keys.get(memoKey) : undefined;
      if (k === undefined) {
        const resource = resourceForScopes(scopes); // throws for 0 or several scopes
        scope = typeof scopes === "string" ? scopes : scopes[0]!;
        k = `${resource}|${this.selectorKey}|${tenant ?? ""}`;
        this.keys.set(memoKey, k);
        this.fetchers.set(k, () => this.fetch(resource, scope, this.timeBudgetMs, !this.budgetChosen));
        this.targets.set(k, [resource, scope]);
      }
      key = k;
    } catch (e) {
      return Promise.reject(e);
    }
    const signal = options?.abortSignal;
    const badSignal = badAbortSignal(signal);
    if (badSignal) return Promise.reject(badSignal);
    if (signal?.aborted) return Promise.reject(abortError());
    // forceRefresh (getManagedToken's, diagnose()'s, a chain's) or a claims challenge (the resource
    // rejected the cached token): ask the endpoint again, as the delegated links do.
    if (options?.claims || (options as { forceRefresh?: boolean } | undefined)?.forceRefresh) this.cache.clear(key);
    // A caller's `requestOptions.timeout` caps this call's budget: the native
    // transport cannot cancel a started request and Node waits for it at
    // exit, so a shorter deadline must reach the request itself; and it is
    // never stretched for an IMDS update (retry.ts). If it fires, the fetch's
    // failure is this caller's: others that joined it fetch for themselves.
    const cap = options?.requestOptions?.timeout;
    let fetcher = this.fetchers.get(key)!;
    let limits: (() => boolean) | undefined;
    let whileJoined: ReturnType<typeof joinedTimeout<AccessToken>>;
    if (typeof cap === "number" && cap > 0) {
      const [resource, target] = this.targets.get(key)!;
      const budget = Math.min(cap, this.timeBudgetMs);
      fetcher = () => this.fetch(resource, target, budget, false);
      limits = limitsFired(undefined, cap);
      // A request another caller started does not carry this cap: wait for it no longer than the cap.
      whileJoined = joinedTimeout(cap, "ManagedIdentityCredential", `the token request for ${resource}`);
    }
    return untilAborted(this.cache.getToken(key, fetcher, limits, whileJoined) as Promise<AzmiAccessToken>, signal);
  }

  /**
   * One line for diagnostics: which source and where — no secrets. Reads the
   * environment (no I/O) if getToken has not yet.
   *
   * @example
   * ```ts
   * credential.describe(); // "App Service at 127.0.0.1:8081"
   * ```
   */
  describe(): string {
    try {
      return describeSource(this.resolveSource());
    } catch (e) {
      return `no usable managed-identity source (${(e as Error).message.replace(/^ManagedIdentityCredential: /, "")})`;
    }
  }

  private resolveSource(): Source {
    if (!this.source) {
      this.env = this.envOption ?? process.env;
      this.source = detectSource(this.env, { clientId: this.selector.clientId, allowTokenExchange: this.allowTokenExchange });
      const source = this.source;
      log.info("getToken", () => `selected ${describeSource(source)}`);
      // Which transport, and why: an install without the addon (--ignore-scripts, a bundled app) runs the node:net fallback.
      log.info("getToken", () => `transport: ${transportDiagnostics().reason}`);
    }
    return this.source;
  }

  /** One token request; `rideOutImdsUpdate`: the budget is the default one, which a 410 may stretch (retry.ts). */
  private async fetch(resource: string, scope: string, budgetMs: number, rideOutImdsUpdate: boolean): Promise<AzmiAccessToken> {
    const started = nowMs();
    try {
      const source = this.resolveSource();
      if (source.kind === "token-exchange") return await exchangeToken(source, scope, {}, budgetMs);
      source.checkSelector(this.selector);
      const budget = new Budget(budgetMs, this.timing.now);
      if (source.kind === "imds" && this.probe && !this.imdsConfirmed) {
        // Lazy: only the default chain probes, and the memo pulls in file and interface code.
        const { probeImds, probeNegativeError } = require("../managed-identity/probe") as typeof import("../managed-identity/probe");
        const probeBudget = Math.min(this.probeBudgetMs, budget.remainingMs());
        // A probe the call's own budget cut short proves nothing lasting: it is not remembered.
        const outcome = await probeImds(source, probeBudget, this.env!, log, probeBudget < this.probeBudgetMs);
        if (!outcome.present) throw probeNegativeError(source, outcome, this.env!);
        this.imdsConfirmed = true;
      }
      const token = await requestToken(source, resource, this.selector, { budget, timing: this.timing, log, rideOutImdsUpdate });
      registerSecret(token.token);
      if (source.kind === "cloud-shell") Object.defineProperty(token, CLIENT_ID_AS_GIVEN, { value: true });
      // Tell callers (e.g. Azure SDK bearer policies) when to refresh, as MSAL
      // does for MI tokens living > 2 h (checklist 49): the cache's own rule.
      // The lifetime counts from the answer, not from before the request: the
      // round trip (and any retries) is not lifetime, so `expires_in: 7200` is 2 h.
      const receivedAt = Date.now();
      if (token.refreshAfterTimestamp === undefined && token.expiresOnTimestamp - receivedAt > LONG_LIVED_TOKEN_MS) {
        token.refreshAfterTimestamp = refreshTimeFor(token, receivedAt);
      }
      log.info(
        "getToken",
        () => `token for ${resource} from ${source.name} at ${source.endpoint} in ${(nowMs() - started).toFixed(1)} ms, expires ${new Date(token.expiresOnTimestamp).toISOString()}`,
      );
      return token;
    } catch (e) {
      const spent = nowMs() - started;
      log.info("getToken", () => `failed after ${spent.toFixed(1)} ms: ${(e as Error)?.message ?? String(e)}`);
      throw e;
    }
  }
}

