/**
 * The env file that carries a server's variables into a container, so that
 * no secret (`IDENTITY_HEADER`, `MSI_SECRET`) is ever put on a `docker run`
 * command line: command lines are readable by every user of the machine
 * (`ps`, `/proc/<pid>/cmdline`) and are kept in shell history.
 *
 * The file is written owner-only (0600) and atomically, in the format both
 * `docker run --env-file` and compose's `env_file:` read the same way:
 * one `KEY=VALUE` per line, no quotes, no `export`, the value taken
 * literally up to the end of the line. Values that the two readers would
 * read differently (newlines, quotes, `$`, `#`, spaces…) are refused rather
 * than written in a form one of them misreads.
 *
 * @example
 * ```ts
 * const file = writeDockerEnvFile(forContainers(server.dialects.appService));
 * writeOut(`docker run ${dockerRunFlags(file)} IMAGE\n`);
 * ```
 */
import fs = require("node:fs");
import path = require("node:path");
import { AzmiError, ErrorCode } from "../errors";
import { azmiHome, ensureAzmiHome } from "../paths";
import { DEFAULT_DIALECT, type DialectName } from "./dialects";

/**
 * The flag that maps `host.docker.internal` to the host inside a container
 * (Docker Desktop has the name already; Linux engines need the mapping).
 *
 * @example
 * ```ts
 * `docker run --env-file ${file} ${ADD_HOST_FLAG} IMAGE`
 * ```
 */
export const ADD_HOST_FLAG = "--add-host host.docker.internal:host-gateway";

/** Variable names docker and compose both accept unchanged. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Values both readers take literally in an unquoted line: no whitespace
 * (docker keeps trailing blanks, compose trims them), no quotes (compose
 * unquotes), no `$` (compose interpolates), no `#` (compose may read a
 * comment), no backslash. URLs and hex secrets fit.
 */
const LITERAL_VALUE = /^[A-Za-z0-9_./:=@%+,~?&!*()[\]-]*$/;

/** Paths that survive the word splitting of `docker run $(azmi env --shell docker)` unquoted. */
const SPLIT_SAFE_PATH = /^[A-Za-z0-9_./:@%+,~=-]+$/;

/**
 * Where `azmi env --shell docker`, `azmi serve` and `npm start` keep the env
 * file when no `--file` is given: `<azmi home>/docker.env` for the App Service
 * dialect (the one a server writes at start and its start-up text names),
 * `<azmi home>/docker-<dialect>.env` for another `--dialect`. One file for all
 * dialects meant that `azmi env --shell docker --dialect imds` silently turned
 * the server's announced App Service file into an IMDS one (and the next
 * server start turned it back under a compose file that wanted IMDS).
 *
 * @example
 * ```ts
 * defaultDockerEnvPath(); // /home/me/.azmi/docker.env
 * defaultDockerEnvPath(process.env, "imds"); // /home/me/.azmi/docker-imds.env
 * ```
 */
export function defaultDockerEnvPath(env: NodeJS.ProcessEnv = process.env, dialect: DialectName = DEFAULT_DIALECT): string {
  return path.join(azmiHome(env), dialect === DEFAULT_DIALECT ? "docker.env" : `docker-${dialect}.env`);
}

/**
 * The env file's text: `KEY=VALUE\n` per variable, nothing else. Throws
 * `AzmiError(ERR_INVALID_ARGUMENT)` naming the variable (never its value)
 * when a name or value cannot be written so that docker and compose read it
 * back exactly.
 *
 * @example
 * ```ts
 * formatEnvFile({ IDENTITY_ENDPOINT: "http://host.docker.internal:4000/msi/token" });
 * // "IDENTITY_ENDPOINT=http://host.docker.internal:4000/msi/token\n"
 * ```
 */
export function formatEnvFile(vars: Record<string, string>): string {
  let text = "";
  for (const [name, value] of Object.entries(vars)) {
    if (!NAME.test(name)) {
      throw new AzmiError(ErrorCode.InvalidArgument, `Cannot write '${name}' to a docker env file: a variable name must be letters, digits and '_' and not start with a digit.`);
    }
    if (typeof value !== "string" || !LITERAL_VALUE.test(value)) {
      throw new AzmiError(
        ErrorCode.InvalidArgument,
        `Cannot write ${name} to a docker env file: its value has characters (whitespace, quotes, '$', '#' or '\\') that docker's --env-file and compose's env_file read differently; use azmi env --shell bash instead.`,
      );
    }
    text += `${name}=${value}\n`;
  }
  return text;
}

/**
 * Write `vars` to `file` (default {@link defaultDockerEnvPath} for `dialect`) owner-only
 * and atomically, replacing what was there; returns the absolute path.
 * The default folder is created owner-only; a folder given by the user must exist.
 *
 * @example
 * ```ts
 * const file = writeDockerEnvFile(forContainers(state.dialects.appService), "./azmi.env");
 * ```
 */
export function writeDockerEnvFile(
  vars: Record<string, string>,
  file?: string,
  env: NodeJS.ProcessEnv = process.env,
  dialect: DialectName = DEFAULT_DIALECT,
): string {
  const text = formatEnvFile(vars);
  let target: string;
  if (file === undefined) {
    ensureAzmiHome(env);
    target = defaultDockerEnvPath(env, dialect);
  } else {
    target = path.resolve(file);
  }
  try {
    writeExclusiveThenRename(target, text);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new AzmiError(
      ErrorCode.StateFile,
      `Cannot write the docker env file ${target} (${code}); check that its folder exists and is yours, or name another with azmi env --file PATH.`,
      { cause: error },
    );
  }
  return target;
}

/**
 * Owner-only and atomic, safe in a folder others can write (e.g. /tmp): the
 * temp name is unpredictable and created with O_EXCL, so a planted file or
 * symlink is never written through; rename replaces the target itself (a
 * symlink there is replaced, its target untouched).
 */
function writeExclusiveThenRename(target: string, text: string): void {
  const { randomBytes } = require("node:crypto") as typeof import("node:crypto");
  const tmp = `${target}.${randomBytes(6).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600, flag: "wx" });
  try {
    fs.renameSync(tmp, target);
  } catch (error) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // Gone already.
    }
    throw error;
  }
}

/**
 * The `docker run` flags that load the env file and map the host name:
 * `--env-file FILE --add-host host.docker.internal:host-gateway`. The path is
 * printed bare when it survives `$(…)` word splitting, else POSIX-quoted
 * (then the line must be pasted, not substituted; {@link isSplitSafePath} tells which).
 *
 * @example
 * ```ts
 * dockerRunFlags("/home/me/.azmi/docker.env");
 * // "--env-file /home/me/.azmi/docker.env --add-host host.docker.internal:host-gateway"
 * ```
 */
export function dockerRunFlags(file: string): string {
  const shown = isSplitSafePath(file) ? file : `'${file.replace(/'/g, `'\\''`)}'`;
  return `--env-file ${shown} ${ADD_HOST_FLAG}`;
}

/**
 * Whether `docker run $(azmi env --shell docker) IMAGE` can carry this path
 * (no whitespace, quotes or glob characters, which unquoted substitution
 * would split or expand).
 *
 * @example
 * ```ts
 * isSplitSafePath("/Users/Jane Doe/.azmi/docker.env"); // false
 * ```
 */
export function isSplitSafePath(file: string): boolean {
  return SPLIT_SAFE_PATH.test(file);
}

/**
 * A compose service's `env_file:` and `extra_hosts:` entries for the env file
 * (indented for a service under `services:`). The path is a YAML double-quoted
 * string with every `$` doubled: compose interpolates `$NAME` / `${NAME}` in
 * every value of the file, `env_file:` paths included, and `$$` is its literal
 * `$` (a folder such as `/home/me/$work/.azmi` would otherwise name another file).
 *
 * @example
 * ```ts
 * composeLines("/home/me/.azmi/docker.env");
 * // '    env_file:\n      - "/home/me/.azmi/docker.env"\n    extra_hosts:\n      - "host.docker.internal:host-gateway"\n'
 * ```
 */
export function composeLines(file: string): string {
  return [
    "    env_file:",
    `      - ${JSON.stringify(file).replace(/\$/g, "$$$$")}`,
    "    extra_hosts:",
    `      - "host.docker.internal:host-gateway"`,
  ].join("\n") + "\n";
}
