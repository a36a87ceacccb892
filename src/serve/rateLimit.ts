/**
 * IMDS's documented limits for the managed-identity category (20 requests
 * per second and 5 concurrent requests per VM; excess ⇒ 429), off by
 * default and switched on with `ServeOptions.rateLimit` so clients' retry
 * behaviour can be tested against a realistic IMDS.
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter({ perSecond: 20, concurrent: 5 });
 * if (!limiter.admit(res)) return writeError(res, "imds", 429, "too_many_requests", "…");
 * ```
 */
import type { ServerResponse } from "node:http";

export interface RateLimitOptions {
  /** Requests admitted per rolling second (default 20). */
  perSecond?: number;
  /** Requests in flight at once (default 5). */
  concurrent?: number;
}

export const IMDS_REQUESTS_PER_SECOND = 20;
export const IMDS_CONCURRENT_REQUESTS = 5;

export class RateLimiter {
  readonly perSecond: number;
  readonly concurrent: number;
  private readonly stamps: number[] = [];
  private inFlight = 0;

  constructor(options: RateLimitOptions = {}) {
    this.perSecond = options.perSecond ?? IMDS_REQUESTS_PER_SECOND;
    this.concurrent = options.concurrent ?? IMDS_CONCURRENT_REQUESTS;
  }

  /** Admit one request (tracking it until `res` closes) or refuse it. */
  admit(res: ServerResponse, now = Date.now()): boolean {
    while (this.stamps.length > 0 && this.stamps[0]! <= now - 1000) this.stamps.shift();
    if (this.stamps.length >= this.perSecond || this.inFlight >= this.concurrent) return false;
    this.stamps.push(now);
    this.inFlight++;
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        this.inFlight--;
      }
    };
    res.once("finish", release);
    res.once("close", release);
    return true;
  }
}
