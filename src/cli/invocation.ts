/**
 * The command that runs this CLI as the user ran it, for the commands azmi
 * prints for them to run next (`eval "$(… env)"`, `… doctor`): one they can
 * paste, not an `azmi` their shell does not know (a fresh clone has none on
 * PATH, and `eval "$(azmi env)"` then fails quietly).
 *
 * @example
 * ```ts
 * howThisCliWasRun(); // "node bin/azmi.js" in a checkout, "azmi" when installed on PATH
 * ```
 */
import fs = require("node:fs");
import path = require("node:path");

export function howThisCliWasRun(argv1: string | undefined = process.argv[1], env: NodeJS.ProcessEnv = process.env, where: CommandFolder = "here"): string {
  if (argv1 === undefined) return "azmi";
  // npx (npm exec) and npm run run a bin link from npx's cache or
  // node_modules/.bin, whose folder is on their own PATH only: here, the
  // user's shell reaches it as `npx azmi`. (A plain `node bin/azmi.js`
  // started under some other npm command inherits the variable, hence the
  // path test. Not for another shell: `npx azmi` resolves from the folder it
  // runs in, and elsewhere would fetch a package of that name from the registry.)
  const runByNpm = env.npm_command !== undefined && /[\\/](?:_npx|node_modules[\\/]\.bin)[\\/]/.test(argv1);
  if (runByNpm && where === "here") return "npx azmi";
  // (Another shell has no such `azmi` on its PATH, whatever this process's PATH says.)
  if (!argv1.endsWith(".js") && !runByNpm && onPath(path.dirname(argv1), env)) return "azmi";
  let script = argv1;
  try {
    script = fs.realpathSync(argv1); // a bin link not on PATH: run the file it points at
  } catch {
    // gone or unreadable: show it as given
  }
  return nodeCommand(script, where);
}

/**
 * Where a printed command will be run: `"here"`, in this shell (advice after
 * a failed command), or `"any"`, in another shell, which may start in another
 * folder (the load commands a server prints for other terminals).
 */
export type CommandFolder = "here" | "any";

/**
 * `node <script>` as a shell line: for a command run here, the path relative
 * to the working folder when it lies below it; else absolute. Quoted when a
 * shell would split or expand it.
 *
 * @example
 * ```ts
 * nodeCommand("/work/azmi/bin/azmi.js"); // "node bin/azmi.js" from /work/azmi
 * nodeCommand("/work/azmi/bin/azmi.js", "any"); // "node /work/azmi/bin/azmi.js"
 * ```
 */
export function nodeCommand(script: string, where: CommandFolder = "here"): string {
  const absolute = path.resolve(script);
  const relative = path.relative(process.cwd(), absolute);
  const below = relative !== "" && !relative.startsWith("..") && !path.isAbsolute(relative);
  return `node ${quoted(where === "here" && below ? relative : absolute)}`;
}

/** Whether `dir` is one of PATH's folders (compared resolved, links followed). */
function onPath(dir: string, env: NodeJS.ProcessEnv): boolean {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  const wanted = real(dir);
  return (env.PATH ?? "").split(path.delimiter).some((entry) => entry !== "" && real(entry) === wanted);
}

/**
 * A path as bash, zsh and PowerShell all read it: bare when plain, else
 * single-quoted; with a quote inside (an O'Brien home folder), double-quoted,
 * which both shells read literally only while nothing in it expands (`$`, a
 * backtick) or escapes (`"`, a backslash). A path with both has no quoting
 * common to both: it gets bash's ('…'\''…').
 */
function quoted(p: string): string {
  if (/^[\w./:\\-]+$/.test(p)) return p;
  if (!p.includes("'")) return `'${p}'`;
  if (!/[$`"\\]/.test(p)) return `"${p}"`;
  return `'${p.replace(/'/g, "'\\''")}'`;
}
