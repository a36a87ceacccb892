/**
 * `azmi serve`: the local managed-identity endpoint in the foreground. Prints
 * how to load the variables that point a client at it and each dialect's
 * variable names, never a secret value (or, with `--json`, one JSON line with
 * the values, secrets included, for scripts), then serves until
 * SIGINT/SIGTERM, closes (removing the per-user state file) and exits 0.
 *
 * @example
 * ```sh
 * azmi serve --json | head -1 | jq -r .env.IDENTITY_ENDPOINT
 * ```
 */
import { listenHostProblem } from "../serve/listenHost";
import type { FaultOptions } from "../serve/faults";
import type { OtherServer, RunningServer, ServeOptions } from "../serve/server";
import { canTellPeerUser } from "../serve/peerUser";
import { asUsageError, parseArgs, parseWholeNumber, UsageError, type FlagSpecs } from "./args";
import { DEFAULT_DIALECT, DIALECT_KEYS, DIALECT_NAMES, DIALECT_NOTES, describeVars, forContainers, isLoopbackHost, loadCommand } from "./dialects";
import { dockerRunFlags, writeDockerEnvFile } from "./dockerEnv";
import { howThisCliWasRun } from "./invocation";
import { ExitCode, note, reportError } from "./output";
import { tryWriteOut, writeOut } from "./stdio";

const FLAGS: FlagSpecs = {
  host: { kind: "string", placeholder: "ADDRESS" },
  "allow-host": { kind: "repeat", placeholder: "NAME" },
  port: { kind: "string", placeholder: "N" },
  issuer: { kind: "string", choices: ["local", "chain"], placeholder: "local|chain" },
  tenant: { kind: "string", placeholder: "ID" },
  "accept-any-identity": { kind: "boolean" },
  identity: { kind: "repeat", placeholder: "CLIENT_ID" },
  faults: { kind: "string", placeholder: "SPEC" },
  json: { kind: "boolean" },
};

/**
 * `azmi serve --help`.
 *
 * @example
 * ```ts
 * writeOut(SERVE_HELP);
 * ```
 */
export const SERVE_HELP = `Usage: azmi serve [options]

Run a local managed-identity endpoint that every Azure SDK accepts (App Service,
IMDS, Machine Learning / App Service 2017, Cloud Shell and Azure Arc dialects on
one port) until Ctrl-C. It prints how to load the variables that point a client
at it (eval "$(azmi env)"), and each dialect's variable names; the secret values
are never printed there, so the text is safe in logs. Load ONE dialect's group
(clients pick a dialect by which variables are set).

Options:
  --host ADDRESS         Address to listen on: an IP address or localhost (names are not
                         resolved). Default: 127.0.0.1 (this machine only). Anything else
                         makes the endpoint reachable from other machines and containers;
                         a warning is printed.
  --allow-host NAME      A host name clients may call it by (repeatable), besides the
                         ones it always takes (addresses, localhost, this machine's
                         name, names under .internal and .localhost): e.g. a compose
                         file's own extra_hosts name. Other names are refused
                         (DNS-rebinding protection).
  --port N               Port. Default: 0 (any free port)
  --issuer local|chain   local (default): sign tokens offline with a per-user key
                         (OIDC discovery and JWKS served, so local APIs can validate them);
                         chain: forward to this machine's credential chain (real tokens)
  --tenant ID            Tenant id put in locally issued tokens
  --identity CLIENT_ID   A user-assigned identity the endpoint knows (repeatable);
                         unknown ones get IMDS's "Identity not found"
  --accept-any-identity  Mint a distinct identity for any client id instead
  --faults SPEC          Fault mode for resilience tests, comma-separated key=value:
                           rate=0.2            share of token requests that fail (0..1)
                           statuses=429+503    what a failing request gets: 403 (Docker Desktop's
                                               "unreachable network"), 404, 410, 429, 500, 502, 503,
                                               504, or delay (default 429+410+500+503)
                           retry-after=2       Retry-After seconds on 429/503
                           delay-ms=2000       length of a delay fault
                           sequence=500+500+ok exact answers for the next requests, then rate applies
                           seed=7              make the random choice reproducible
  --json                 Print ONE JSON line: {"url","port","host","env":{...},
                         "dialects":{...},"issuer","jwks_uri"}, nothing else on stdout.
                         env and dialects hold the values, SECRETS INCLUDED
                         (IDENTITY_HEADER, MSI_SECRET): read it in a script, never log it
  -h, --help             Show this help

The server writes a per-user state file (owner-only) so that 'azmi env' in another
shell can print the variables; it is removed when the server stops.

Exit codes: 0 stopped by SIGINT/SIGTERM   1 could not start (e.g. port in use)
            2 usage error
`;

/**
 * Server option → the flag that sets it, so the server's validation messages name the flag.
 *
 * @example
 * ```ts
 * asUsageError("serve", err, SERVE_OPTION_FLAGS); // "tenantId must…" → "--tenant must…"
 * ```
 */
export const SERVE_OPTION_FLAGS: Record<string, string> = {
  host: "--host",
  allowHosts: "--allow-host",
  port: "--port",
  issuer: "--issuer",
  tenantId: "--tenant",
  identities: "--identity",
  faults: "--faults",
};

/**
 * `--host` as an address to listen on: an IP literal or `localhost`. A name
 * would be resolved through DNS before listening (a lookup leaving the
 * machine, for a server meant to be local) and could bind wherever the name
 * points today; say which address instead.
 */
function checkHost(host: string): string {
  const problem = listenHostProblem(host);
  if (problem === undefined) return host.replace(/^\[(.*)\]$/, "$1");
  throw new UsageError("serve", `--host must be an IP address to listen on (127.0.0.1, ::1, 0.0.0.0 or one of this machine's addresses) or localhost, got '${host}': ${problem}`);
}

/** Keys `--faults` accepts (the shape of `FaultOptions` in src/serve/faults.ts). */
const FAULT_KEYS = ["rate", "statuses", "retry-after", "delay-ms", "sequence", "seed"] as const;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `--allow-host` values (repeatable, each may list names separated by commas)
 * as `startServer`'s `allowHosts`; the server checks each name (shared with `npm start`).
 *
 * @example
 * ```ts
 * allowHostsOption(["app.test,api.test", "web.test"]); // ["app.test", "api.test", "web.test"]
 * ```
 */
export function allowHostsOption(values: unknown): string[] {
  return (values as string[]).flatMap((v) => v.split(",")).map((v) => v.trim());
}

/**
 * Validated server options from `azmi serve` flags.
 *
 * @example
 * ```ts
 * parseServeArgs(["--port", "8080", "--identity", "11111111-1111-1111-1111-111111111111"]);
 * ```
 */
export function parseServeArgs(argv: readonly string[]): { help: boolean; json: boolean; options: ServeOptions } {
  const a = parseArgs(argv, "serve", FLAGS);
  const options: ServeOptions = { stateFile: true };
  if (a.host !== undefined) options.host = checkHost(a.host as string);
  if (a["allow-host"] !== undefined) options.allowHosts = allowHostsOption(a["allow-host"]);
  if (a.port !== undefined) options.port = parseWholeNumber(a.port as string, "port", "serve", 0, 65535);
  if (a.issuer !== undefined) options.issuer = a.issuer as "local" | "chain";
  if (a.tenant !== undefined) options.tenantId = a.tenant as string;
  if (a["accept-any-identity"]) options.acceptAnyIdentity = true;
  if (a.identity !== undefined) {
    options.identities = (a.identity as string[]).map((id) => {
      if (!GUID.test(id)) {
        throw new UsageError("serve", `--identity must be a client id (a GUID like 00000000-0000-0000-0000-000000000000), got '${id}'`);
      }
      return { clientId: id };
    });
  }
  if (a.faults !== undefined) options.faults = parseFaults(a.faults as string);
  return { help: a.help === true, json: a.json === true, options };
}

/**
 * `--faults rate=0.2,statuses=429+503,retry-after=2` as the server's
 * `FaultOptions`; the server's own validation decides what is allowed, and
 * its complaint becomes a usage error (exit 2).
 *
 * @example
 * ```ts
 * parseFaults("sequence=500+500+ok"); // { sequence: [500, 500, "ok"] }
 * ```
 */
export function parseFaults(spec: string): FaultOptions {
  const out: Record<string, unknown> = {};
  const bad = (why: string) =>
    new UsageError("serve", `--faults ${why}; example: --faults rate=0.2,statuses=429+503,retry-after=2`);
  const steps = (key: string, text: string) =>
    text.split("+").map((s) => {
      if (/^\d{3}$/.test(s)) return Number(s);
      if (s === "delay" || (s === "ok" && key === "sequence")) return s;
      throw bad(`${key} must be HTTP statuses${key === "sequence" ? ", delay or ok" : " or delay"} joined by '+' (got '${s}')`);
    });
  const whole = (key: string, text: string) => {
    if (!/^\d+$/.test(text)) throw bad(`${key} must be a whole number (got '${text}')`);
    return Number(text);
  };
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw bad(`needs key=value pairs (got '${part}')`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!(FAULT_KEYS as readonly string[]).includes(key)) throw bad(`has an unknown key '${key}' (keys: ${FAULT_KEYS.join(", ")})`);
    if (Object.prototype.hasOwnProperty.call(out, FAULT_OPTION[key])) throw bad(`sets ${key} twice`);
    if (key === "rate") {
      if (!/^\d*\.?\d+$/.test(value)) throw bad(`rate must be a number between 0 and 1 (got '${value}')`);
      out.rate = Number(value);
    } else if (key === "statuses" || key === "sequence") {
      out[key] = steps(key, value);
    } else {
      out[FAULT_OPTION[key]] = whole(key, value);
    }
  }
  try {
    const { validateFaults } = require("../serve/faults") as typeof import("../serve/faults");
    validateFaults(out as FaultOptions);
  } catch (e) {
    // "faults.rate must be …" → "--faults rate must be …"
    const message = (e as Error).message.replace(/^faults\.(\w+)/, (_, k: string) => OPTION_FLAG[k] ?? k).replace(/\.$/, "");
    throw bad(message);
  }
  return out as FaultOptions;
}

/** The `--faults` spec that gives `faults` (for the start-up warning). */
function faultsSpec(faults: FaultOptions): string {
  return Object.entries(faults)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${OPTION_FLAG[k] ?? k}=${Array.isArray(v) ? v.join("+") : String(v)}`)
    .join(",");
}

/** `--faults` key → FaultOptions property, and back for messages. */
const FAULT_OPTION: Record<string, string> = {
  rate: "rate",
  statuses: "statuses",
  sequence: "sequence",
  seed: "seed",
  "retry-after": "retryAfterSec",
  "delay-ms": "delayMs",
};
const OPTION_FLAG: Record<string, string> = Object.fromEntries(Object.entries(FAULT_OPTION).map(([k, v]) => [v, k]));

/**
 * Run `azmi serve`; resolves to the exit code once the server has stopped.
 *
 * @example
 * ```ts
 * process.exitCode = await runServe(["--port", "0", "--json"]);
 * ```
 */
export async function runServe(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parseServeArgs>;
  try {
    parsed = parseServeArgs(argv);
  } catch (e) {
    return reportError("serve", e);
  }
  if (parsed.help) {
    writeOut(SERVE_HELP);
    return ExitCode.Ok;
  }
  let server: RunningServer;
  try {
    const { startServer } = require("../serve/server") as typeof import("../serve/server");
    server = await startServer({ ...parsed.options, onWarning: (msg: string) => note(`azmi serve: warning: ${msg}`) });
  } catch (e) {
    // Its advice in the command this CLI was run as (a checkout has no `azmi`).
    const cli = howThisCliWasRun();
    const refusal = withOtherServerAdvice(
      e,
      (other) =>
        `azmi serve cannot start: another azmi server (pid ${other.pid}) is running at ${other.url} with the same state file (${other.stateFile}). Stop it first, or give this one its own folder: AZMI_HOME=DIR ${cli} serve (then ${cli} env --home DIR finds it).`,
    );
    return reportError("serve", asUsageError("serve", refusal, SERVE_OPTION_FLAGS));
  }
  // Handlers first: whoever reads the first line may signal us right away.
  const stopped = waitForSignal(server, parsed.options.issuer === "chain");
  // A forgotten fault-mode server looks healthy and fails requests on purpose: say so up front.
  if (parsed.options.faults) note(`azmi serve: fault mode is on (--faults ${faultsSpec(parsed.options.faults)}): token requests may fail or wait on purpose; start it without --faults for normal answers`);
  // A new server has a new secret: rewrite the containers' env file now, so it never holds a dead one.
  // The load commands are for other shells, which may start in another folder.
  const cli = howThisCliWasRun(undefined, undefined, "any");
  const envFile = parsed.options.stateFile ? writeContainerEnvFile(server, "azmi serve", cli) : undefined;
  const failed = await writeStartupText(
    server,
    "serve",
    () =>
      parsed.json
        ? `${JSON.stringify(describeServer(server))}\n`
        : renderServer(
            server,
            "azmi serve",
            cli,
            renderContainers(server, envFile, `\`${cli} serve --host 0.0.0.0\` (with your other flags)`),
            `${cli} serve --json prints them with the values, secrets included (never log that)`,
          ),
  );
  if (failed !== undefined) return failed;
  return stopped;
}

/**
 * Write a running server's start-up text to stdout, or, when it cannot be
 * written, stop the server (its state file must not outlive it: nobody
 * learned where it is) and give the exit code to end with: 0 when the reader
 * went away (EPIPE: its choice), else 1 with a line saying stdout failed.
 * `undefined` when the text was written.
 *
 * @example
 * ```ts
 * const failed = await writeStartupText(server, "serve", () => renderServer(server));
 * if (failed !== undefined) return failed;
 * ```
 */
export async function writeStartupText(server: RunningServer, command: "serve" | "start", text: () => string): Promise<number | undefined> {
  let failure: unknown;
  try {
    if (tryWriteOut(text())) return undefined;
  } catch (e) {
    failure = e;
  }
  await server.close().catch(() => undefined);
  if (failure === undefined) return ExitCode.Ok;
  return reportError(command, new Error(`cannot write the start-up text to stdout (${(failure as Error)?.message ?? String(failure)}); the server was stopped`));
}

/** What `azmi serve --json` prints on its first line (secrets included: see `describeServer`). */
export interface ServeJson {
  url: string;
  port: number;
  host: string;
  env: Record<string, string>;
  dialects: RunningServer["dialects"];
  issuer: string;
  jwks_uri: string;
}

/**
 * The `--json` line: where the server is and the variables per dialect, with
 * their values, SECRETS INCLUDED (IDENTITY_HEADER, MSI_SECRET). A script
 * asked for it explicitly; it must not be logged (the readable text is the
 * one that is safe in logs).
 *
 * @example
 * ```ts
 * JSON.parse(firstLine).env.IDENTITY_HEADER
 * ```
 */
export function describeServer(server: RunningServer): ServeJson {
  return {
    url: server.url,
    port: server.port,
    host: server.host,
    env: server.env,
    dialects: server.dialects,
    issuer: server.issuer,
    jwks_uri: server.jwksUri,
  };
}

/**
 * The readable start-up text. It never contains a secret value: it is what
 * systemd, docker, CI and `tee` keep in their logs and what users paste into
 * issues. It shows the commands that load the variables (`eval "$(azmi env)"`,
 * pwsh, docker's env file), and per dialect the variables' NAMES, with values
 * only for addresses and ids (PUBLIC_VARS in dialects.ts); `--json` is the form with
 * values, for scripts that ask for it.
 * `cli` is how the user runs azmi (`azmi`, or `node bin/azmi.js` from a checkout);
 * `scripts`, when given, tells scripts where the values are.
 *
 * @example
 * ```ts
 * writeOut(renderServer(server));
 * ```
 */
export function renderServer(server: RunningServer, heading = "azmi serve", cli = "azmi", extra: string[] = [], scripts?: string): string {
  const home = envHomeFlag(server);
  const lines = [
    `${heading}: managed-identity endpoint at ${server.url}`,
    "",
    "Load its variables in a shell (they include a secret header, which is never printed here):",
    `  bash/zsh:    ${loadCommand(cli, "bash", DEFAULT_DIALECT, home)}`,
    `  PowerShell:  ${loadCommand(cli, "pwsh", DEFAULT_DIALECT, home)}`,
    ...(scripts ? [`  Scripts:     ${scripts}`] : []),
    `That is the ${DEFAULT_DIALECT} dialect. Clients choose a dialect by which variables are`,
    "set (with several: App Service, then Machine Learning, Cloud Shell, Arc, IMDS last);",
    "azmi env unsets the other groups' variables, so loading another switches to it.",
    "For another, add its --dialect NAME:",
  ];
  const dialects = server.dialects as unknown as Record<string, Record<string, string> | undefined>;
  for (const name of DIALECT_NAMES) {
    const vars = dialects[DIALECT_KEYS[name]];
    lines.push("", `# ${name} — ${DIALECT_NOTES[name]}`);
    if (!vars || Object.keys(vars).length === 0) {
      const why = name === "arc" ? (server as { arcDisabledReason?: string }).arcDisabledReason : undefined;
      lines.push(`#   (not available on this server${why ? `: ${why}` : ""})`);
      continue;
    }
    for (const v of describeVars(vars)) lines.push(`#   ${v}`);
    lines.push(`#   ${loadCommand(cli, "bash", name, home)}`);
  }
  lines.push(
    "",
    ...(server.issuer
      ? [`Token issuer: ${server.issuer}`, `JWKS:         ${server.jwksUri}`]
      : [
          "Tokens: forwarded from this machine's credential chain (real tokens, issued by Entra ID).",
          // IMDS and Cloud Shell carry no secret by design (as on Azure): on loopback, the server asks the kernel who connects.
          ...(canTellPeerUser()
            ? ["Only your own processes on this machine (and root's) get them; other users' get 403."]
            : ["Any process on this machine, other users' too, can get them through the IMDS and Cloud Shell dialects (no secret);", "on a shared machine, stop this server when you are done."]),
        ]),
  );
  if (extra.length) lines.push("", ...extra);
  if (!isLoopbackHost(server.host)) lines.push(`Listening on ${server.host}: reachable from other machines and containers.`);
  lines.push("Press Ctrl-C to stop.");
  return lines.join("\n") + "\n";
}

/**
 * The server's azmi folder when `azmi env` in a shell with a plain
 * environment (no AZMI_HOME / XDG_STATE_HOME) would look elsewhere for the
 * state file; `undefined` when the default finds it.
 */
function envHomeFlag(server: RunningServer): string | undefined {
  if (server.stateFile === undefined) return undefined;
  const { dirname } = require("node:path") as typeof import("node:path");
  const { azmiHome } = require("../paths") as typeof import("../paths");
  const home = dirname(server.stateFile);
  return home === azmiHome({}) ? undefined : home;
}

/**
 * Write the App Service dialect's container variables (host.docker.internal)
 * to the default docker env file, owner-only. Returns its path, or
 * `undefined` after a warning on stderr when it cannot be written (the server
 * runs on; `azmi env --shell docker --file PATH` is the way out).
 *
 * @example
 * ```ts
 * const file = writeContainerEnvFile(server, "azmi serve", "azmi"); // ~/.azmi/docker.env
 * ```
 */
export function writeContainerEnvFile(server: RunningServer, who: string, cli: string): string | undefined {
  try {
    return writeDockerEnvFile(forContainers(server.dialects.appService as Record<string, string>));
  } catch (e) {
    note(`${who}: warning: ${(e as Error).message} Containers: run \`${cli} env --shell docker --file PATH\`.`);
    return undefined;
  }
}

/**
 * The core's "another server holds the state file" refusal, its message
 * replaced by `message(other)` (the core's words say `azmi serve`, which a
 * checkout has no command for, and `npm start` has its own); any other error
 * as it is. (azmi serve and npm start.)
 *
 * @example
 * ```ts
 * reportError("serve", withOtherServerAdvice(e, (o) => `… AZMI_HOME=DIR ${cli} serve …`));
 * ```
 */
export function withOtherServerAdvice(error: unknown, message: (other: OtherServer) => string): unknown {
  const other = (error as { otherServer?: OtherServer } | null)?.otherServer;
  const { AzmiError } = require("../errors") as typeof import("../errors");
  if (!other || !(error instanceof AzmiError)) return error;
  return Object.assign(new AzmiError(error.code, message(other)), { otherServer: other });
}

/**
 * The "Containers" lines of the start-up text: a `docker run` line that
 * loads the env file (never `-e IDENTITY_HEADER=…`: a command line is
 * readable by every user through `ps` and stays in shell history), and what
 * a loopback-bound server needs first. `restart` is how to restart with a
 * reachable address.
 *
 * @example
 * ```ts
 * renderContainers(server, "/home/me/.azmi/docker.env", "`azmi serve --host 0.0.0.0` (with your other flags)");
 * ```
 */
export function renderContainers(server: RunningServer, envFile: string | undefined, restart: string): string[] {
  const lines = ["Containers (App Service dialect; the variables, secret included, are in an owner-only env file that each new server rewrites):"];
  lines.push(envFile ? `  docker run ${dockerRunFlags(envFile)} IMAGE` : "  (no env file could be written: see the warning on stderr)");
  if (isLoopbackHost(server.host)) {
    lines.push(`  (a container cannot reach ${server.host}: restart with ${restart} first)`);
  }
  return lines;
}

/** Serve until SIGINT/SIGTERM, then close (state file removed) and report 0. */
function waitForSignal(server: RunningServer, runsTools: boolean): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    // A chain server's developer tools (az, azd, pwsh) still running would outlive it under pid 1: stop them too.
    const done = (code: number) => {
      if (runsTools) (require("../descendants") as typeof import("../descendants")).stopDescendants();
      resolve(code);
    };
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        // A second Ctrl-C means "now": do not wait for slow clients.
        note(`azmi serve: ${signal} again, exiting without waiting`);
        done(ExitCode.Failure);
        return;
      }
      stopping = true;
      server.close().then(
        () => done(ExitCode.Ok),
        (e: unknown) => done(reportError("serve", e)),
      );
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    // A closed terminal or ssh session: stop cleanly too (state file removed), not as killed.
    process.on("SIGHUP", stop);
  });
}
