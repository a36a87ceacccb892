/**
 * Turns transport facts (code, phase, address, port, timeout, elapsed) into
 * `TransportError`s with one message format, so the native addon, the
 * node:net fallback and the HTTPS path read the same:
 *
 *   connect ETIMEDOUT 169.254.169.254:80 after 1000 ms
 *   connect ECONNREFUSED 127.0.0.1:9: connection refused (timeout 1000 ms)
 *   headers ERR_HEADERS_TOO_LARGE 127.0.0.1:8080: response headers exceed 16384 bytes (timeout 1000 ms)
 *
 * Messages are built from facts only, never from bytes a peer sent.
 */
import { ErrorCode, TransportError, type TransportFacts } from "../errors";

const details = new WeakMap<TransportError, string>();

/** Formats `address:port`, bracketing IPv6. */
export function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/** What an errno means, in fixed words shared with native/errors.cc. */
export function errnoDetail(code: string): string {
  switch (code) {
    case "ECONNREFUSED": return "connection refused";
    case "ENETUNREACH": case "ENETDOWN": return "network unreachable";
    case "EHOSTUNREACH": return "host unreachable";
    case "ECONNRESET": case "EPIPE": case "ECONNABORTED": return "connection reset by peer";
    case "EADDRNOTAVAIL": return "address not available";
    case "EACCES": return "permission denied";
    case "EPERM": return "operation not permitted";
    case "EMFILE": case "ENFILE": return "too many open files";
    default: return "socket error";
  }
}

/** Maps an errno name to the stable code callers match on (same table as native/errors.cc). */
export function errnoCode(code: string | undefined): string {
  switch (code) {
    case "EPIPE": case "ECONNABORTED": return ErrorCode.ConnectionReset;
    case "ENETDOWN": return ErrorCode.NetworkUnreachable;
    case undefined: return "EIO";
    default: return code;
  }
}

/** The facts one failure is built from (see `transportError`). */
export interface FailureFacts extends TransportFacts {
  code: string;
  /** Fixed words for the failure; replaced by cap sizes for the too-large codes. */
  detail: string;
  maxHeaderBytes?: number;
  maxBodyBytes?: number;
}

/**
 * Builds the error for a failed exchange.
 *
 * @example
 * ```ts
 * throw transportError({ code: "ETIMEDOUT", phase: "connect", address: "169.254.169.254", port: 80,
 *   timeoutMs: 1000, elapsedMs: 1001, detail: "timed out" });
 * // TransportError: connect ETIMEDOUT 169.254.169.254:80 after 1000 ms
 * ```
 */
export function transportError(f: FailureFacts, cause?: unknown): TransportError {
  let detail = f.detail;
  if (f.code === ErrorCode.HeadersTooLarge && f.maxHeaderBytes !== undefined) {
    detail = `response headers exceed ${f.maxHeaderBytes} bytes`;
  } else if (f.code === ErrorCode.BodyTooLarge && f.maxBodyBytes !== undefined) {
    detail = `response body exceeds ${f.maxBodyBytes} bytes`;
  }
  const where = hostPort(f.address, f.port);
  const message =
    f.code === ErrorCode.Timeout
      ? `${f.phase} ETIMEDOUT ${where} after ${f.timeoutMs} ms`
      : `${f.phase} ${f.code} ${where}: ${detail} (timeout ${f.timeoutMs} ms)`;
  const error = new TransportError(
    f.code,
    message,
    { phase: f.phase, address: f.address, port: f.port, timeoutMs: f.timeoutMs, elapsedMs: f.elapsedMs },
    cause === undefined ? {} : { cause },
  );
  details.set(error, detail);
  return error;
}

/**
 * The same failure restated for a wider frame (e.g. `send()` reporting its
 * whole timeout after spending part of it on name resolution).
 *
 * @example
 * ```ts
 * throw restate(err, { timeoutMs: 1000, elapsedMs: 1003 });
 * ```
 */
export function restate(error: TransportError, changes: Partial<TransportFacts>): TransportError {
  return transportError({
    code: error.code,
    phase: changes.phase ?? error.phase,
    address: changes.address ?? error.address,
    port: changes.port ?? error.port,
    timeoutMs: changes.timeoutMs ?? error.timeoutMs,
    elapsedMs: changes.elapsedMs ?? error.elapsedMs,
    detail: details.get(error) ?? "socket error",
  }, error.cause);
}
