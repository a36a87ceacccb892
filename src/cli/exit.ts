/**
 * How every `azmi` process ends: with the command's exit code, once stdout
 * and stderr have flushed (pipes can be asynchronous on some platforms, and
 * exiting early would cut the output). Exiting explicitly matters: a
 * keep-alive socket or a refresh timer must not keep a finished CLI alive.
 * No imports, so `azmi --version` stays as cheap as `node`.
 *
 * @example
 * ```ts
 * main(argv).then(exitAfterFlush);
 * ```
 */
export function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
}
