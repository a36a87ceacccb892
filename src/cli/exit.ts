/**
 * How every `azmi` process ends: with the command's exit code. Exiting
 * explicitly matters: a keep-alive socket or a refresh timer must not keep a
 * finished CLI alive. The CLI writes its own output synchronously
 * (`stdio.ts`); what others wrote through `process.stdout`/`stderr` (a
 * logger) is synchronous on Linux and macOS too, but asynchronous for pipes
 * on Windows, so there it is flushed first. No imports, so `azmi --version`
 * stays as cheap as `node`.
 *
 * @example
 * ```ts
 * main(argv).then(exitAfterFlush);
 * ```
 */
export function exitAfterFlush(code: number): void {
  if (process.platform !== "win32") process.exit(code);
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
}
