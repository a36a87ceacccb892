/**
 * The token cache that sits between every caller and a credential:
 * - a valid token is returned without I/O (the hot path allocates nothing);
 * - concurrent callers for one key share one fetch (single-flight); a
 *   fetch started under one caller's own limits (its abort signal, a timeout
 *   that must reach the request) may be cut short by them, and then the
 *   callers that joined it start their own fetch instead of inheriting that
 *   caller's abort or timeout (`cutShort`);
 * - after the refresh time the cached token is still served while one
 *   background fetch replaces it; a failed background fetch keeps the
 *   still-valid token and is retried after `REFRESH_RETRY_MS`;
 * - errors are never cached, and a token is never served within its expiry
 *   margin (`serveUntilFor`).
 *
 * @example
 * ```ts
 * const cache = new TokenCache();
 * const token = await cache.getToken(`mi|${resource}`, () => fetchFromImds(resource));
 * ```
 */
import type { AccessToken } from "@azure/core-auth";
import { AzmiError, ErrorCode } from "../errors";

/** Tokens living longer than this refresh at half-life (MSAL JS/.NET rule). */
export const LONG_LIVED_TOKEN_MS = 2 * 60 * 60 * 1000;
/** Shorter-lived tokens refresh this long before they expire (MSAL's 300 s). */
export const REFRESH_BEFORE_EXPIRY_MS = 5 * 60 * 1000;
/** A token this close to expiry is not handed out; callers wait for a new one (a quarter of the lifetime for tokens under 2 minutes). */
export const EXPIRY_MARGIN_MS = 30 * 1000;
/** After a failed background refresh, wait this long before trying again. */
export const REFRESH_RETRY_MS = 5 * 1000;

/**
 * When a token should be refreshed: its own `refreshAfterTimestamp` (from
 * `refresh_in`) if it has one, else half-life for long-lived tokens, else
 * five minutes before expiry — but never before half-life: a token that
 * lives under ten minutes would otherwise be due for refresh from the moment
 * it arrives, and every call would start another fetch.
 */
export function refreshTimeFor(token: AccessToken, issuedAt: number): number {
  if (token.refreshAfterTimestamp !== undefined) return token.refreshAfterTimestamp;
  const lifetime = token.expiresOnTimestamp - issuedAt;
  const halfLife = issuedAt + Math.floor(lifetime / 2);
  if (lifetime > LONG_LIVED_TOKEN_MS) return halfLife;
  return Math.max(token.expiresOnTimestamp - REFRESH_BEFORE_EXPIRY_MS, halfLife);
}

/**
 * Until when a token may be handed out: `EXPIRY_MARGIN_MS` before it expires,
 * or a quarter of its lifetime before, for tokens that live under two
 * minutes. A flat 30 s would make a 30-second token unservable from the
 * moment it arrives, and every call would fetch again.
 */
export function serveUntilFor(token: AccessToken, issuedAt: number): number {
  const lifetime = token.expiresOnTimestamp - issuedAt;
  return token.expiresOnTimestamp - Math.min(EXPIRY_MARGIN_MS, Math.floor(lifetime / 4));
}

interface Entry {
  token?: AccessToken;
  /** `serveUntilFor(token)`: no serving from the cache at or after this. */
  serveUntil: number;
  refreshAt: number;
  inflight?: Promise<AccessToken>;
  /** Whether the limits of the caller that started the inflight fetch have fired (it has some). */
  inflightCutShort?: () => boolean;
  /** No background refresh before this time (set after a failed one). */
  retryAfter: number;
}

export interface TokenCacheOptions {
  /** Clock, for tests. */
  now?: () => number;
  /** Called with the error of a failed background refresh (never thrown). */
  onBackgroundError?: (key: string, error: unknown) => void;
}

export type TokenFetcher = () => Promise<AccessToken>;

export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly onBackgroundError?: (key: string, error: unknown) => void;

  constructor(options: TokenCacheOptions = {}) {
    this.now = options.now ?? Date.now;
    this.onBackgroundError = options.onBackgroundError;
  }

  /**
   * The cached token for `key` when it can be served without waiting,
   * starting a background refresh when one is due. `undefined` otherwise.
   */
  peek(key: string, fetch?: TokenFetcher): AccessToken | undefined {
    const entry = this.entries.get(key);
    const token = entry?.token;
    if (!entry || !token) return undefined;
    const now = this.now();
    if (now >= entry.serveUntil) return undefined;
    if (now >= entry.refreshAt && fetch && !entry.inflight && now >= entry.retryAfter) {
      this.refreshInBackground(key, entry, fetch);
    }
    return token;
  }

  /**
   * A valid token for `key`: from the cache, or from one shared `fetch`.
   * `cutShort`: this caller's `fetch` carries its own limits (an abort
   * signal, a short timeout), and this says whether they have fired. When a
   * fetch fails after its starter's limits fired, the failure may be theirs
   * alone: a caller that joined it starts (or joins) a fetch of its own
   * instead. Any other failure is every waiting caller's, once.
   * `whileJoined`: how this caller waits for a fetch another caller started
   * (its own `fetch`, and so its limits, do not reach that one), e.g. no
   * longer than its own timeout.
   */
  getToken(
    key: string,
    fetch: TokenFetcher,
    cutShort?: () => boolean,
    whileJoined?: (joined: Promise<AccessToken>) => Promise<AccessToken>,
  ): Promise<AccessToken> {
    const cached = this.peek(key, fetch);
    if (cached) return Promise.resolve(cached);
    const entry = this.entryFor(key);
    const joined = entry.inflight;
    if (joined === undefined) return this.startFetch(key, entry, fetch, cutShort);
    const startersLimits = entry.inflightCutShort;
    const shared = !startersLimits
      ? joined
      : joined.catch((error: unknown) => {
          if (!startersLimits()) throw error;
          // The starter's limits ended its fetch: one of the callers that
          // joined it fetches again, and the others join that fetch. Let one
          // without limits of its own go first (a caller with limits waits a
          // turn), or they would all inherit that caller's limits next.
          if (cutShort) return new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.getToken(key, fetch, cutShort));
          return this.getToken(key, fetch, cutShort);
        });
    return whileJoined ? whileJoined(shared) : shared;
  }

  /** Forget one key, or everything. */
  clear(key?: string): void {
    if (key === undefined) this.entries.clear();
    else this.entries.delete(key);
  }

  private entryFor(key: string): Entry {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { serveUntil: 0, refreshAt: 0, retryAfter: 0 };
      this.entries.set(key, entry);
    }
    return entry;
  }

  private startFetch(key: string, entry: Entry, fetch: TokenFetcher, cutShort?: () => boolean): Promise<AccessToken> {
    const inflight = fetch().then(
      (token) => {
        if (entry.inflight === inflight) entry.inflight = undefined;
        // Lifetimes count from the token's arrival: the time the fetch took is
        // not lifetime (else a 2 h token would count as long-lived, checklist 49).
        const receivedAt = this.now();
        if (token.expiresOnTimestamp <= receivedAt) {
          throw new AzmiError(
            ErrorCode.TokenExpired,
            `The token received for '${key.split("|")[0]}' had already expired (expiresOn ${new Date(
              token.expiresOnTimestamp,
            ).toISOString()}); check the clock of this machine and of the identity endpoint.`,
          );
        }
        entry.token = token;
        entry.serveUntil = serveUntilFor(token, receivedAt);
        entry.refreshAt = refreshTimeFor(token, receivedAt);
        entry.retryAfter = 0;
        return token;
      },
      (error: unknown) => {
        if (entry.inflight === inflight) entry.inflight = undefined;
        throw error;
      },
    );
    entry.inflight = inflight;
    entry.inflightCutShort = cutShort;
    return inflight;
  }

  private refreshInBackground(key: string, entry: Entry, fetch: TokenFetcher): void {
    this.startFetch(key, entry, fetch).catch((error: unknown) => {
      entry.retryAfter = this.now() + REFRESH_RETRY_MS;
      this.onBackgroundError?.(key, error);
    });
  }
}
