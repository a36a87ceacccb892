/**
 * What every dialect fake shares: a queue of scripted answers (faults) that
 * are served to token requests before normal behaviour, an optional override
 * hook, and the environment a client needs to find the fake.
 *
 * @example
 * ```ts
 * const fake = await startFakeImds({ faults: [{ status: 500, body: "{}" }] });
 * process.env = { ...process.env, ...fake.env };
 * ```
 */
import type { FakeResponse, LoggedRequest, RawServer } from "./rawServer";

export interface FakeOptions {
  /** Answers served, in order, to the next token requests (after them: normal behaviour). */
  faults?: FakeResponse[];
  /** Full override: return an answer to bypass the dialect's own logic. */
  respond?: (request: LoggedRequest) => FakeResponse | undefined;
  /** The token the fake issues (default: a new random one per request). */
  token?: string;
  /** Lifetime of issued tokens (default 3600 s). */
  lifetimeSec?: number;
}

export interface Fake extends RawServer {
  /** Variables that point a client at this fake. */
  env: Record<string, string>;
  /** Every token the fake issued (tests assert they never leak). */
  issued: string[];
  /** Requests that reached the token logic (not the probe), in order. */
  tokenRequests(): LoggedRequest[];
}

/** Take the next scripted answer, or apply the override. */
export function scripted(options: FakeOptions, request: LoggedRequest): FakeResponse | undefined {
  const override = options.respond?.(request);
  if (override) return override;
  return options.faults?.shift();
}

/** JSON answer. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): FakeResponse {
  return { status, headers: { "Content-Type": "application/json; charset=utf-8", ...headers }, body: JSON.stringify(body) };
}
