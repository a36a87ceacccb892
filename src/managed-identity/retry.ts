/**
 * Retry policy and time budget for managed-identity requests (spec §6.2).
 *
 * Every source uses the same policy (as @azure/identity JS does), with two
 * deliberate differences from JS, both taken from MSAL.NET, Python and the
 * IMDS documentation: 429 is retried even without `Retry-After`, and 502 is
 * not retried (a gateway answering for the endpoint will not change its mind).
 *
 * | Status                         | Retried? | Delay                                    |
 * |--------------------------------|----------|------------------------------------------|
 * | 404, 408, 429, 500, 503, 504…  | yes      | 800 ms × 2ⁿ, jitter 50–100 %, ≤ 5 retries |
 * | 410 (IMDS updating, ≤ 70 s)    | yes      | 3 s × 2ⁿ, same jitter, ≤ 5 retries        |
 * | any, with `Retry-After` family | yes      | what the server asked (if it fits)        |
 * | 400, 401, 403, 405, 501, 502, 505 | no    | —                                        |
 *
 * No retry is started that cannot finish inside the caller's budget, and each
 * request's own deadline is `min(remaining budget, REQUEST_TIMEOUT_CAP_MS)`,
 * until a request the endpoint took times out: the retries after it get the
 * rest of the budget (a slow endpoint restarts its work on each one).
 * One exception, where the caller left the budget at its default: a 410
 * means "IMDS is updating, available within 70 s" (the IMDS documentation,
 * MSAL.NET's 7 × 10 s), so the first 410 stretches the budget to
 * `IMDS_UPDATE_WINDOW_MS` from then (a 30 s default would give up halfway
 * through an update), and a computed wait that overshoots that window is cut
 * to one last try near its end (a server's `Retry-After` is never cut). A
 * budget the caller chose (and the chain's short one) is never stretched.
 *
 * @example
 * ```ts
 * const budget = new Budget(30_000);
 * const delay = retryDelayMs(503, 0, headers, Math.random); // 400..800 ms
 * if (delay !== undefined && budget.canWait(delay)) await sleep(delay);
 * ```
 */
import { nowMs } from "../clock";

/** Retries after the first attempt (spec §6.2: JS imds policy, .NET pipeline, docs). */
export const MAX_RETRIES = 5;
/** Exponential base for ordinary retryable statuses. */
export const RETRY_BASE_MS = 800;
/** Exponential base for 410 ("IMDS is updating, available within 70 s"). */
export const RETRY_BASE_410_MS = 3000;
/** Ceiling of one computed (not server-requested) delay. */
export const RETRY_MAX_DELAY_MS = 64_000;
/** Jitter: the delay is uniformly drawn from [JITTER_MIN, 1] × computed delay. */
export const JITTER_MIN = 0.5;
/** Default total time for one `getToken` of a standalone credential, retries included. */
export const DEFAULT_TIME_BUDGET_MS = 30_000;
/** How long IMDS may answer 410 while it updates ("available within 70 s"). */
export const IMDS_UPDATE_WINDOW_MS = 70_000;
/** Default budget of the IMDS probe (connect + one HTTP exchange). */
export const DEFAULT_PROBE_BUDGET_MS = 1000;
/** No single request waits longer than this, so a hung server leaves room for a retry. */
export const REQUEST_TIMEOUT_CAP_MS = 10_000;
/** A retry is only started when at least this much budget is left after its delay. */
export const MIN_ATTEMPT_MS = 50;
/** While IMDS updates, a computed wait that overshoots the window is cut to leave this for one last try at its end. */
export const LAST_ATTEMPT_MS = 1000;
/** Largest response body we read from an identity endpoint (a token is ~2–4 KiB). */
export const MAX_RESPONSE_BYTES = 256 * 1024;

const NEVER_RETRIED = new Set([400, 401, 403, 405, 501, 502, 505]);

/**
 * Whether a status is worth another attempt at all (before looking at time).
 *
 * @example
 * ```ts
 * isRetryableStatus(410); // true
 * isRetryableStatus(502); // false
 * ```
 */
export function isRetryableStatus(status: number): boolean {
  if (NEVER_RETRIED.has(status)) return false;
  return status === 404 || status === 408 || status === 410 || status === 429 || (status >= 500 && status <= 599);
}

/**
 * The delay the server asked for, in ms: `retry-after-ms`, `x-ms-retry-after-ms`,
 * then `Retry-After` (seconds or an HTTP date). `undefined` when absent or unparsable.
 *
 * @example
 * ```ts
 * serverRetryAfterMs({ "retry-after": "2" }); // 2000
 * ```
 */
export function serverRetryAfterMs(headers: Record<string, string>, now: number = Date.now()): number | undefined {
  for (const name of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const raw = headers[name];
    if (raw !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(raw)) return Math.ceil(Number(raw));
  }
  const raw = headers["retry-after"];
  if (raw === undefined) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(raw)) return Math.ceil(Number(raw) * 1000);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Delay before retry number `retry` (0-based) after `status`, or `undefined`
 * when this status is not retried or retries are used up.
 *
 * @example
 * ```ts
 * retryDelayMs(404, 2, {}); // 1600..3200
 * ```
 */
export function retryDelayMs(
  status: number,
  retry: number,
  headers: Record<string, string>,
  random: () => number = Math.random,
): number | undefined {
  if (retry >= MAX_RETRIES || !isRetryableStatus(status)) return undefined;
  const asked = serverRetryAfterMs(headers);
  if (asked !== undefined) return asked;
  return backoffMs(status === 410 ? RETRY_BASE_410_MS : RETRY_BASE_MS, retry, random);
}

/**
 * Exponential backoff with 50–100 % jitter.
 *
 * @example
 * ```ts
 * backoffMs(800, 3, () => 1); // 6400
 * ```
 */
export function backoffMs(base: number, retry: number, random: () => number = Math.random): number {
  const computed = Math.min(RETRY_MAX_DELAY_MS, base * 2 ** retry);
  return Math.round(computed * (JITTER_MIN + (1 - JITTER_MIN) * random()));
}

/** Injected timing, for tests only (not part of the public options). */
export interface RetryTiming {
  sleep(ms: number): Promise<void>;
  random(): number;
  /** Multiplies computed (not server-requested) delays; tests use e.g. 0.01. */
  scale: number;
  /** The budget's clock (ms; default `nowMs`), so a test's instant sleeps can move it. */
  now?: () => number;
}

export const realTiming: RetryTiming = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
  scale: 1,
};

/**
 * A deadline for one `getToken`: how much time is left, whether a wait plus
 * one more attempt still fits, and the timeout for the next request.
 */
export class Budget {
  /** The budget as set (messages name it: `timeBudgetMs=…`). */
  readonly totalMs: number;
  private deadline: number;
  private stretchedMs?: number;

  constructor(totalMs: number, private readonly now: () => number = () => nowMs()) {
    this.totalMs = totalMs;
    this.deadline = now() + totalMs;
  }

  /** Make at least `ms` from now available, for an IMDS update (never shortens the budget). */
  stretchFor(ms: number): void {
    const wanted = this.now() + ms;
    if (wanted <= this.deadline) return;
    this.deadline = wanted;
    this.stretchedMs = ms;
  }

  /** `timeBudgetMs=…` for messages, and whether an IMDS update stretched it. */
  describe(): string {
    return this.stretchedMs === undefined
      ? `timeBudgetMs=${this.totalMs}`
      : `timeBudgetMs=${this.totalMs}, stretched by ${this.stretchedMs / 1000} s while IMDS updates`;
  }

  remainingMs(): number {
    return Math.max(0, this.deadline - this.now());
  }

  /** True when waiting `delayMs` still leaves `MIN_ATTEMPT_MS` for a request. */
  canWait(delayMs: number): boolean {
    return this.remainingMs() - delayMs >= MIN_ATTEMPT_MS;
  }

  /** Timeout for the next request: the rest of the budget, capped per request. */
  requestTimeoutMs(cap: number = REQUEST_TIMEOUT_CAP_MS): number {
    return Math.max(1, Math.min(cap, Math.floor(this.remainingMs())));
  }
}
