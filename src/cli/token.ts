/**
 * `azmi token`: one token from the credential chain, printed on stdout in
 * the shape the caller asks for; diagnostics (with `--verbose`) on stderr.
 *
 * Only `src/msi.ts` is loaded, and only after the arguments are valid, so a
 * usage error costs nothing and a token costs one process start plus the
 * chain (no `@azure/identity` unless a link that delegates to it runs).
 *
 * @example
 * ```sh
 * azmi token --resource https://vault.azure.net --output header
 * # Authorization: Bearer eyJ0eXAi…
 * ```
 */
import { LINK_NAMES, type LinkName, type MsiTokenResponse } from "../credentials/types";
import { RESOURCE_RULE, SCOPE_RULE, resourceProblem, scopeProblem } from "../credentials/scopes";
import type { GetManagedTokenOptions } from "../msi";
import { AzmiError, ErrorCode } from "../errors";
import { parseArgs, parseWholeNumber, UsageError, type FlagSpecs } from "./args";
import { howThisCliWasRun } from "./invocation";
import { ExitCode, note, reportError } from "./output";
import { writeOut } from "./stdio";

/**
 * Used when neither `--resource` nor `--scope` is given (as `az account get-access-token` does).
 *
 * @example
 * ```ts
 * getManagedToken({ resource: flags.resource ?? DEFAULT_RESOURCE });
 * ```
 */
export const DEFAULT_RESOURCE = "https://management.azure.com/";

/**
 * `--output` values (documented in {@link TOKEN_HELP}).
 *
 * @example
 * ```ts
 * TOKEN_OUTPUTS.includes("header"); // true
 * ```
 */
export const TOKEN_OUTPUTS = ["msi", "json", "raw", "header"] as const;
export type TokenOutput = (typeof TOKEN_OUTPUTS)[number];

/** Longest `--timeout-ms` accepted: ten minutes is already far beyond any retry policy. */
const MAX_TIMEOUT_MS = 600_000;

/** A token lifetime above this refreshes at half-life (spec §5.3, as MSAL and @azure/identity do). */
const HALF_LIFE_REFRESH_ABOVE_S = 7200;

/**
 * The flags that describe one request to the chain (shared with `azmi doctor`,
 * which walks the chain for the same request).
 *
 * @example
 * ```ts
 * const FLAGS: FlagSpecs = { ...CHAIN_FLAGS, json: { kind: "boolean" } };
 * ```
 */
export const CHAIN_FLAGS: FlagSpecs = {
  resource: { kind: "string", placeholder: "URI" },
  scope: { kind: "string", placeholder: "SCOPE" },
  "client-id": { kind: "string", placeholder: "ID" },
  "object-id": { kind: "string", placeholder: "ID" },
  "resource-id": { kind: "string", placeholder: "ARMID" },
  only: { kind: "string", placeholder: "LINK" },
  exclude: { kind: "repeat", placeholder: "LINK,..." },
  "timeout-ms": { kind: "string", placeholder: "N" },
};

const FLAGS: FlagSpecs = {
  ...CHAIN_FLAGS,
  output: { kind: "string", choices: TOKEN_OUTPUTS, placeholder: "msi|json|raw|header" },
  verbose: { kind: "boolean" },
};

/**
 * `azmi token --help`, including the `--output json` shape.
 *
 * @example
 * ```ts
 * writeOut(TOKEN_HELP);
 * ```
 */
export const TOKEN_HELP = `Usage: azmi token [options]

Print an access token from the credential chain (environment, workload-identity,
managed-identity, azure-cli, azure-powershell, azure-developer-cli, in that order).

Options:
  --resource URI         Resource (audience) of the token. Default: ${DEFAULT_RESOURCE}
  --scope SCOPE          One scope instead of --resource, e.g. https://vault.azure.net/.default
  --client-id ID         User-assigned identity by client id
  --object-id ID         User-assigned identity by object (principal) id
  --resource-id ARMID    User-assigned identity by ARM resource id
                         (at most one of --client-id, --object-id, --resource-id)
  --only LINK            Use only this link of the chain
  --exclude LINK,...     Never use these links (comma-separated, may be repeated)
  --timeout-ms N         Give up after N milliseconds in total (exit code 1)
  --output FORMAT        msi (default), json, raw or header (see below)
  --verbose              Print each link's decision and time to stderr (never the token)
  -h, --help             Show this help

Links: ${LINK_NAMES.join(", ")}

Output formats (stdout):
  msi     The JSON a managed-identity endpoint returns: access_token, expires_in,
          expires_on, not_before, resource, token_type, client_id (when known);
          numbers as strings, times in epoch seconds.
  json    An AccessToken as Azure SDKs use it:
          {"token", "expiresOnTimestamp" (ms), "refreshAfterTimestamp" (ms, only for
          tokens living longer than 2 h: half-way), "tokenType", "link" (the link that answered)}
  raw     The token alone.
  header  Authorization: Bearer <token>

Exit codes:
  0 token printed   2 usage error   3 no link could be used (all unavailable)
  4 a link answered with an authentication error
  1 anything else (e.g. --timeout-ms ran out, an unexpected failure)

Examples:
  azmi token --resource https://vault.azure.net
  curl -H "$(azmi token --output header)" https://management.azure.com/subscriptions?api-version=2022-12-01
  azmi token --only managed-identity --client-id 00000000-0000-0000-0000-000000000000 --output raw
`;

/**
 * Validated options for the chain plus the output choice.
 *
 * @example
 * ```ts
 * parseTokenArgs(["--scope", "https://vault.azure.net/.default", "--output", "raw"]);
 * ```
 */
export function parseTokenArgs(argv: readonly string[]): {
  help: boolean;
  options: GetManagedTokenOptions;
  output: TokenOutput;
  verbose: boolean;
} {
  const a = parseArgs(argv, "token", FLAGS);
  const options: GetManagedTokenOptions = {};
  if (a.resource !== undefined && a.scope !== undefined) {
    throw new UsageError("token", "--resource and --scope cannot be combined; pass one (a scope is the resource plus /.default)");
  }
  if (a.scope !== undefined) options.scope = checkScope(a.scope as string, "token");
  else options.resource = a.resource !== undefined ? checkResource(a.resource as string, "token") : DEFAULT_RESOURCE;

  const selectors = (["client-id", "object-id", "resource-id"] as const).filter((n) => a[n] !== undefined);
  if (selectors.length > 1) {
    throw new UsageError(
      "token",
      `--${selectors[0]} and --${selectors[1]} both select an identity; pass only one of --client-id, --object-id, --resource-id`,
    );
  }
  if (a["client-id"] !== undefined) options.clientId = a["client-id"] as string;
  if (a["object-id"] !== undefined) options.objectId = a["object-id"] as string;
  if (a["resource-id"] !== undefined) options.resourceId = a["resource-id"] as string;

  const links = parseLinks(a, "token");
  if (links.only) options.only = links.only;
  if (links.exclude) options.exclude = links.exclude;

  if (a["timeout-ms"] !== undefined) {
    options.timeoutMs = parseWholeNumber(a["timeout-ms"] as string, "timeout-ms", "token", 1, MAX_TIMEOUT_MS);
  }
  return {
    help: a.help === true,
    options,
    output: ((a.output as TokenOutput | undefined) ?? "msi"),
    verbose: a.verbose === true,
  };
}

/**
 * `--resource` as given, when it is a valid audience (`resourceProblem`: the
 * PowerShell module's rule); otherwise a UsageError naming the character and
 * where it is. Shared with `azmi doctor` and `npm start` (which has no `--scope`).
 *
 * @example
 * ```ts
 * checkResource("https://vault.azure.net", "token"); // "https://vault.azure.net"
 * checkResource("a b", "token"); // throws: --resource 'a b' contains a space at position 2. …
 * ```
 */
export function checkResource(value: string, command: string, hasScope = true): string {
  const problem = resourceProblem(value);
  if (problem === undefined) return value;
  throw new UsageError(
    command,
    `--resource '${problem.shown}' ${problem.why}. ${RESOURCE_RULE}${hasScope ? "; or use --scope for a scope" : ""}.`,
  );
}

/**
 * `--scope` as given, under `--resource`'s rule (`resourceProblem`); before,
 * a scope with an escape character reached the endpoint and came back as
 * its 400 (exit 4), and a non-ASCII one was sent as is.
 *
 * @example
 * ```ts
 * checkScope("https://vault.azure.net/.default", "token"); // as given
 * checkScope("a b", "token"); // throws: --scope 'a b' contains a space at position 2. …
 * ```
 */
export function checkScope(value: string, command: string): string {
  const problem = scopeProblem(value);
  if (problem === undefined) return value;
  throw new UsageError(command, `--scope '${problem.shown}' ${problem.why}. ${SCOPE_RULE}.`);
}

/**
 * `--only` and `--exclude` as link names, validated (shared with `azmi doctor`).
 *
 * @example
 * ```ts
 * parseLinks({ exclude: ["azure-cli,azure-powershell"] }, "token"); // { exclude: ["azure-cli", "azure-powershell"] }
 * ```
 */
export function parseLinks(
  a: Record<string, unknown>,
  command: string,
): { only?: LinkName; exclude?: LinkName[] } {
  const out: { only?: LinkName; exclude?: LinkName[] } = {};
  const check = (name: string, flag: string): LinkName => {
    if (!(LINK_NAMES as readonly string[]).includes(name)) {
      throw new UsageError(command, `--${flag}: unknown link '${name}'; links are ${LINK_NAMES.join(", ")}`);
    }
    return name as LinkName;
  };
  if (a.only !== undefined) out.only = check(a.only as string, "only");
  if (a.exclude !== undefined) {
    const names: LinkName[] = [];
    for (const item of a.exclude as string[]) {
      for (const part of item.split(",")) {
        const name = part.trim();
        if (name === "") throw new UsageError(command, "--exclude has an empty link name; pass names separated by commas, e.g. --exclude azure-cli,azure-powershell");
        const link = check(name, "exclude");
        if (!names.includes(link)) names.push(link);
      }
    }
    if (out.only && names.includes(out.only)) {
      throw new UsageError(command, `--only ${out.only} and --exclude ${out.only} contradict each other; drop one`);
    }
    out.exclude = names;
  }
  return out;
}

/**
 * Run `azmi token`; resolves to the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await runToken(["--output", "raw"]);
 * ```
 */
export async function runToken(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parseTokenArgs>;
  try {
    parsed = parseTokenArgs(argv);
  } catch (e) {
    return reportError("token", e);
  }
  if (parsed.help) {
    writeOut(TOKEN_HELP);
    return ExitCode.Ok;
  }
  try {
    // Lazy: only a valid request pays for loading the chain.
    const { getManagedTokenWithReport, withTransportKnown } = require("../msi") as typeof import("../msi");
    const { msi, report, error, timedOut } = await withDeadline(getManagedTokenWithReport(parsed.options), parsed.options.timeoutMs);
    if (parsed.verbose) printReport(withTransportKnown(report));
    if (!msi) throw withNextStep(timedOut && !parsed.verbose ? pointAtReport(error) : error);
    writeOut(formatToken(msi, parsed.output, report.winner));
    return ExitCode.Ok;
  } catch (e) {
    return reportError("token", e);
  }
}

/**
 * `timeoutMs` ended the call, and its error says "the report shows which link
 * was cut short"; here the report is printed only with --verbose, so say so
 * (same code, one line).
 */
function pointAtReport(error: unknown): unknown {
  if (!(error instanceof AzmiError)) return error;
  const message = error.message.endsWith(".") ? error.message.slice(0, -1) : error.message;
  return new AzmiError(error.code, `${message} (azmi token --verbose prints it).`);
}

/**
 * When no link could be used at all (exit 3), the most common first-run
 * case: say where to look next. Same name and code, so the same exit code.
 */
function withNextStep(error: unknown): unknown {
  if (!(error instanceof Error) || error.name !== "AggregateAuthenticationError") return error;
  // A malformed variable already says what to fix; "start an endpoint" would point away from it.
  const causes = (error as Error & { errors?: unknown[] }).errors ?? [];
  if (causes.some((e) => (e as { code?: unknown } | null)?.code === ErrorCode.InvalidEnvironment)) return error;
  const cli = howThisCliWasRun();
  // "Start a local endpoint" only when managed identity was tried and found none:
  // it fell back to IMDS, which is not there, or the endpoint the variables name
  // is on this machine and nothing listens (a local server that was stopped).
  // Not for --only azure-cli, nor for an endpoint that answered badly or slowly.
  const tried = (error as Error & { tried?: { link?: unknown; reason?: unknown }[] }).tried ?? [];
  const noEndpoint = tried.some(
    (t) =>
      t.link === "managed-identity" &&
      typeof t.reason === "string" &&
      (t.reason.startsWith("ManagedIdentityCredential: IMDS ") || (/ at (127\.[\d.]+|localhost|\[::1\]):\d+ /.test(t.reason) && t.reason.includes("ECONNREFUSED"))),
  );
  const next = new Error(
    `${error.message} Next: '${cli} doctor' shows each link's reason and time` +
      (noEndpoint ? `; no managed-identity endpoint on this machine? '${cli} serve' starts a local one, and '${cli} env' prints its variables.` : "."),
  );
  next.name = error.name;
  return next;
}

/** Extra time the chain gets to report its own timeout before the CLI reports one. */
const DEADLINE_GRACE_MS = 100;

/**
 * `--timeout-ms` is a promise to the user: whatever a link below does, the
 * command answers by then (plus a small grace so the chain can report its
 * own, more precise, timeout first).
 *
 * @example
 * ```ts
 * await withDeadline(getManagedTokenWithReport(options), 5000);
 * ```
 */
export function withDeadline<T>(work: Promise<T>, timeoutMs: number | undefined): Promise<T> {
  if (timeoutMs === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new AzmiError(
          ErrorCode.BudgetExceeded,
          `no answer within --timeout-ms ${timeoutMs} ms; run 'azmi doctor' to see which link is slow`,
        ),
      );
    }, timeoutMs + DEADLINE_GRACE_MS);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * The bytes `azmi token` prints for one token in one output format.
 *
 * @example
 * ```ts
 * formatToken(msi, "header"); // "Authorization: Bearer eyJ…\n"
 * ```
 */
export function formatToken(msi: MsiTokenResponse, output: TokenOutput, link?: string): string {
  switch (output) {
    case "raw":
      return `${msi.access_token}\n`;
    case "header":
      return `Authorization: ${msi.token_type || "Bearer"} ${msi.access_token}\n`;
    case "json":
      return `${JSON.stringify(toAccessTokenJson(msi, link))}\n`;
    default:
      return `${JSON.stringify(toMsiJson(msi))}\n`;
  }
}

/** The MSI shape with its fields in the endpoint's order, `client_id` only when known. */
function toMsiJson(msi: MsiTokenResponse): MsiTokenResponse {
  const out: MsiTokenResponse = {
    access_token: msi.access_token,
    expires_in: msi.expires_in,
    expires_on: msi.expires_on,
    not_before: msi.not_before,
    resource: msi.resource,
    token_type: msi.token_type,
  };
  if (msi.client_id) out.client_id = msi.client_id;
  return out;
}

/** The `--output json` shape (documented in TOKEN_HELP). */
function toAccessTokenJson(msi: MsiTokenResponse, link?: string): Record<string, unknown> {
  const expiresOn = Number(msi.expires_on);
  const notBefore = Number(msi.not_before);
  const out: Record<string, unknown> = { token: msi.access_token, expiresOnTimestamp: expiresOn * 1000 };
  const lifetime = expiresOn - notBefore;
  if (Number.isFinite(lifetime) && lifetime > HALF_LIFE_REFRESH_ABOVE_S) {
    out.refreshAfterTimestamp = Math.round((notBefore + lifetime / 2) * 1000);
  }
  out.tokenType = msi.token_type || "Bearer";
  out.link = link ?? null;
  return out;
}

/** `--verbose`: one stderr line per link, never the token. */
function printReport(report: { links: { link: string; outcome: string; reason: string; ms: number }[]; winner?: string; transport?: string; fromMemo?: boolean; ms?: number }): void {
  for (const l of report.links) {
    const ms = l.outcome === "skipped" ? "" : ` (${fmtMs(l.ms)} ms)`;
    note(`azmi token: ${l.link}: ${l.outcome}${ms}${l.reason ? ` ${l.reason}` : ""}`);
  }
  const memo = report.fromMemo ? ", remembered winner" : "";
  note(
    `azmi token: ${report.winner ? `answered by ${report.winner}` : "no link answered"}` +
      ` in ${fmtMs(report.ms ?? 0)} ms (transport ${report.transport ?? "unknown"}${memo})`,
  );
}

function fmtMs(ms: number): string {
  return ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
}
