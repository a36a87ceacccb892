/**
 * The managed-identity dialects `azmi serve` speaks, as the CLI names and
 * explains them, and how to print a set of environment variables for a shell
 * (`azmi serve`, `azmi env`, `npm start` share this so they print the same).
 *
 * Clients pick a dialect by which variables are set (precedence App Service >
 * Machine Learning > Cloud Shell > Azure Arc > IMDS), so a user must set ONE
 * group, never the union.
 *
 * @example
 * ```ts
 * formatEnv({ IDENTITY_ENDPOINT: "http://127.0.0.1:4000/msi/token" }, "pwsh");
 * // "$env:IDENTITY_ENDPOINT = 'http://127.0.0.1:4000/msi/token'\n"
 * ```
 */

/**
 * Dialect names on the command line, in the order they are listed.
 *
 * @example
 * ```ts
 * DIALECT_NAMES.includes("cloud-shell"); // true
 * ```
 */
export const DIALECT_NAMES = ["app-service", "imds", "machine-learning", "cloud-shell", "arc"] as const;
export type DialectName = (typeof DIALECT_NAMES)[number];

/**
 * Keys of `RunningServer.dialects` (src/serve/server.ts) per CLI name.
 *
 * @example
 * ```ts
 * server.dialects[DIALECT_KEYS["app-service"]]; // server.dialects.appService
 * ```
 */
export const DIALECT_KEYS: Record<DialectName, string> = {
  "app-service": "appService",
  imds: "imds",
  "machine-learning": "machineLearning",
  "cloud-shell": "cloudShell",
  arc: "azureArc",
};

/**
 * One line per dialect: what it is and who should pick it.
 *
 * @example
 * ```ts
 * console.log(`# imds — ${DIALECT_NOTES.imds}`);
 * ```
 */
export const DIALECT_NOTES: Record<DialectName, string> = {
  "app-service":
    "App Service (IDENTITY_ENDPOINT + IDENTITY_HEADER): pick this one. Every Azure SDK (JS, .NET, Python, Java, Go), azmi and the Az PowerShell modules speak it, and it needs a secret header.",
  imds:
    "IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST): @azure/identity JS and azure-identity Python; .NET's DefaultAzureCredential accepts IMDS only at its real address.",
  "machine-learning":
    "Machine Learning / App Service 2017 (MSI_ENDPOINT + MSI_SECRET): older SDKs and tools that still read MSI_SECRET.",
  "cloud-shell":
    "Cloud Shell (MSI_ENDPOINT alone): scripts written for Cloud Shell, e.g. Invoke-RestMethod -Method POST $env:MSI_ENDPOINT.",
  arc: "Azure Arc (IDENTITY_ENDPOINT + IMDS_ENDPOINT): the key-file challenge; the client must be able to read the key file the server names.",
};

/**
 * The dialect printed when none is asked for: the one every SDK speaks, with a secret header.
 *
 * @example
 * ```ts
 * const dialect = flags.dialect ?? DEFAULT_DIALECT; // "app-service"
 * ```
 */
export const DEFAULT_DIALECT: DialectName = "app-service";

/**
 * Shells and container formats `azmi env --shell` can print for
 * (docker and compose: flags / entries that load an env file).
 *
 * @example
 * ```ts
 * SHELLS.includes("compose"); // true
 * ```
 */
export const SHELLS = ["bash", "pwsh", "docker", "compose"] as const;
export type Shell = (typeof SHELLS)[number];

/**
 * Shells whose output carries the values themselves: it is meant to be
 * `eval`'d or piped into the shell in the same breath, never run as a
 * command line. (docker and compose get an env file instead: see dockerEnv.ts.)
 *
 * @example
 * ```ts
 * const shell: ValueShell = "pwsh";
 * ```
 */
export type ValueShell = Exclude<Shell, "docker" | "compose">;

/**
 * Variables formatted for one shell, ready to `eval`:
 * bash `export K='v'`, pwsh `$env:K = 'v'`.
 *
 * Containers never get values this way: a `docker run -e K=v` line would put
 * the header secret on a command line, readable by every user through `ps`
 * (see `writeDockerEnvFile` in dockerEnv.ts).
 *
 * @example
 * ```ts
 * eval "$(azmi env --shell bash)"   # what formatEnv(vars, "bash") is for
 * ```
 */
export function formatEnv(vars: Record<string, string>, shell: ValueShell, unset: readonly string[] = []): string {
  const entries = Object.entries(vars);
  for (const name of unset) if (!VARIABLE_NAME.test(name)) throw new TypeError(`formatEnv: cannot unset ${JSON.stringify(name.slice(0, 40))}: not a variable name`);
  // The output is eval'd: a name is written bare, so it must be a plain
  // identifier (a name from a hostile state file would otherwise run code).
  for (const [k, v] of entries) {
    if (!VARIABLE_NAME.test(k) || typeof v !== "string") {
      const { AzmiError, ErrorCode } = require("../errors") as typeof import("../errors");
      throw new AzmiError(ErrorCode.StateFile, `Cannot print ${JSON.stringify(k.slice(0, 40))} as a variable for ${shell}: a name must be letters, digits and '_' (not starting with a digit) and its value a string. The server's state file is not what azmi serve writes; delete it and restart the server.`);
    }
  }
  if (shell === "pwsh") return unset.map((k) => `$env:${k} = $null\n`).join("") + entries.map(([k, v]) => `$env:${k} = '${v.replace(/'/g, "''")}'\n`).join("");
  if (shell !== "bash") {
    throw new TypeError(`formatEnv: shell must be bash or pwsh (got '${String(shell)}'); containers get an env file from writeDockerEnvFile`);
  }
  return (unset.length ? `unset ${unset.join(" ")}\n` : "") + entries.map(([k, v]) => `export ${k}=${shellQuote(v)}\n`).join("");
}

/** Names every shell takes bare in `export K=` and `$env:K =`. */
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** POSIX single-quoting: safe for any value, including quotes and `$`. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The same variables with every loopback or wildcard host replaced by
 * `host.docker.internal`, the name a container uses for its host.
 *
 * @example
 * ```ts
 * forContainers({ MSI_ENDPOINT: "http://127.0.0.1:4000/oauth2/token" });
 * // { MSI_ENDPOINT: "http://host.docker.internal:4000/oauth2/token" }
 * ```
 */
export function forContainers(vars: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) {
    out[k] = v.replace(
      /^(https?:\/\/)(127(?:\.\d{1,3}){3}|localhost|\[::1\]|0\.0\.0\.0|\[::\])(?=[:/]|$)/i,
      "$1host.docker.internal",
    );
  }
  return out;
}

/**
 * Whether a host the server binds is reachable only from this machine.
 *
 * @example
 * ```ts
 * isLoopbackHost("127.0.0.1"); // true
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  return /^127(?:\.\d{1,3}){3}$/.test(host) || host === "localhost" || host === "::1" || host === "[::1]";
}

/**
 * Variables whose values are addresses or ids, never secrets: the readable
 * start-up text may show them. Every other variable (`IDENTITY_HEADER`,
 * `MSI_SECRET`, and any added later) is shown by name only — an allowlist,
 * so a new secret is hidden by default.
 *
 * @example
 * ```ts
 * PUBLIC_VARS.has("IDENTITY_HEADER"); // false
 * ```
 */
export const PUBLIC_VARS: ReadonlySet<string> = new Set([
  "IDENTITY_ENDPOINT",
  "IMDS_ENDPOINT",
  "MSI_ENDPOINT",
  "AZURE_POD_IDENTITY_AUTHORITY_HOST",
  "DEFAULT_IDENTITY_CLIENT_ID",
  "AZMI_ARC_TOKENS_DIR",
]);

/**
 * The variables a dialect sets, for people and logs: `NAME=value` for
 * {@link PUBLIC_VARS}, `NAME (secret, not shown)` for the others.
 *
 * @example
 * ```ts
 * describeVars({ IDENTITY_ENDPOINT: "http://127.0.0.1:4000/msi/token", IDENTITY_HEADER: "…" });
 * // ["IDENTITY_ENDPOINT=http://127.0.0.1:4000/msi/token", "IDENTITY_HEADER (secret, not shown)"]
 * ```
 */
export function describeVars(vars: Record<string, string>): string[] {
  return Object.entries(vars).map(([k, v]) => (PUBLIC_VARS.has(k) ? `${k}=${v}` : `${k} (secret, not shown)`));
}

/** Arguments that need no quoting in bash or PowerShell. */
const PLAIN_ARG = /^[A-Za-z0-9_./:@%+,=-]+$/;

/**
 * The command that loads a running server's variables into a shell:
 * bash `eval "$(azmi env …)"`, pwsh `azmi env --shell pwsh … | Invoke-Expression`.
 * `home` is the server's azmi folder, passed as `--home` when a shell with a
 * plain environment would look elsewhere (so the line works for THIS server).
 *
 * @example
 * ```ts
 * loadCommand("azmi", "bash", "imds");                  // eval "$(azmi env --dialect imds)"
 * loadCommand("azmi", "pwsh", "app-service", "/tmp/a"); // azmi env --shell pwsh --home /tmp/a | Invoke-Expression
 * ```
 */
export function loadCommand(cli: string, shell: ValueShell, dialect: DialectName = DEFAULT_DIALECT, home?: string): string {
  const args = [`${cli} env`];
  if (shell === "pwsh") args.push("--shell pwsh");
  if (dialect !== DEFAULT_DIALECT) args.push(`--dialect ${dialect}`);
  if (home !== undefined) args.push(`--home ${quoteArg(home, shell)}`);
  const command = args.join(" ");
  return shell === "pwsh" ? `${command} | Invoke-Expression` : `eval "$(${command})"`;
}

/** One argument quoted for the shell (bare when nothing in it is special). */
function quoteArg(value: string, shell: ValueShell): string {
  if (PLAIN_ARG.test(value)) return value;
  return shell === "pwsh" ? `'${value.replace(/'/g, "''")}'` : shellQuote(value);
}
