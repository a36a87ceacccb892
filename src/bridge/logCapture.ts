/**
 * Collects azmi's log lines (already redacted by `src/log.ts`) during one
 * verbose request, so PowerShell can show them with `Write-Verbose`. Outside
 * a capture, logging behaves as the user configured it (`AZURE_LOG_LEVEL`,
 * written to the bridge's stderr).
 *
 * @example
 * ```ts
 * const stop = startLogCapture();
 * await work();
 * const lines = stop(); // ["azmi:info ManagedIdentityCredential => getToken() => ..."]
 * ```
 */
import type * as AzureLoggerModule from "@azure/logger";

/** Most lines kept per request; a chain walk writes a few dozen at most. */
const MAX_LINES = 200;

/** Start capturing at `info` level; the returned function stops, restores and returns the lines. */
export function startLogCapture(): () => string[] {
  const logger = require("@azure/logger") as typeof AzureLoggerModule;
  const lines: string[] = [];
  const previousLog = logger.AzureLogger.log;
  const previousLevel = logger.getLogLevel();
  logger.AzureLogger.log = (...args: unknown[]) => {
    if (lines.length < MAX_LINES) lines.push(args.map(String).join(" ").trimEnd());
  };
  if (previousLevel !== "verbose") logger.setLogLevel("info");
  return () => {
    logger.AzureLogger.log = previousLog;
    logger.setLogLevel(previousLevel);
    return lines;
  };
}
