/**
 * The forwarding token source of `azmi serve --issuer chain`: asks this
 * host's credential chain (`getManagedToken` from `src/msi.ts`) and puts a
 * `TokenCache` in front, so 50 concurrent callers cause one upstream call
 * and cached tokens are served without I/O.
 *
 * It refuses to forward to itself: when the host's managed-identity
 * variables point at this very server, the managed-identity link is
 * excluded from the chain (else every request would loop).
 *
 * @example
 * ```ts
 * const source = new ChainIssuer({ env: process.env });
 * source.setSelf("http://127.0.0.1:4000");
 * const token = await source.fetch(identity, "https://vault.azure.net");
 * ```
 */
import type { AccessToken } from "@azure/core-auth";
import { TokenCache } from "../../cache/tokenCache";
import type { LinkName, MsiTokenResponse } from "../../credentials/types";
import { untilTimeout } from "../../credentials/abort";
import { AzmiError, ErrorCode } from "../../errors";
import { credentialLogger, registerSecret } from "../../log";
import { isLoopbackHost } from "../../transport/http";
import type { GetManagedTokenOptions } from "../../msi";
import type { ServedIdentity } from "../identities";
import type { IssuedToken, TokenSource } from "./types";

/** Signature of `getManagedToken` (injectable for tests and embedding). */
export type UpstreamTokenFunction = (options: GetManagedTokenOptions) => Promise<MsiTokenResponse>;

/** Options of {@link ChainIssuer}. */
export interface ChainIssuerOptions {
  env?: NodeJS.ProcessEnv;
  /** Defaults to `getManagedToken` from `src/msi.ts`, loaded on first use. */
  upstream?: UpstreamTokenFunction;
  /** How long a client waits for one upstream call, in ms (default 30 000); the call itself runs on (see withinDeadline). */
  timeoutMs?: number;
}

type CachedToken = AccessToken & IssuedToken;

const DEFAULT_UPSTREAM_TIMEOUT_MS = 30_000;
/**
 * How many client deadlines an upstream call may stay the cache's single
 * flight: past this, a call that never ends (a hung tool) no longer holds
 * every later client of its (identity, resource), nor a background refresh,
 * for good; the next client starts another call (the hung one keeps its slot).
 */
const STUCK_AFTER_DEADLINES = 4;
/**
 * Upstream calls run at once, across all (identity, resource) pairs: each may
 * start a developer tool (`az` is a Python process of ~100 MB), and single-flight
 * merges only callers of the same pair, so an app asking for many resources at
 * once would otherwise start as many tools. Others wait their turn.
 */
export const MAX_CONCURRENT_UPSTREAM = 4;
/** Variables through which a client finds a managed-identity endpoint. */
const ENDPOINT_VARIABLES = ["IDENTITY_ENDPOINT", "MSI_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "IMDS_ENDPOINT"];

const log = credentialLogger("AzmiServe");

/**
 * Whether `endpoint` (a URL from an env var) reaches the server listening on `port`.
 *
 * @example
 * ```ts
 * pointsAtSelf("http://localhost:4000/msi/token", 4000, "127.0.0.1"); // true
 * ```
 */
export function pointsAtSelf(endpoint: string, port: number, host: string): boolean {
  let url: URL;
  try {
    url = new URL(endpoint.includes("://") ? endpoint : `http://${endpoint}`);
  } catch {
    return false;
  }
  const p = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
  if (p !== port) return false;
  const h = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const loopback = h === "localhost" || h === "::1" || h.startsWith("127.");
  const anyHost = host === "0.0.0.0" || host === "::";
  return h === host.toLowerCase() || (loopback && (anyHost || isLoopbackHost(host)));
}


/** The chain-forwarding token source. */
export class ChainIssuer implements TokenSource {
  readonly kind = "chain" as const;
  private readonly cache = new TokenCache({
    onBackgroundError: (key, error) =>
      log.warning("refresh", `background refresh for '${key.split("\n")[1]}' failed: ${(error as Error).message}`),
  });
  private readonly env: NodeJS.ProcessEnv;
  private readonly timeoutMs: number;
  private upstream?: UpstreamTokenFunction;
  private exclude: LinkName[] | undefined;
  private readonly fetchers = new Map<string, () => Promise<AccessToken>>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(options: ChainIssuerOptions = {}) {
    this.env = options.env ?? process.env;
    this.upstream = options.upstream;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
  }

  /**
   * Tell the issuer where the server listens; when the environment points
   * managed identity here, that link is excluded. Returns a warning then.
   */
  setSelf(port: number, host: string): string | undefined {
    const loops = ENDPOINT_VARIABLES.filter((name) => {
      const value = this.env[name];
      return typeof value === "string" && value !== "" && pointsAtSelf(value, port, host);
    });
    if (loops.length === 0) {
      this.exclude = undefined;
      return undefined;
    }
    this.exclude = ["managed-identity"];
    return `${loops.join(", ")} point${loops.length === 1 ? "s" : ""} at this azmi serve (${host}:${port}); the managed-identity link is excluded from the chain so the server does not forward to itself.`;
  }

  peek(identity: ServedIdentity, resource: string): IssuedToken | undefined {
    const key = `${identity.key}\n${resource}`;
    return this.cache.peek(key, this.fetcherFor(key, identity, resource)) as CachedToken | undefined;
  }

  async fetch(identity: ServedIdentity, resource: string): Promise<IssuedToken> {
    const key = `${identity.key}\n${resource}`;
    return (await this.withinDeadline(this.cache.getToken(key, this.fetcherFor(key, identity, resource)), resource)) as CachedToken;
  }

  /** The cache's fetch for one (identity, resource): the upstream call itself, without the client's deadline (see withinDeadline). */
  private fetcherFor(key: string, identity: ServedIdentity, resource: string): () => Promise<AccessToken> {
    let fetcher = this.fetchers.get(key);
    if (fetcher === undefined) {
      fetcher = () =>
        untilTimeout(
          this.inTurn(() => this.callUpstream(identity, resource)),
          this.timeoutMs * STUCK_AFTER_DEADLINES,
          () => new AzmiError(ErrorCode.BudgetExceeded, `The credential chain's call for ${resource} is still running after ${this.timeoutMs * STUCK_AFTER_DEADLINES} ms; the next request starts another.`),
        );
      this.fetchers.set(key, fetcher);
    }
    return fetcher;
  }

  /**
   * Run `call` once fewer than MAX_CONCURRENT_UPSTREAM others run. A slot is
   * held until the call itself ends, which for a developer tool is when its
   * process does: a client that gave up does not free it (see withinDeadline).
   */
  private async inTurn<T>(call: () => Promise<T>): Promise<T> {
    // A freed slot passes straight to the next waiter (running stays the same), so no newcomer takes it in between.
    if (this.running >= MAX_CONCURRENT_UPSTREAM) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await call();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /**
   * The client's answer, by `timeoutMs` at the latest (a 500 it may retry).
   * The call goes on: `@azure/identity` cannot stop a developer tool it
   * started, so the call keeps its slot until the tool ends, and the cap
   * counts tools that really run (getManagedToken is not given the deadline:
   * it would end the call, and free the slot, with the tool still running).
   * The deadline is the client's, outside the cache: the call stays the
   * cache's single flight, so a client that asks again joins it rather than
   * starting another tool, and a token that comes late is cached.
   */
  private withinDeadline(call: Promise<AccessToken>, resource: string): Promise<AccessToken> {
    return untilTimeout(
      call,
      this.timeoutMs,
      () => new AzmiError(ErrorCode.BudgetExceeded, `No token for ${resource} within ${this.timeoutMs} ms from this host's credential chain; run 'azmi doctor' on the host to see which link is slow.`),
    );
  }

  private async callUpstream(identity: ServedIdentity, resource: string): Promise<CachedToken> {
    const upstream = this.upstream ?? (this.upstream = loadGetManagedToken());
    const request: GetManagedTokenOptions = { resource, env: this.env };
    // Forward the selector the client used; ids the registry derived mean nothing upstream.
    if (identity.selectedBy === "objectId") request.objectId = identity.objectId;
    else if (identity.selectedBy === "resourceId") request.resourceId = identity.resourceId;
    else if (identity.kind === "user") request.clientId = identity.clientId;
    if (this.exclude) request.exclude = this.exclude;
    const msi = await upstream(request);
    registerSecret(msi.access_token);
    const expiresOn = Number(msi.expires_on) * 1000;
    if (!Number.isFinite(expiresOn) || expiresOn <= 0) {
      throw new AzmiError(ErrorCode.InvalidResponse, `The credential chain returned a token for '${resource}' without a usable expires_on.`);
    }
    const notBefore = Number(msi.not_before) * 1000;
    return {
      token: msi.access_token,
      accessToken: msi.access_token,
      expiresOnTimestamp: expiresOn,
      notBeforeTimestamp: Number.isFinite(notBefore) && notBefore > 0 ? notBefore : Date.now(),
      resource: msi.resource || resource,
      clientId: msi.client_id ?? (identity.kind === "user" ? identity.clientId : undefined),
    };
  }
}

function loadGetManagedToken(): UpstreamTokenFunction {
  // Lazy: the chain (and @azure/identity behind it) loads only when the chain issuer is used.
  const msi = require("../../msi") as { getManagedToken: UpstreamTokenFunction };
  return msi.getManagedToken;
}
