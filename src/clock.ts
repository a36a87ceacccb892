/**
 * Milliseconds from an arbitrary origin (the process's start), for
 * measuring how long something took (never a date). `process.uptime()`
 * reads the same monotonic clock as `performance.now()` and
 * `process.hrtime()` (libuv's `uv_hrtime`), to well under a microsecond, and
 * costs nothing the first time: on Node 20 the first touch of the
 * `performance` global loads about ten internal modules (1.7–2.1 ms in a
 * fresh process here), and the first `process.hrtime()` compiles its
 * JavaScript wrapper (60–130 µs, on every first token); `uptime` is a
 * C++ function.
 *
 * @example
 * ```ts
 * const started = nowMs();
 * await work();
 * report.ms = nowMs() - started;
 * ```
 */
export function nowMs(): number {
  return process.uptime() * 1e3;
}
