/**
 * `azmi env`: print the variables that point a client at the running
 * `azmi serve` (found through its per-user state file), for a shell or a
 * container, ready to paste or `eval`.
 *
 * Containers cannot reach the host's 127.0.0.1, so for `docker`/`compose`
 * the address becomes `host.docker.internal` (mapped with `--add-host` /
 * `extra_hosts: host-gateway`), and when the server is bound to loopback a
 * note on stderr says which `--host` it needs. The container variables go to
 * an owner-only env file and only its path is printed: a `docker run -e
 * IDENTITY_HEADER=…` line would show the secret to every user (`ps`) and
 * keep it in shell history.
 *
 * @example
 * ```sh
 * eval "$(azmi env)"                       # bash, App Service dialect
 * azmi env --shell pwsh | Invoke-Expression
 * docker run $(azmi env --shell docker) my-image   # --env-file ~/.azmi/docker.env --add-host …
 * eval "$(azmi env --home /srv/azmi)"      # a server started with AZMI_HOME=/srv/azmi
 * ```
 */
import { parseArgs, UsageError, type FlagSpecs } from "./args";
import {
  DEFAULT_DIALECT,
  DIALECT_KEYS,
  DIALECT_NAMES,
  DIALECT_NOTES,
  SHELLS,
  forContainers,
  formatEnv,
  isLoopbackHost,
  type DialectName,
  type Shell,
} from "./dialects";
import { composeLines, dockerRunFlags, isSplitSafePath, writeDockerEnvFile } from "./dockerEnv";
import { ExitCode, note, printError, reportError } from "./output";
import { writeOut } from "./stdio";
import { azmiHome, azmiHomeChosenBy } from "../paths";
import { howThisCliWasRun } from "./invocation";

const FLAGS: FlagSpecs = {
  shell: { kind: "string", choices: SHELLS, placeholder: "bash|pwsh|docker|compose" },
  dialect: { kind: "string", choices: DIALECT_NAMES, placeholder: DIALECT_NAMES.join("|") },
  // Not --env-file: Node 20/22 read any argument starting with --env-file,
  // even after the script name, and exit before azmi runs when that file
  // does not exist yet (nodejs/node#54232), which is exactly the first use.
  file: { kind: "string", placeholder: "PATH" },
  home: { kind: "string", placeholder: "DIR" },
};

/**
 * `azmi env --help`.
 *
 * @example
 * ```ts
 * writeOut(ENV_HELP);
 * ```
 */
export const ENV_HELP = `Usage: azmi env [--shell bash|pwsh|docker|compose] [--dialect NAME] [--file PATH] [--home DIR]

Print the environment variables that point a client at the running 'azmi serve',
ready to eval; for containers, write them to an env file and print how to load it.
For bash and pwsh the server's other dialects' variables are unset first, so
loading one dialect after another switches to it.

Options:
  --shell SHELL      bash (default): export K='v'        eval "$(azmi env)"
                     pwsh: $env:K = 'v'                  azmi env --shell pwsh | Invoke-Expression
                     docker: writes the env file, prints --env-file FILE --add-host ...
                                                         docker run $(azmi env --shell docker) IMAGE
                     compose: writes the env file, prints env_file: and extra_hosts:
                     entries for a service
  --dialect NAME     ${DIALECT_NAMES.join(", ")}
                     Default: ${DEFAULT_DIALECT}, which every Azure SDK speaks.
  --file PATH        docker and compose: where to write the env file.
                     Default: docker.env in azmi's folder ($AZMI_HOME, else
                     $XDG_STATE_HOME/azmi, else ~/.azmi); docker-NAME.env there
                     for another --dialect NAME (docker.env stays App Service)
  --home DIR         The azmi folder of the server to read (where its serve.json is),
                     for a server started with another AZMI_HOME / XDG_STATE_HOME;
                     the start-up text of that server prints the flag for you.
                     Default: $AZMI_HOME, else $XDG_STATE_HOME/azmi, else ~/.azmi
  -h, --help         Show this help

Dialects:
${DIALECT_NAMES.map((n) => `  ${n.padEnd(17)}${DIALECT_NOTES[n]}`).join("\n")}

For docker and compose the address is host.docker.internal. A server bound to
127.0.0.1 cannot be reached from a container: start it with --host (see the note
printed on stderr).

The secret header (IDENTITY_HEADER, MSI_SECRET) goes only into the env file
(owner-only, KEY=VALUE lines), never onto the docker command line, where every
user could read it (ps) and your shell history would keep it. Each new server has
a new secret; 'azmi serve' and 'npm start' rewrite the default file when they
start; a file named with --file is rewritten only by running this command
again, so rerun it after restarting the server.

Exit codes: 0 printed   3 no server is running   2 usage error
            1 anything else (e.g. the server does not offer that dialect)
`;

/** Where a server's state says it is and what to set per dialect (src/serve/state.ts). */
interface StateLike {
  url?: string;
  host?: string;
  port?: number;
  env?: Record<string, string>;
  dialects?: Record<string, Record<string, string> | undefined>;
}

/**
 * Run `azmi env`; resolves to the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await runEnv(["--shell", "pwsh"]);
 * ```
 */
export async function runEnv(argv: readonly string[]): Promise<number> {
  let shell: Shell;
  let dialect: DialectName;
  let envFile: string | undefined;
  let stateEnv: NodeJS.ProcessEnv = process.env;
  try {
    const a = parseArgs(argv, "env", FLAGS);
    if (a.help) {
      writeOut(ENV_HELP);
      return ExitCode.Ok;
    }
    shell = (a.shell as Shell | undefined) ?? "bash";
    dialect = (a.dialect as DialectName | undefined) ?? DEFAULT_DIALECT;
    envFile = a.file as string | undefined;
    if (envFile !== undefined && shell !== "docker" && shell !== "compose") {
      throw new UsageError("env", `--file goes with --shell docker or --shell compose (got --shell ${shell}, which prints the variables)`);
    }
    if (envFile === "") throw new UsageError("env", "--file needs a path, e.g. --file ./azmi.env");
    if (a.home !== undefined) {
      // Everything azmiHome() decides (state file, default docker env file) follows --home.
      stateEnv = { ...process.env, AZMI_HOME: a.home as string };
    }
  } catch (e) {
    return reportError("env", e);
  }

  let state: StateLike | undefined;
  try {
    const { readServerState } = require("../serve/state") as typeof import("../serve/state");
    state = readServerState(stateEnv) as StateLike | undefined;
  } catch (e) {
    return reportError("env", e);
  }
  if (!state) {
    printError(
      "env",
      stateEnv === process.env
        ? `no azmi server is running with its state in ${azmiHome(stateEnv)} (this user's azmi folder${azmiHomeChosenBy(stateEnv) === "HOME" ? "" : `, from ${azmiHomeChosenBy(stateEnv)}`}); start one with \`${howThisCliWasRun()} serve\``
        : `no azmi server is running with its state in ${stateEnv.AZMI_HOME}; start one with \`${howThisCliWasRun()} serve\`, or check --home`,
    );
    return ExitCode.Unavailable;
  }

  const vars = state.dialects?.[DIALECT_KEYS[dialect]];
  if (!vars || Object.keys(vars).length === 0) {
    // Name only what this server offers: listing the one just refused sent users round in a circle.
    const offered = DIALECT_NAMES.filter((name) => Object.keys(state.dialects?.[DIALECT_KEYS[name]] ?? {}).length > 0);
    printError("env", `the running server does not offer the ${dialect} dialect (its start-up text says why); pick one it offers with --dialect: ${offered.join(", ")}`);
    return ExitCode.Failure;
  }

  if (shell === "docker" || shell === "compose") {
    const host = state.host ?? hostOf(state.url);
    if (host && isLoopbackHost(host)) {
      note(
        `azmi env: the server listens on ${host}, which a container cannot reach; restart it with ` +
          "`azmi serve --host 0.0.0.0` (or the docker bridge address, e.g. --host 172.17.0.1) " +
          "— it is then reachable from other machines too, and the printed address host.docker.internal maps to it",
      );
    }
    if (dialect === "arc") {
      note("azmi env: the Arc dialect needs the key file the server names to be readable in the container (mount its folder)");
    }
    let file: string;
    try {
      file = writeDockerEnvFile(forContainers(vars), envFile, stateEnv, dialect);
    } catch (e) {
      return reportError("env", e);
    }
    if (shell === "compose") {
      writeOut(composeLines(file));
    } else {
      if (!isSplitSafePath(file)) {
        note(`azmi env: the env file's path has characters that $(...) would split; paste the printed flags instead of substituting them, or pick another path with --file`);
      }
      writeOut(`${dockerRunFlags(file)}\n`);
    }
  } else {
    let text: string;
    try {
      text = formatEnv(vars, shell, otherDialectNames(state.dialects ?? {}, vars));
    } catch (e) {
      return reportError("env", e);
    }
    writeOut(text);
  }
  return ExitCode.Ok;
}

/**
 * The variables of the server's other dialects that this one does not set:
 * printed as unsets first, so that eval'ing one dialect after another
 * switches to it (the SDKs would otherwise keep the one they look for first,
 * e.g. App Service's IDENTITY_ENDPOINT over Cloud Shell's MSI_ENDPOINT).
 */
function otherDialectNames(dialects: Record<string, Record<string, string> | undefined>, chosen: Record<string, string>): string[] {
  const names = new Set<string>();
  for (const vars of Object.values(dialects)) for (const name of Object.keys(vars ?? {})) if (!(name in chosen)) names.add(name);
  // azmi's own settings (AZMI_ARC_TOKENS_DIR) choose no dialect: a switch leaves them as the user set them.
  return [...names].filter((name) => !name.startsWith("AZMI_")).sort();
}

function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}
