/**
 * The CLI's stdout and stderr, written synchronously to file descriptors 1
 * and 2. Why not `process.stdout`: on Node 20 its first use builds a stream,
 * which loads about twenty internal modules (the streams stack, ~5 ms of a
 * 50 ms `azmi token`); and with synchronous writes nothing is left to flush
 * when the command exits.
 *
 * @example
 * ```ts
 * writeOut(`${token}\n`);
 * if (isTerminal(1)) writeOut(colour(text));
 * ```
 */
import fs = require("node:fs");

/** Write all of `text` to stdout. A reader that went away (`azmi token | head -c 10`) ends the process quietly: that is its choice, not a crash. */
export function writeOut(text: string): void {
  if (!writeAll(1, text)) process.exit(0);
}

/**
 * Write all of `text` to stdout; false when the reader went away (EPIPE),
 * for a caller with something to undo before it ends (`azmi serve` stops its
 * server, whose state file would otherwise outlive it).
 */
export function tryWriteOut(text: string): boolean {
  return writeAll(1, text);
}

/** Write all of `text` to stderr; a closed stderr is ignored. */
export function writeErr(text: string): void {
  writeAll(2, text);
}

/**
 * Whether `fd` is a terminal (for colour), without creating a stream.
 *
 * @example
 * ```ts
 * useColor({ isTTY: isTerminal(1) });
 * ```
 */
export function isTerminal(fd: 1 | 2): boolean {
  return (require("node:tty") as typeof import("node:tty")).isatty(fd);
}

/** false when the reader has gone (EPIPE). */
function writeAll(fd: 1 | 2, text: string): boolean {
  const data = Buffer.from(text, "utf8");
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += fs.writeSync(fd, data, offset);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EPIPE") return false;
      // A non-blocking pipe that is full (the parent set O_NONBLOCK): wait for the reader a little.
      if (code === "EAGAIN") Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      else throw e;
    }
  }
  return true;
}
