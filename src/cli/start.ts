/**
 * `npm start`: the whole product in one command on a machine with no Azure at
 * all. Starts the local endpoint with the offline issuer (in this process),
 * points this process's environment at its App Service dialect (loopback
 * only), fetches a token THROUGH THE CHAIN (`getManagedTokenWithReport`, the
 * same path `azmi token` takes), prints it in MSI shape (the token itself only
 * on a terminal, see {@link formatStartToken}), prints how other shells and
 * containers load the variables (never a secret value), and serves until Ctrl-C.
 *
 * @example
 * ```sh
 * npm start                       # any free port
 * npm start -- --port 8080 --resource https://vault.azure.net
 * npm start -- --host 0.0.0.0 --allow-host azmi.test   # a name of your own (compose extra_hosts)
 * ```
 */
import fs = require("node:fs");
import path = require("node:path");
import type { RunningServer } from "../serve/server";
import { isAlive } from "../serve/state";
import { asUsageError, parseArgs, parseWholeNumber, UsageError, type FlagSpecs } from "./args";
import { checkResource } from "./token";
import { isLoopbackHost } from "./dialects";
import { nodeCommand } from "./invocation";
import { exitAfterFlush } from "./exit";
import { ExitCode, note, reportError } from "./output";
import { allowHostsOption, renderContainers, renderServer, SERVE_OPTION_FLAGS, withOtherServerAdvice, writeContainerEnvFile, writeStartupText } from "./serve";
import type { MsiTokenResponse } from "../credentials/types";
import { DEFAULT_RESOURCE, formatToken } from "./token";
import { isTerminal, writeOut } from "./stdio";

const FLAGS: FlagSpecs = {
  host: { kind: "string", placeholder: "ADDRESS" },
  "allow-host": { kind: "repeat", placeholder: "NAME" },
  port: { kind: "string", placeholder: "N" },
  resource: { kind: "string", placeholder: "URI" },
};

/**
 * `npm start -- --help`.
 *
 * @example
 * ```ts
 * writeOut(START_HELP);
 * ```
 */
export const START_HELP = `Usage: npm start [-- [--port N] [--host ADDRESS] [--allow-host NAME] [--resource URI]]

Start the local managed-identity endpoint (offline issuer), fetch a token through
the credential chain against it, print it (MSI JSON; access_token in full only
when stdout is a terminal, else its length), print how other shells and
containers load the variables (secret values are never printed), and keep
serving until Ctrl-C.

Default resource: ${DEFAULT_RESOURCE}   Default: 127.0.0.1, any free port.
--host accepts loopback addresses, or 0.0.0.0 / :: to let containers in too.
--allow-host NAME (repeatable) lets clients call the endpoint by a host name of
your own (e.g. a compose file's extra_hosts name), as 'azmi serve --allow-host'.
`;

/** How often `npm start`'s server checks that npm and its shell are still there. */
const PARENT_CHECK_MS = 500;

/**
 * The process that started this one (npm's shell, or npm itself where the
 * shell execs node) and npm's pid when Linux's /proc shows which of the
 * parent and the grandparent is npm. Only npm is watched, never a user's
 * interactive shell further up (`nohup npm start &` must outlive it).
 */
function npmLauncher(): { parent: number; npm?: number } {
  const parent = process.ppid;
  if (process.platform !== "linux") return { parent };
  try {
    const grandparent = (require("../descendants") as typeof import("../descendants")).parentOf(parent);
    for (const pid of [parent, grandparent]) {
      if (pid !== undefined && pid > 1 && isNpm(pid)) return { parent, npm: pid };
    }
  } catch {
    // No /proc here, or the parent already gone: watch the parent alone.
  }
  return { parent };
}

/** Whether `pid`'s command line is npm's: its title (`npm start`, which npm sets) or `node …/npm-cli.js …`. */
function isNpm(pid: number): boolean {
  const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0");
  return argv.slice(0, 2).some((arg) => /^npm(\s|$)/.test(arg) || /\/(npm|npm-cli\.js)$/.test(arg));
}

/** Addresses that include loopback: the server is reachable at 127.0.0.1 too. */
const WILDCARD_HOSTS = ["0.0.0.0", "::"];

/**
 * Variables that would make the chain pick something other than the local
 * endpoint's App Service dialect (another identity source, a proxy, a
 * service principal); removed from this process before the fetch.
 */
const COMPETING_VARS = [
  "AZURE_TOKEN_CREDENTIALS", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
  "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
  "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
];

/**
 * Run the `npm start` flow; resolves to the exit code once the server stops.
 *
 * @example
 * ```ts
 * process.exitCode = await runStart([]);
 * ```
 */
export async function runStart(argv: readonly string[]): Promise<number> {
  // Who started us, read before anything else (npm may be gone by the time the server is up).
  const launcher = process.env.npm_lifecycle_event === "start" ? npmLauncher() : undefined;
  let host: string | undefined;
  let allowHosts: string[] | undefined;
  let port: number | undefined;
  let resource = DEFAULT_RESOURCE;
  try {
    const a = parseArgs(argv, "start", FLAGS);
    if (a.help) {
      writeOut(START_HELP);
      return ExitCode.Ok;
    }
    if (a.host !== undefined) {
      host = a.host as string;
      // The token is fetched over loopback (never over a network), so the server must listen there too.
      if (!isLoopbackHost(host) && !WILDCARD_HOSTS.includes(host)) {
        throw new UsageError("start", `--host must be a loopback address or ${WILDCARD_HOSTS.join(" / ")} (the token is fetched over loopback); got '${host}'`);
      }
    }
    if (a["allow-host"] !== undefined) allowHosts = allowHostsOption(a["allow-host"]);
    if (a.port !== undefined) port = parseWholeNumber(a.port as string, "port", "start", 0, 65535);
    // Checked before the server starts (and creates its signing key) for nothing.
    if (a.resource !== undefined) resource = checkResource(a.resource as string, "start", false);
  } catch (e) {
    return reportError("start", e);
  }

  let server: RunningServer;
  try {
    const { startServer } = require("../serve/server") as typeof import("../serve/server");
    server = await startServer({ host, allowHosts, port, issuer: "local", stateFile: true, onWarning: (m: string) => note(`azmi: warning: ${m}`) });
  } catch (e) {
    return reportError("start", asUsageError("start", inNpmStartTerms(e), SERVE_OPTION_FLAGS));
  }

  try {
    const env = pointAtServer(server);
    const { getManagedTokenWithReport } = require("../msi") as typeof import("../msi");
    const { msi, report, error } = await getManagedTokenWithReport({ resource, only: "managed-identity", env });
    if (!msi) throw error;
    const link = report.links.find((l) => l.link === report.winner);
    note(
      `azmi: token for ${msi.resource} fetched through the chain` +
        `${link ? ` (${link.link}: ${link.reason}, ${Math.round(link.ms * 10) / 10} ms)` : ""}:`,
    );
    const failed = await writeStartupText(server, "start", () => formatStartToken(msi, isTerminal(1)));
    if (failed !== undefined) return failed;
  } catch (e) {
    const code = reportError("start", e);
    await server.close().catch(() => undefined);
    return code;
  }

  // Handlers before the "ready" text: whoever reads it may signal us right away.
  const stopped = new Promise<number>((resolve) => {
    let orphanCheck: NodeJS.Timeout | undefined;
    const stop = () => {
      process.removeListener("SIGINT", stop);
      process.removeListener("SIGTERM", stop);
      process.removeListener("SIGHUP", stop);
      clearInterval(orphanCheck);
      server.close().then(
        () => resolve(ExitCode.Ok),
        (e: unknown) => resolve(reportError("start", e)),
      );
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    process.on("SIGHUP", stop); // a closed terminal or ssh session
    // `npm start` runs this file through a shell. A SIGTERM to npm reaches that
    // shell, which dies without passing it on; a SIGKILL to npm (kill -9, a CI
    // job's hard cancel) reaches neither, and the shell waits on. Either way
    // the server would go on under pid 1, holding its state file. So when npm
    // started us, our parent going away, or npm going away, stops us too.
    // Polled: Node has no parent-death signal. (Linux finds npm through /proc;
    // elsewhere only a parent that goes away is seen, and Windows does not
    // report even that.)
    if (launcher) {
      const check = () => {
        const gone = process.ppid !== launcher.parent ? launcher.parent : launcher.npm !== undefined && !isAlive(launcher.npm) ? launcher.npm : undefined;
        if (gone === undefined) return;
        note(`azmi start: the process that started this one (pid ${gone}, ${gone === launcher.npm ? "npm" : "npm's shell"}) has ended; stopping the endpoint`);
        stop();
      };
      orphanCheck = setInterval(check, PARENT_CHECK_MS);
      orphanCheck.unref();
      check();
    }
  });
  const cli = thisCli();
  // The containers' env file holds this server's secret (a new one each start); the hint only names it.
  const envFile = writeContainerEnvFile(server, "azmi", cli);
  const failed = await writeStartupText(server, "start", () => "\n" + renderServer(server, "azmi", cli, renderContainers(server, envFile, "`npm start -- --host 0.0.0.0` (with your other flags)")));
  return failed ?? stopped;
}

/**
 * `node <this checkout's bin/azmi.js>`, for the commands npm start prints (no
 * `azmi` is on PATH in a checkout): absolute, since they are for other shells,
 * which may start in another folder.
 */
function thisCli(): string {
  return nodeCommand(path.join(__dirname, "../../../bin/azmi.js"), "any");
}

/** The "another server holds the state file" refusal in `npm start`'s terms (the core's are `azmi serve`'s). */
function inNpmStartTerms(error: unknown): unknown {
  return withOtherServerAdvice(
    error,
    (other) =>
      `another azmi server (pid ${other.pid}) is running at ${other.url} with the same state file (${other.stateFile}). Stop it first (Ctrl-C where it runs), or give this one its own folder: AZMI_HOME=DIR npm start (then ${thisCli()} env --home DIR finds it).`,
  );
}

/**
 * The token `npm start` fetched, in MSI shape. In full only when stdout is a
 * terminal (someone is looking at it); piped or redirected (systemd, docker,
 * CI, `tee`, a file) `access_token` is replaced by its length and how to get
 * it, so the token never lands in a log. Every other field is kept.
 *
 * @example
 * ```ts
 * formatStartToken(msi, false);
 * // {"access_token":"<redacted: 1234 chars; use azmi token to print it>","expires_in":"86399",…}
 * ```
 */
export function formatStartToken(msi: MsiTokenResponse, terminal: boolean): string {
  if (terminal) return formatToken(msi, "msi");
  return formatToken({ ...msi, access_token: `<redacted: ${msi.access_token.length} chars; use azmi token to print it>` }, "msi");
}

/**
 * Point this process at the server's App Service dialect and nothing else.
 * The address is always loopback: a server bound to a wildcard address is
 * reached through 127.0.0.1 from here (other hosts are refused up front).
 */
function pointAtServer(server: RunningServer): NodeJS.ProcessEnv {
  for (const name of COMPETING_VARS) delete process.env[name];
  for (const [k, v] of Object.entries(server.dialects.appService as Record<string, string>)) {
    process.env[k] = k === "IDENTITY_ENDPOINT" ? toLoopback(v) : v;
  }
  return process.env;
}

function toLoopback(endpoint: string): string {
  const url = new URL(endpoint);
  if (!isLoopbackHost(url.hostname)) url.hostname = "127.0.0.1";
  return url.toString();
}

if (require.main === module) {
  runStart(process.argv.slice(2)).then(exitAfterFlush, () => exitAfterFlush(ExitCode.Failure));
}
