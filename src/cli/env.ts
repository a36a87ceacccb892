/**
 * `azmi env`: print the variables that point a client at the running
 * `azmi serve` (found through its per-user state file), for a shell or a
 * container, ready to paste or `eval`.
 *
 * Containers cannot reach the host's 127.0.0.1, so for `docker`/`compose`
 * the address becomes `host.docker.internal` (mapped with `--add-host` /
 * `extra_hosts: host-gateway`), and when the server is bound to loopback a
 * note on stderr says which `--host` it needs.
 *
 * @example
 * ```sh
 * eval "$(azmi env)"                       # bash, App Service dialect
 * azmi env --shell pwsh | Invoke-Expression
 * docker run $(azmi env --shell docker) my-image
 * ```
 */
import { parseArgs, type FlagSpecs } from "./args";
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
import { ExitCode, note, printError, reportError } from "./output";
import { writeOut } from "./stdio";

const FLAGS: FlagSpecs = {
  shell: { kind: "string", choices: SHELLS, placeholder: "bash|pwsh|docker|compose" },
  dialect: { kind: "string", choices: DIALECT_NAMES, placeholder: DIALECT_NAMES.join("|") },
};

/**
 * `azmi env --help`.
 *
 * @example
 * ```ts
 * writeOut(ENV_HELP);
 * ```
 */
export const ENV_HELP = `Usage: azmi env [--shell bash|pwsh|docker|compose] [--dialect NAME]

Print the environment variables that point a client at the running 'azmi serve',
ready to paste or eval.

Options:
  --shell SHELL      bash (default): export K='v'        eval "$(azmi env)"
                     pwsh: $env:K = 'v'                  azmi env --shell pwsh | Invoke-Expression
                     docker: -e K=v flags on one line    docker run $(azmi env --shell docker) IMAGE
                     compose: an environment: block (with extra_hosts) for a service
  --dialect NAME     ${DIALECT_NAMES.join(", ")}
                     Default: ${DEFAULT_DIALECT}, which every Azure SDK speaks.
  -h, --help         Show this help

Dialects:
${DIALECT_NAMES.map((n) => `  ${n.padEnd(17)}${DIALECT_NOTES[n]}`).join("\n")}

For docker and compose the address is host.docker.internal. A server bound to
127.0.0.1 cannot be reached from a container: start it with --host (see the note
printed on stderr).

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
  try {
    const a = parseArgs(argv, "env", FLAGS);
    if (a.help) {
      writeOut(ENV_HELP);
      return ExitCode.Ok;
    }
    shell = (a.shell as Shell | undefined) ?? "bash";
    dialect = (a.dialect as DialectName | undefined) ?? DEFAULT_DIALECT;
  } catch (e) {
    return reportError("env", e);
  }

  let state: StateLike | undefined;
  try {
    const { readServerState } = require("../serve/state") as typeof import("../serve/state");
    state = (await readServerState()) as StateLike | undefined;
  } catch (e) {
    return reportError("env", e);
  }
  if (!state) {
    printError("env", "no azmi server is running for this user; start one with `azmi serve`");
    return ExitCode.Unavailable;
  }

  const vars = state.dialects?.[DIALECT_KEYS[dialect]];
  if (!vars || Object.keys(vars).length === 0) {
    printError("env", `the running server does not offer the ${dialect} dialect; pick another with --dialect (${DIALECT_NAMES.join(", ")})`);
    return ExitCode.Failure;
  }

  const container = shell === "docker" || shell === "compose";
  if (container) {
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
    writeOut(formatEnv(forContainers(vars), shell, { addHost: true }));
  } else {
    writeOut(formatEnv(vars, shell));
  }
  return ExitCode.Ok;
}

function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}
