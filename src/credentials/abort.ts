/**
 * A caller's `abortSignal` ends that caller's wait, never the work other
 * callers share: credentials hand concurrent callers one token fetch
 * (`TokenCache`), and an Azure SDK client passes each HTTP request's own
 * signal, so one cancelled request must not fail the others waiting for the
 * same first token. The shared fetch goes on (its result is cached for the
 * next caller); only this caller's promise rejects, with an `AbortError`.
 *
 * @example
 * ```ts
 * return untilAborted(cache.getToken(key, fetch), options.abortSignal);
 * ```
 */
import type { GetTokenOptions } from "@azure/core-auth";
import { nowMs } from "../clock";
import { CredentialUnavailableError, ErrorCode } from "../errors";

type AbortSignalLike = NonNullable<GetTokenOptions["abortSignal"]>;

/** A timer may fire this much before the clock says its time is up. */
const TIMER_SLACK_MS = 5;

/** The error an aborted `getToken` rejects with (the name Azure SDKs check). */
export function abortError(): Error {
  const e = new Error("The operation was aborted.");
  e.name = "AbortError";
  return e;
}

/**
 * Whether this caller's own limits have fired by now: its `abortSignal`
 * aborted or its `timeoutMs` elapsed since this call. `undefined` for a
 * caller without limits. (`TokenCache` asks it when a shared fetch that
 * carried those limits fails.)
 *
 * @example
 * ```ts
 * cache.getToken(key, fetch, limitsFired(options.abortSignal, options.requestOptions?.timeout));
 * ```
 */
export function limitsFired(signal: AbortSignalLike | undefined, timeoutMs: number | undefined): (() => boolean) | undefined {
  const timed = typeof timeoutMs === "number" && timeoutMs > 0;
  if (!signal && !timed) return undefined;
  const started = nowMs();
  return () => signal?.aborted === true || (timed && nowMs() - started >= timeoutMs - TIMER_SLACK_MS);
}

/**
 * A `TypeError` when `abortSignal` is given but is not an AbortSignal, else
 * `undefined`. Checked before any work starts: a plain object or a string
 * used to start the shared fetch and then throw inside it, and that fetch's
 * later failure went unhandled and ended the whole process.
 *
 * @example
 * ```ts
 * const bad = badAbortSignal(options.abortSignal);
 * if (bad) return Promise.reject(bad);
 * ```
 */
export function badAbortSignal(signal: unknown): TypeError | undefined {
  if (signal === undefined || signal === null) return undefined;
  const s = signal as { aborted?: unknown; addEventListener?: unknown; removeEventListener?: unknown };
  if (typeof signal === "object" && typeof s.aborted === "boolean" && typeof s.addEventListener === "function" && typeof s.removeEventListener === "function") {
    return undefined;
  }
  return new TypeError(`abortSignal must be an AbortSignal (e.g. new AbortController().signal); got ${typeof signal === "object" ? "an object without aborted/addEventListener" : typeof signal}.`);
}

/** `pending`, or an `AbortError` as soon as `signal` aborts (at once if it already has). */
export function untilAborted<T>(pending: Promise<T>, signal: AbortSignalLike | undefined): Promise<T> {
  if (!signal) return pending;
  if (signal.aborted) {
    pending.catch(() => undefined); // nobody waits for it any more: its failure must not go unhandled
    return Promise.reject(abortError());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(
      (value) => (signal.removeEventListener("abort", onAbort), resolve(value)),
      (error: unknown) => (signal.removeEventListener("abort", onAbort), reject(error)),
    );
  });
}

/**
 * `pending`, or `onTimeout()`'s error once `timeoutMs` has passed: a caller's
 * `requestOptions.timeout` while it waits for a fetch another caller started
 * (that fetch goes on for the others; the timer does not keep Node alive).
 *
 * @example
 * ```ts
 * cache.getToken(key, fetch, limits, (joined) => untilTimeout(joined, 500, () => timeoutError()));
 * ```
 */
export function untilTimeout<T>(pending: Promise<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // (Past 2^31 - 1 ms, Node's timers fire after 1 ms: a longer wait is as good as none.)
    const timer = setTimeout(() => reject(onTimeout()), Math.min(timeoutMs, 2_147_483_647));
    timer.unref?.();
    pending.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error: unknown) => (clearTimeout(timer), reject(error)),
    );
  });
}

/**
 * The `whileJoined` argument of `TokenCache.getToken` for a caller with a
 * `requestOptions.timeout`: its wait for a shared fetch (`shared` says which,
 * e.g. "the token request") ends at that timeout with a
 * `CredentialUnavailableError` (`ETIMEDOUT`), as its own request would have.
 * `undefined` without a timeout.
 */
export function joinedTimeout<T>(timeoutMs: number | undefined, credential: string, shared: string): ((joined: Promise<T>) => Promise<T>) | undefined {
  if (typeof timeoutMs !== "number" || !(timeoutMs > 0)) return undefined;
  return (joined) =>
    untilTimeout(
      joined,
      timeoutMs,
      () =>
        new CredentialUnavailableError(
          `${credential}: no token within requestOptions.timeout (${timeoutMs} ms): this call waited for ${shared} that a concurrent getToken started, and it has not finished yet (it goes on; its token is cached for later calls).`,
          { code: ErrorCode.Timeout },
        ),
    );
}
