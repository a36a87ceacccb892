/**
 * The processes this one started, and theirs, for the shutdown of `azmi
 * serve --issuer chain` and of the PowerShell bridge. Their chains run
 * developer tools through `@azure/identity`, which starts them with a shell
 * (`/bin/sh -c "az account get-access-token …"`) and no way to stop them; a
 * tool still running when the process ends would live on under pid 1 (a
 * hanging `az` for as long as it hangs). Neither process starts anything
 * else, so at exit everything below it is such a tool.
 *
 * Linux only (read from `/proc`); elsewhere nothing is found. Never used by
 * `startServer()` embedded in an application, whose children are its own.
 *
 * @example
 * ```ts
 * await server.close();
 * stopDescendants(); // SIGTERM to every process below this one
 * ```
 */
import fs = require("node:fs");

/**
 * Every live process below `root` (children, grandchildren, …), read from
 * `/proc/<pid>/stat`; `[]` where there is no `/proc`.
 */
export function descendantsOf(root: number = process.pid): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync("/proc");
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const parent = parentOf(Number(entry));
    if (parent === undefined) continue;
    const list = children.get(parent);
    if (list) list.push(Number(entry));
    else children.set(parent, [Number(entry)]);
  }
  const found: number[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    found.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

/**
 * `pid`'s parent, read from `/proc/<pid>/stat` (its 4th field, after the
 * parenthesised name, which may hold spaces and parentheses); undefined
 * where there is no `/proc` or the process has ended.
 *
 * @example
 * ```ts
 * parentOf(process.ppid); // npm's pid, when npm's shell started this process
 * ```
 */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const parent = Number(fields[1]);
    return Number.isInteger(parent) ? parent : undefined;
  } catch {
    return undefined; // ended while we looked
  }
}

/**
 * Send SIGTERM to every process below this one (the deepest first, so a
 * shell cannot start anything new once its child is gone). Returns how many
 * were signalled.
 */
export function stopDescendants(root: number = process.pid): number {
  let signalled = 0;
  for (const pid of descendantsOf(root).reverse()) {
    try {
      process.kill(pid, "SIGTERM");
      signalled++;
    } catch {
      // already gone
    }
  }
  return signalled;
}
