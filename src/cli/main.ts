/**
 * The `azmi` command: dispatch to one command module, loaded lazily so that
 * `azmi token` never pays for the server and `azmi --help` pays for nothing.
 * Nothing runs at module load; `bin/azmi.js` calls {@link run}.
 *
 * @example
 * ```sh
 * azmi token --resource https://vault.azure.net
 * azmi doctor
 * azmi serve --json
 * eval "$(azmi env)"
 * ```
 */
// Only exit.ts (no imports of its own): `azmi --version` and `azmi --help` load nothing else.
import { exitAfterFlush } from "./exit";
import { writeOut, writeErr } from "./stdio";

/** The commands and how to load each (a `require` per command keeps start-up minimal). */
const COMMANDS: Record<string, () => { run: (argv: readonly string[]) => Promise<number>; help: string }> = {
  token: () => {
    const m = require("./token") as typeof import("./token");
    return { run: m.runToken, help: m.TOKEN_HELP };
  },
  doctor: () => {
    const m = require("./doctor") as typeof import("./doctor");
    return { run: m.runDoctor, help: m.DOCTOR_HELP };
  },
  serve: () => {
    const m = require("./serve") as typeof import("./serve");
    return { run: m.runServe, help: m.SERVE_HELP };
  },
  env: () => {
    const m = require("./env") as typeof import("./env");
    return { run: m.runEnv, help: m.ENV_HELP };
  },
};

/**
 * `azmi --help`: the commands, the exit codes every command shares, logging.
 *
 * @example
 * ```ts
 * writeOut(MAIN_HELP);
 * ```
 */
export const MAIN_HELP = `Usage: azmi <command> [options]

Managed identity, anywhere: tokens from the Azure credential chain, a doctor that
explains it, and a local managed-identity endpoint every Azure SDK accepts.

Commands:
  token    Print an access token (MSI JSON, AccessToken JSON, raw, or a header)
  doctor   Show what every link of the chain did, why, and how long it took
  serve    Run a local managed-identity endpoint until Ctrl-C
  env      Print the variables that point a shell or container at 'azmi serve'

Run 'azmi <command> --help' for a command's options.

Options:
  -h, --help       Show this help
  -V, --version    Print the version

Exit codes (every command):
  0 success   1 failure (e.g. port in use, an unexpected error)   2 usage error
  3 no credential could be used / no server running   4 authentication failed
  (doctor: 0 when a link answered, 3 otherwise; it reports failures, it does not fail)

Logging: AZURE_LOG_LEVEL=verbose|info|warning|error writes azmi's log to stderr;
tokens and secrets are always redacted.
`;

/**
 * Run one `azmi` invocation; resolves to the exit code (never rejects).
 *
 * @example
 * ```ts
 * const code = await main(["token", "--output", "raw"]);
 * ```
 */
export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    writeErr(MAIN_HELP);
    return 2;
  }
  if (first === "-h" || first === "--help") {
    writeOut(MAIN_HELP);
    return 0;
  }
  if (first === "-V" || first === "--version") {
    writeOut(`${version()}\n`);
    return 0;
  }
  if (first === "help") {
    const topic = rest[0];
    if (topic === undefined) {
      writeOut(MAIN_HELP);
      return 0;
    }
    const loader = own(topic);
    if (!loader) return unknownCommand(topic);
    writeOut(loader().help);
    return 0;
  }
  const loader = own(first);
  if (!loader) return unknownCommand(first);
  try {
    return await loader().run(rest);
  } catch (e) {
    // Commands report their own errors; this is the last line of defence.
    const { reportError } = require("./output") as typeof import("./output");
    return reportError(first, e);
  }
}

/**
 * Entry point of `bin/azmi.js`: run and exit with the command's code once
 * output has flushed (an open keep-alive socket must not keep the CLI alive).
 *
 * @example
 * ```js
 * require("../dist/src/cli/main.js").run(process.argv.slice(2));
 * ```
 */
export function run(argv: readonly string[] = process.argv.slice(2)): void {
  main(argv).then(exitAfterFlush, () => exitAfterFlush(1));
}

/** The package version, read from package.json only when asked. */
function version(): string {
  return (require("../../../package.json") as { version: string }).version;
}

function own(name: string) {
  return Object.prototype.hasOwnProperty.call(COMMANDS, name) ? COMMANDS[name] : undefined;
}

function unknownCommand(name: string): number {
  const { escapeControlCharacters } = require("../credentials/scopes") as typeof import("../credentials/scopes");
  const hint = name.startsWith("-")
    ? `unknown option ${escapeControlCharacters(name)}; options go after the command, e.g. azmi token ${escapeControlCharacters(name)}`
    : `unknown command '${escapeControlCharacters(name)}'; commands are ${Object.keys(COMMANDS).join(", ")} (see 'azmi --help')`;
  const { printError } = require("./output") as typeof import("./output");
  printError("", hint);
  return 2;
}
