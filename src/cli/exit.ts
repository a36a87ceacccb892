import { azureLoggerLoaded, logLevelFromEnv } from "../log";

/**
 * How every `azmi` process ends: with the command's exit code. Exiting
 * explicitly matters: a keep-alive socket or a refresh timer must not keep a
 * finished CLI alive. The CLI writes its own output synchronously
 * (`stdio.ts`), so usually nothing is pending and it exits at once. But what
 * others wrote through `process.stdout`/`stderr` — the Azure logger when
 * logging is on, a Node warning — can still be queued (a pipe to a slow
 * reader takes 64 KiB, the rest waits in the stream), so then it flushes
 * first. Imports only `log.ts`'s checks (no logger is loaded by them).
 *
 * @example
 * ```ts
 * main(argv).then(exitAfterFlush);
 * ```
 */
export function exitAfterFlush(code: number): void {
  if (!streamsMayHoldOutput()) process.exit(code);
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
}

let warned = false;
process.on("warning", () => (warned = true));

/** Whether anything may have written through the stdout/stderr streams (Windows pipes are always asynchronous). */
function streamsMayHoldOutput(): boolean {
  return process.platform === "win32" || warned || logLevelFromEnv() || azureLoggerLoaded();
}
