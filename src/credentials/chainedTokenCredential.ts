/**
 * `ChainedTokenCredential`: asks each credential in turn and returns the
 * first token. Same rule as `@azure/identity` for moving on: only an
 * "unavailable" error (`CredentialUnavailableError` or
 * `AuthenticationRequiredError`, by name, so links from either library work)
 * moves to the next link; any other error stops the chain and is rethrown.
 *
 * Two things `@azure/identity`'s chain does not do:
 * - **winner memo** (as .NET's DefaultAzureCredential): the link that
 *   answered is asked first next time, so later calls never walk past links
 *   that were unavailable; if it becomes unavailable, the chain walks again;
 * - **a token cache in front**, so a valid token costs no walk at all, and
 *   **diagnostics**: `lastReport` / `getTokenWithReport()` say, per link,
 *   `selected | unavailable | failed | skipped`, why, and how long it took.
 *
 * @example
 * ```ts
 * const chain = new ChainedTokenCredential(new EnvironmentCredential(), new AzureCliCredential());
 * const { token, report } = await chain.getTokenWithReport("https://vault.azure.net/.default");
 * for (const l of report.links) console.error(`${l.link}: ${l.outcome} (${l.reason})`);
 * ```
 */
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { TokenCache, type TokenFetcher } from "../cache/tokenCache";
import { AggregateAuthenticationError, ErrorCode, isUnavailable } from "../errors";
import { credentialLogger, registerSecret, type CredentialLogger } from "./lazyLog";
import type { AzmiAccessToken, AzmiGetTokenOptions, ChainReport, LinkName, LinkReport, TokenWithReport } from "./types";
import { reasonOf, unavailable } from "./unavailable";
import { nowMs } from "../clock";
import { abortError, badAbortSignal, joinedTimeout, limitsFired, untilAborted } from "./abort";
import { tokenCacheKey } from "./scopes";

/** One position in a chain. */
export interface ChainLink {
  /** Report name: a `LinkName` for the standard links, else the class name. */
  link: LinkName | string;
  /** Class name, e.g. `ManagedIdentityCredential`. */
  credentialName: string;
  /** The credential; absent when the link is skipped or could not be built. */
  credential?: TokenCredential;
  /** Why the link is not tried at all (e.g. `excluded by AZURE_TOKEN_CREDENTIALS=prod`). */
  skipReason?: string;
  /** Why building the credential failed; the link then counts as unavailable. */
  constructionError?: unknown;
  /** Builds the credential on the first walk that reaches this link (keeps construction of the chain cheap). */
  create?: () => TokenCredential;
}

const CLASS_TO_LINK: Record<string, LinkName> = {
  EnvironmentCredential: "environment",
  WorkloadIdentityCredential: "workload-identity",
  ManagedIdentityCredential: "managed-identity",
  AzureCliCredential: "azure-cli",
  AzurePowerShellCredential: "azure-powershell",
  AzureDeveloperCliCredential: "azure-developer-cli",
};

/**
 * Two links of one kind (two ClientSecretCredentials, a user-assigned and a
 * system-assigned managed identity) get `#2`, `#3`… after the second and
 * later names, so a report's `winner` and `rememberedWinner` say which.
 */
function distinctNames(links: ChainLink[]): ChainLink[] {
  const seen = new Map<string, number>();
  for (const link of links) {
    const n = (seen.get(link.link) ?? 0) + 1;
    seen.set(link.link, n);
    if (n > 1) link.link = `${link.link}#${n}`;
  }
  return links;
}

function linkFor(credential: TokenCredential): ChainLink {
  const credentialName =
    (credential as { credentialName?: unknown }).credentialName?.toString() ?? credential.constructor?.name ?? "TokenCredential";
  return { link: CLASS_TO_LINK[credentialName] ?? credentialName, credentialName, credential };
}

interface Attempt {
  token?: AzmiAccessToken;
  error?: unknown;
  failed?: boolean;
  /** The caller's abort signal fired while this link ran. */
  cutShort?: boolean;
}

/**
 * Whether a link's unavailability may pass: its endpoint is there but failed
 * or was slow (a 5xx, a timeout, a reset, its time budget; a probe that saw
 * no lasting absence), as opposed to "not configured here" or "logged out".
 */
function mayPass(error: unknown): boolean {
  const e = error as { code?: unknown; transient?: unknown } | null;
  return e?.transient === true || e?.code === ErrorCode.BudgetExceeded || e?.code === ErrorCode.Timeout || e?.code === ErrorCode.ConnectionReset;
}

/** Whether `error` is the abort itself (an AbortError, or the signal's own reason), not a failure of the link's. */
function isTheAbort(error: unknown, signal: object): boolean {
  return (error as { name?: unknown } | null)?.name === "AbortError" || error === (signal as { reason?: unknown }).reason;
}

/**
 * Why a caller's signal fired, for the report: the time budget of
 * getManagedToken / azmi doctor / the PowerShell cmdlets (an abort whose
 * reason carries ERR_BUDGET_EXCEEDED), else the caller's own abort.
 */
function whyAborted(signal: object): string {
  const code = ((signal as { reason?: { code?: unknown } }).reason ?? {}).code;
  return code === ErrorCode.BudgetExceeded ? "the call's time budget ran out" : "the caller aborted (abortSignal)";
}

export class ChainedTokenCredential implements TokenCredential {
  /** Name used in messages and logs. */
  protected chainName = "ChainedTokenCredential";
  protected links: ChainLink[];
  private winner = -1;
  private readonly cache = new TokenCache();
  private readonly fetchers = new Map<string, TokenFetcher>();
  private last?: ChainReport;
  /** `last` of the walk that filled the cache, marked `fromCache` (built once per walk, not per hit). */
  private cachedReport?: ChainReport;
  private logger?: CredentialLogger;

  /**
   * @param sources - credentials to try, in order.
   * @throws TypeError when a source has no `getToken`.
   */
  constructor(...sources: TokenCredential[]) {
    sources.forEach((s, i) => {
      if (!s || typeof (s as { getToken?: unknown }).getToken !== "function") {
        throw new TypeError(`ChainedTokenCredential: source ${i} is not a TokenCredential (it has no getToken method).`);
      }
    });
    this.links = distinctNames(sources.map(linkFor));
  }

  /** The report of the last `getToken` (a cache hit repeats the walk's links with `fromCache: true`). */
  get lastReport(): ChainReport | undefined {
    return this.last;
  }

  /** Which link answered last and is asked first next time, if any. */
  get rememberedWinner(): LinkName | string | undefined {
    return this.winner >= 0 ? this.links[this.winner]!.link : undefined;
  }

  /** One line per link: name and what it would use or why it is skipped. */
  describe(): string {
    return this.links
      .map((l) => {
        if (l.skipReason) return `${l.link}: skipped (${l.skipReason})`;
        this.build(l);
        if (!l.credential) return `${l.link}: unavailable (${reasonOf(l.constructionError)})`;
        const d = (l.credential as { describe?: () => string }).describe;
        return `${l.link}: ${typeof d === "function" ? d.call(l.credential) : l.credentialName}`;
      })
      .join("\n");
  }

  /**
   * The first token any link gives. A valid cached token is returned without
   * asking any link; `forceRefresh` and `walkFromStart` walk anyway (and
   * cache the result), and so does `claims` (its token replaces the cached one).
   *
   * @throws the stopping link's error (e.g. `AuthenticationError`), or
   *   `AggregateAuthenticationError` (`ERR_ALL_CREDENTIALS_UNAVAILABLE`) when every link was unavailable.
   */
  getToken(scopes: string | string[], options: AzmiGetTokenOptions = NO_OPTIONS): Promise<AzmiAccessToken> {
    if (typeof scopes !== "string" || scopes.length === 0) {
      try {
        checkScopes(scopes);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const badSignal = badAbortSignal(options.abortSignal);
    if (badSignal) return Promise.reject(badSignal);
    const key = tokenCacheKey(scopes, options);
    if (options.abortSignal?.aborted) return Promise.reject(abortError());
    if (options.claims || options.forceRefresh || options.walkFromStart) {
      // Fresh walk, and its token replaces the cached one. A claims challenge
      // means the resource rejected the cached token (CAE revocation,
      // Conditional Access): the token issued for it replaces that one, as
      // MSAL's cache does, or every later caller would present the rejected
      // token first.
      this.cache.clear(key);
      return this.walkShared(key, scopes, options);
    }
    let fetcher = this.fetchers.get(key);
    if (fetcher === undefined) {
      // Background refreshes run detached from the caller that started them,
      // so no abortSignal; but with its tenant and CAE choice, or a refresh
      // would swap an SDK client's CAE token for a non-CAE one.
      const background: AzmiGetTokenOptions = { tenantId: options.tenantId };
      if (options.enableCae) background.enableCae = true;
      fetcher = () => this.walk(scopes, background);
      this.fetchers.set(key, fetcher);
    }
    const hit = this.cache.peek(key, fetcher);
    if (hit !== undefined) {
      this.last = this.cachedReport;
      return Promise.resolve(hit as AzmiAccessToken);
    }
    return this.walkShared(key, scopes, options);
  }

  /**
   * One walk for every caller of `key`. A walk started by a caller with an
   * abort signal or a timeout carries them (the links' requests must stop
   * when that caller stops), so if they fire, its failure is that caller's:
   * callers that joined it wait under their own signal and then walk for
   * themselves (TokenCache's `cutShort`). Only on a cache miss: the cached
   * path stays free of this.
   */
  private walkShared(key: string, scopes: string | string[], options: AzmiGetTokenOptions): Promise<AzmiAccessToken> {
    const signal = options.abortSignal;
    const timeout = options.requestOptions?.timeout;
    const limits = limitsFired(signal, timeout);
    const whileJoined = joinedTimeout<AccessToken>(timeout, this.chainName, "the walk of the chain");
    return untilAborted(this.cache.getToken(key, () => this.walk(scopes, options), limits, whileJoined) as Promise<AzmiAccessToken>, signal);
  }

  /**
   * `getToken` that never throws for chain outcomes: the token or the error,
   * always with the report. Invalid arguments still throw (`TypeError`).
   *
   * @example
   * ```ts
   * const { token, report, error } = await chain.getTokenWithReport("https://storage.azure.com/.default");
   * ```
   */
  async getTokenWithReport(scopes: string | string[], options: AzmiGetTokenOptions = {}): Promise<TokenWithReport> {
    try {
      const token = await this.getToken(scopes, options);
      return { token, report: this.last ?? this.emptyReport(0) };
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) throw error;
      return { report: this.last ?? this.emptyReport(0), error };
    }
  }

  /** Builds a lazily created link once; a failure makes it unavailable for good. */
  private build(link: ChainLink): void {
    if (link.credential || !link.create) return;
    const create = link.create;
    link.create = undefined;
    try {
      link.credential = create();
    } catch (constructionError) {
      link.constructionError = constructionError;
    }
  }

  private log(): CredentialLogger {
    return (this.logger ??= credentialLogger(this.chainName));
  }

  private emptyReport(ms: number): ChainReport {
    return { links: [], transport: currentTransport(), ms };
  }

  private async attempt(index: number, scopes: string | string[], options: AzmiGetTokenOptions, rep: LinkReport): Promise<Attempt> {
    const link = this.links[index]!;
    const started = nowMs();
    try {
      const token = (await link.credential!.getToken(scopes, options)) as AzmiAccessToken | null;
      rep.ms = nowMs() - started;
      if (!token) {
        rep.outcome = "unavailable";
        rep.reason = "returned no token";
        return { error: unavailable(link.credentialName, "returned no token") };
      }
      registerSecret(token.token);
      rep.outcome = "selected";
      const d = (link.credential as { describe?: () => string }).describe;
      rep.reason = typeof d === "function" ? d.call(link.credential) : "token acquired";
      return { token };
    } catch (error) {
      rep.ms = nowMs() - started;
      rep.reason = reasonOf(error);
      if (options.abortSignal?.aborted && isTheAbort(error, options.abortSignal)) {
        // Not this link's failure: the caller stopped waiting ("The operation was aborted." said nothing).
        // (A link that ignored the signal and then failed on its own keeps its own reason.)
        rep.outcome = "failed";
        rep.reason = `cut short after ${Math.round(rep.ms)} ms: ${whyAborted(options.abortSignal)}`;
        return { error, failed: true, cutShort: true };
      }
      if (isUnavailable(error)) {
        rep.outcome = "unavailable";
        return { error };
      }
      rep.outcome = "failed";
      return { error, failed: true };
    }
  }

  private async walk(scopes: string | string[], options: AzmiGetTokenOptions): Promise<AzmiAccessToken> {
    const started = nowMs();
    const links = this.links;
    const reports: LinkReport[] = links.map((l) => ({
      link: l.link,
      credential: l.credentialName,
      outcome: "skipped",
      reason: l.skipReason ?? "not tried",
      ms: 0,
    }));
    const report: ChainReport = { links: reports, transport: currentTransport(), ms: 0 };
    this.last = report;
    const errors: unknown[] = [];
    const markRest = (from: number, why: string, except = -1) => {
      for (let j = from; j < links.length; j++) {
        if (j !== except && reports[j]!.reason === "not tried" && !links[j]!.skipReason) reports[j]!.reason = why;
      }
    };
    const finish = (winner?: number): void => {
      report.ms = nowMs() - started;
      // Again at the end: the walk may have found the addon missing (the fallback answered).
      report.transport = currentTransport();
      if (winner !== undefined) report.winner = links[winner]!.link;
      this.cachedReport = { ...report, fromCache: true, ms: 0 };
    };

    let triedMemo = -1;
    if (this.winner >= 0 && !options.walkFromStart) {
      const w = this.winner;
      triedMemo = w;
      const a = await this.attempt(w, scopes, options, reports[w]!);
      if (a.token) {
        report.fromMemo = true;
        markRest(0, `not tried: remembered winner ${links[w]!.link} answered`, w);
        finish(w);
        return a.token;
      }
      if (a.failed) {
        markRest(0, a.cutShort ? "not tried: the call was cut short" : `not tried: chain stopped at ${links[w]!.link}`, w);
        finish();
        this.log().info("getToken", `${links[w]!.link} failed: ${reports[w]!.reason}`);
        throw a.error;
      }
      if (mayPass(a.error)) {
        // Unavailable for now (a 5xx, a slow or reset answer): the winner keeps its place and this
        // call fails. Walking on would silently hand out another identity's token (a developer's
        // az login on a machine whose managed identity hiccuped), as .NET never does either.
        markRest(0, `not tried: remembered winner ${links[w]!.link} failed for now (it stays the winner)`, w);
        finish();
        this.log().info("getToken", `remembered winner ${links[w]!.link} failed for now: ${reports[w]!.reason}`);
        throw a.error;
      }
      // The remembered winner is gone (e.g. the CLI logged out): forget it and walk again.
      this.log().info("getToken", `remembered winner ${links[w]!.link} is unavailable now; walking the chain again`);
      this.winner = -1;
      errors.push(a.error);
    }
    // A link before the answering one that was unavailable only for now: the answer is used for
    // this call, but not remembered as the winner, so the next call asks that link again.
    let passingBefore: string | undefined;

    for (let i = 0; i < links.length; i++) {
      const link = links[i]!;
      const rep = reports[i]!;
      if (link.skipReason || i === triedMemo) continue;
      this.build(link);
      if (!link.credential) {
        rep.outcome = "unavailable";
        rep.reason = reasonOf(link.constructionError);
        errors.push(link.constructionError);
        continue;
      }
      const asked = nowMs();
      const known = knownUnavailable(link.credential);
      if (known !== undefined) {
        // Unavailable by configuration (azmi's own links know without trying): no error object unless the chain fails.
        rep.outcome = "unavailable";
        rep.reason = known;
        rep.ms = nowMs() - asked;
        this.log().info("getToken", `${link.link} unavailable: ${known}`);
        errors.push(new LaterError(link.credential));
        continue;
      }
      const a = await this.attempt(i, scopes, options, rep);
      if (a.token) {
        this.winner = passingBefore === undefined ? i : -1;
        markRest(i + 1, `not tried: ${link.link} answered first`);
        finish(i);
        this.log().info(
          "getToken",
          `${link.link} answered in ${Math.round(rep.ms)} ms${passingBefore === undefined ? "" : ` (not remembered as the winner: ${passingBefore} was unavailable only for now)`}`,
        );
        return a.token;
      }
      if (a.failed) {
        markRest(i + 1, a.cutShort ? "not tried: the call was cut short" : `not tried: chain stopped at ${link.link}`);
        finish();
        this.log().info("getToken", `${link.link} failed, chain stopped: ${rep.reason}`);
        throw a.error;
      }
      this.log().info("getToken", `${link.link} unavailable: ${rep.reason}`);
      if (passingBefore === undefined && mayPass(a.error)) passingBefore = link.link;
      errors.push(a.error);
    }
    finish();
    // Links left out by selection (only / exclude / AZURE_TOKEN_CREDENTIALS)
    // share a line per reason: the lines that matter are the links tried.
    const tried = reports.filter((r, j) => !links[j]!.skipReason).map((r) => ({ link: r.link, outcome: r.outcome, reason: r.reason }));
    const leftOut = new Map<string, string[]>();
    reports.forEach((r, j) => {
      const why = links[j]!.skipReason;
      if (why) leftOut.set(why, [...(leftOut.get(why) ?? []), r.link]);
    });
    const lines = [
      ...tried.map((t) => `  ${t.link}: ${t.outcome} (${t.reason})`),
      ...[...leftOut].map(([why, names]) => `  ${names.join(", ")}: skipped (${why})`),
    ].join("\n");
    throw new AggregateAuthenticationError(
      errors.map((e) => (e instanceof LaterError ? e.build() : e)),
      links.length === 0
        ? `${this.chainName} authentication failed: the chain has no credentials (it was constructed with none); pass at least one TokenCredential.`
        : `${this.chainName} authentication failed: no credential in the chain could get a token.\n${lines}`,
      tried,
    );
  }
}

/** A link's own "unavailable" check, for links that have one (`DelegatedCredential`). */
interface KnowsUnavailable {
  knownUnavailable(): string | undefined;
  unavailableNow(): Error | undefined;
}

function knownUnavailable(credential: TokenCredential): string | undefined {
  const c = credential as Partial<KnowsUnavailable>;
  return typeof c.knownUnavailable === "function" && typeof c.unavailableNow === "function" ? c.knownUnavailable() : undefined;
}

/** An unavailable link's error, built only when the whole chain fails. */
class LaterError {
  constructor(private readonly credential: TokenCredential) {}
  build(): unknown {
    return (this.credential as unknown as KnowsUnavailable).unavailableNow();
  }
}

/** Shared default so the cached path allocates nothing for the options. */
const NO_OPTIONS: AzmiGetTokenOptions = Object.freeze({});

function checkScopes(scopes: unknown): void {
  if (!Array.isArray(scopes) || scopes.length === 0 || scopes.some((s) => typeof s !== "string" || s.length === 0)) {
    throw new TypeError("scopes must be a non-empty string or a non-empty array of non-empty strings, e.g. 'https://management.azure.com/.default'.");
  }
}

/**
 * The transport kind, the transport module loaded only when a report is
 * built (never at import), and the addon never loaded for it: a walk whose
 * links sent no plain HTTP (an answer from the routing tables, a developer
 * tool's token) does not pay for it. Then it names the transport that would
 * be tried; what shows a report to a person (azmi doctor, azmi token
 * --verbose, the bridge's verbose answers) loads the addon to be sure
 * (`withTransportKnown` in msi.ts).
 */
function currentTransport(): ChainReport["transport"] {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require("../transport/http") as { transportKindSoFar(): ChainReport["transport"] }).transportKindSoFar();
  } catch {
    return "node";
  }
}
