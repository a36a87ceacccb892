/**
 * What `bin/azmi.js` runs: the CLI as one bundle through the start-up code
 * cache (see `bundle.ts`), or the unbundled `cli/main.ts` where there is no
 * bundle. Each command keeps its own code cache, because each runs different
 * functions (`azmi token` should not load `azmi serve`'s compiled code).
 *
 * @example
 * ```js
 * require("../dist/src/boot/cli.js").run(process.argv.slice(2));
 * ```
 */
import { loadBundle } from "./bundle";

type Cli = typeof import("../cli/main");

/** Commands with a code cache of their own; anything else (help, typos) shares one. */
const CACHED_COMMANDS = new Set(["token", "doctor", "serve", "env"]);

export function run(argv: readonly string[]): void {
  const command = argv[0] ?? "";
  const variant = CACHED_COMMANDS.has(command) ? command : "other";
  (loadBundle<Cli>("cli", "cli/main.js", variant) ?? (require("../cli/main") as Cli)).run(argv);
}
