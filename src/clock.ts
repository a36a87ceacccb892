/**
 * Milliseconds from an arbitrary origin, for measuring how long something
 * took (never a date). `process.hrtime` rather than `performance.now()`:
 * on Node 20 the first touch of the `performance` global loads about ten
 * internal modules, ~1–2 ms of a CLI start; this is the same monotonic clock.
 *
 * @example
 * ```ts
 * const started = nowMs();
 * await work();
 * report.ms = nowMs() - started;
 * ```
 */
export function nowMs(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1e3 + nanoseconds / 1e6;
}
