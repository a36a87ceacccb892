/**
 * What every `azmi` command shares about output: the documented exit codes,
 * the mapping from errors to them, the one-line error format on stderr, and
 * whether colour is allowed. Data goes to stdout, diagnostics to stderr, and
 * every stderr line passes through `redact()` so no token or header value
 * can reach a terminal log by accident.
 *
 * @example
 * ```ts
 * try { ... } catch (e) { return reportError("token", e); } // prints one line, returns 1..4
 * ```
 */
import type * as Log from "../log";
import { writeErr } from "./stdio";

/** `../log` (and `@azure/logger` behind it) only when a line is written: the success path needs neither. */
const redact = (text: string): string => (require("../log") as typeof Log).redact(text);

/**
 * The exit codes of every `azmi` command (also listed in `azmi --help`).
 *
 * @example
 * ```ts
 * process.exitCode = ExitCode.Unavailable; // 3: no link of the chain could be used
 * ```
 */
export const ExitCode = {
  /** The command did what was asked (a token was printed, the server stopped cleanly). */
  Ok: 0,
  /** Anything else: a port in use, `azmi token`'s `--timeout-ms` running out, an unexpected failure (an unreachable identity endpoint is 3: unavailable). */
  Failure: 1,
  /** Bad command-line input. */
  Usage: 2,
  /** No link of the chain could be used (all unavailable), or no `azmi serve` is running. */
  Unavailable: 3,
  /** A link answered with an authentication error (the chain stopped there). */
  AuthenticationFailed: 4,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * The exit code an error stands for. Matches on `name`/`code`, not on
 * classes, so errors from `@azure/identity` classify the same way.
 *
 * @example
 * ```ts
 * exitCodeFor(new CredentialUnavailableError("no endpoint")); // 3
 * ```
 */
export function exitCodeFor(error: unknown): ExitCodeValue {
  const e = (error ?? {}) as { name?: unknown; code?: unknown };
  if (e.code === "ERR_INVALID_ARGUMENT" || e.name === "UsageError") return ExitCode.Usage;
  if (e.name === "AuthenticationError" || e.code === "ERR_AUTHENTICATION_FAILED") return ExitCode.AuthenticationFailed;
  if (
    e.name === "CredentialUnavailableError" ||
    e.name === "AggregateAuthenticationError" ||
    e.name === "AuthenticationRequiredError" ||
    e.code === "ERR_CREDENTIAL_UNAVAILABLE" ||
    e.code === "ERR_ALL_CREDENTIALS_UNAVAILABLE"
  ) {
    return ExitCode.Unavailable;
  }
  return ExitCode.Failure;
}

/**
 * Print one line `azmi <command>: <message>` on stderr (redacted) and return
 * the error's exit code. Multi-line messages are folded onto one line so the
 * "one clear line" promise holds whatever the layer below wrote.
 *
 * @example
 * ```ts
 * return reportError("serve", err); // "azmi serve: port 8080 on 127.0.0.1 is in use; …" → 1
 * ```
 */
export function reportError(command: string, error: unknown): ExitCodeValue {
  const code = exitCodeFor(error);
  let text = (error instanceof Error ? error.message : String(error)).replace(/\s*\r?\n\s*/g, " ").trim();
  // "azmi serve: azmi serve cannot listen…" reads badly; the prefix already says who speaks.
  const self = `azmi ${command} `;
  if (command && text.startsWith(self)) text = text.slice(self.length);
  printError(command, text || String(error));
  return code;
}

/**
 * Write `azmi <command>: <message>` to stderr, redacted.
 *
 * @example
 * ```ts
 * printError("env", "no server is running; start one with `azmi serve`");
 * ```
 */
export function printError(command: string, message: string): void {
  writeErr(redact(`${command ? `azmi ${command}` : "azmi"}: ${message}`) + "\n");
}

/**
 * Write a diagnostic line to stderr (redacted): verbose decisions, warnings, hints.
 *
 * @example
 * ```ts
 * note("azmi token: managed-identity selected in 12 ms");
 * ```
 */
export function note(line: string): void {
  writeErr(redact(line) + "\n");
}

/**
 * Whether to colour output on `stream` (anything with `isTTY`): only for a TTY, never when
 * `NO_COLOR` is set (https://no-color.org) or `TERM=dumb`.
 *
 * @example
 * ```ts
 * const paint = useColor({ isTTY: isTerminal(1) }) ? green : (s: string) => s;
 * ```
 */
export function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.TERM === "dumb") return false;
  return stream.isTTY === true;
}
