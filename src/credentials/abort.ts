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

type AbortSignalLike = NonNullable<GetTokenOptions["abortSignal"]>;

/** The error an aborted `getToken` rejects with (the name Azure SDKs check). */
export function abortError(): Error {
  const e = new Error("The operation was aborted.");
  e.name = "AbortError";
  return e;
}

/** `pending`, or an `AbortError` as soon as `signal` aborts (at once if it already has). */
export function untilAborted<T>(pending: Promise<T>, signal: AbortSignalLike | undefined): Promise<T> {
  if (!signal) return pending;
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(
      (value) => (signal.removeEventListener("abort", onAbort), resolve(value)),
      (error: unknown) => (signal.removeEventListener("abort", onAbort), reject(error)),
    );
  });
}
