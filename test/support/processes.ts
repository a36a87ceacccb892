/**
 * The processes a test's subject started, read from `/proc` (Linux): for
 * tests that a developer tool the code ran (a fake `az` that sleeps) does or
 * does not outlive it.
 *
 * @example
 * ```ts
 * const [az] = commandsBelow(server.pid!, ["/bin/sleep", "120"]);
 * server.kill("SIGTERM");
 * assert.equal(isRunning(az!), false);
 * ```
 */
import * as fs from "node:fs";
import { descendantsOf } from "../../src/descendants";

/** The processes below `root` whose command line starts with `argv` (whole arguments). */
export function commandsBelow(root: number, argv: string[]): number[] {
  const prefix = argv.join("\u0000");
  return descendantsOf(root).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, "latin1").startsWith(prefix);
    } catch {
      return false; // ended while we looked
    }
  });
}

/** Whether `pid` still runs (a zombie waiting for its parent does not). */
export function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "latin1"));
  } catch {
    return false;
  }
}
