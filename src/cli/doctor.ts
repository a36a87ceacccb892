/**
 * `azmi doctor`: walk the chain once and show, for every link, its outcome,
 * the reason and the time it took — as a waterfall in a terminal (one bar
 * per link on a shared time axis, so the slow link stands out) or as JSON
 * with `--json`. The token itself is never printed.
 *
 * @example
 * ```sh
 * azmi doctor --resource https://vault.azure.net
 * azmi doctor --json | jq .winner
 * ```
 */
import type { DiagnoseResult, GetManagedTokenOptions } from "../msi";
import { parseArgs, parseWholeNumber, UsageError, type FlagSpecs } from "./args";
import { ExitCode, reportError, useColor } from "./output";
import { CHAIN_FLAGS, checkResource, checkScope, DEFAULT_RESOURCE, parseLinks, withDeadline } from "./token";
import { writeOut, isTerminal } from "./stdio";
import { bootInfo } from "../boot/bundle";
import { nowMs } from "../clock";

const FLAGS: FlagSpecs = {
  ...CHAIN_FLAGS,
  json: { kind: "boolean" },
};

/**
 * `azmi doctor --help`, including the `--json` shape.
 *
 * @example
 * ```ts
 * writeOut(DOCTOR_HELP);
 * ```
 */
export const DOCTOR_HELP = `Usage: azmi doctor [options]

Walk the credential chain once and show what every link did, why, and how long
it took. The token is never printed.

Options:
  --resource URI         Resource to ask for. Default: ${DEFAULT_RESOURCE}
  --scope SCOPE          One scope instead of --resource
  --client-id ID | --object-id ID | --resource-id ARMID
                         User-assigned identity (at most one)
  --only LINK            Try only this link
  --exclude LINK,...     Never try these links
  --timeout-ms N         Give up after N milliseconds in total
  --json                 One JSON object: {resource, links: [{link, credential, outcome,
                         reason, ms}], winner, transport, transportReason, ms,
                         tokenAcquired, expiresOn? (epoch seconds, as MSI's
                         expires_on), clientId?, error?, startup: {bundle, codeCache}};
                         a chain that cannot be built prints no links and the error
  -h, --help             Show this help

Outcomes: selected (answered), unavailable (could not be used here; the chain moved on),
failed (answered with an error; the chain stopped), skipped (not tried).
Colours only on a terminal, and never with NO_COLOR set.

Exit codes: 0 a link answered   3 no link answered (one failed, or --timeout-ms ran out)
            2 usage error   1 anything else (an unexpected failure)
`;

/** Width of the time axis of the waterfall, in characters. */
const BAR_WIDTH = 32;

/**
 * Run `azmi doctor`; resolves to the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await runDoctor(["--json"]);
 * ```
 */
export async function runDoctor(argv: readonly string[]): Promise<number> {
  let options: GetManagedTokenOptions;
  let json: boolean;
  try {
    const a = parseArgs(argv, "doctor", FLAGS);
    if (a.help) {
      writeOut(DOCTOR_HELP);
      return ExitCode.Ok;
    }
    options = {};
    if (a.resource !== undefined && a.scope !== undefined) {
      throw new UsageError("doctor", "--resource and --scope cannot be combined; pass one (a scope is the resource plus /.default)");
    }
    if (a.scope !== undefined) options.scope = checkScope(a.scope as string, "doctor");
    else options.resource = a.resource !== undefined ? checkResource(a.resource as string, "doctor") : DEFAULT_RESOURCE;
    const selectors = (["client-id", "object-id", "resource-id"] as const).filter((n) => a[n] !== undefined);
    if (selectors.length > 1) {
      throw new UsageError("doctor", `--${selectors[0]} and --${selectors[1]} both select an identity; pass only one`);
    }
    if (a["client-id"] !== undefined) options.clientId = a["client-id"] as string;
    if (a["object-id"] !== undefined) options.objectId = a["object-id"] as string;
    if (a["resource-id"] !== undefined) options.resourceId = a["resource-id"] as string;
    Object.assign(options, parseLinks(a, "doctor"));
    if (a["timeout-ms"] !== undefined) {
      options.timeoutMs = parseWholeNumber(a["timeout-ms"] as string, "timeout-ms", "doctor", 1, 600_000);
    }
    json = a.json === true;
  } catch (e) {
    return reportError("doctor", e);
  }

  // (nowMs, not performance.now: the `performance` global's first touch loads ~10 internal modules.)
  const started = nowMs();
  let result: DiagnoseResult;
  try {
    const { diagnose } = require("../msi") as typeof import("../msi");
    result = await withDeadline(diagnose(options), options.timeoutMs);
  } catch (e) {
    // A configuration the chain cannot even be built from (an invalid
    // AZURE_TOKEN_CREDENTIALS, say): a script reading --json still gets one
    // object, with no links and the error, as well as the line on stderr.
    if (json) writeJson(failedWalk(options, e, nowMs() - started));
    return reportError("doctor", e);
  }
  if (json) writeJson(toJson(result));
  else writeRedacted(renderWaterfall(result, useColor({ isTTY: isTerminal(1) })));
  return result.winner ? ExitCode.Ok : ExitCode.Unavailable;
}

/** Reasons come from every link; redact once more so no secret can reach a terminal log. */
function writeRedacted(text: string): void {
  const { redact } = require("../log") as typeof import("../log");
  writeOut(redact(text));
}

function writeJson(report: Record<string, unknown>): void {
  writeRedacted(`${JSON.stringify(report)}\n`);
}

/** The `--json` object of a walk that could not start: the same fields, no links, the error. */
function failedWalk(options: GetManagedTokenOptions, error: unknown, ms: number): Record<string, unknown> {
  const { transportDiagnostics } = require("../transport/http") as typeof import("../transport/http");
  const transport = transportDiagnostics();
  const { redact } = require("../log") as typeof import("../log");
  const e = (error ?? {}) as { name?: unknown; code?: unknown; message?: unknown };
  const { resourceToScope, scopeToResource } = require("../credentials/scopes") as typeof import("../credentials/scopes");
  const resource = options.scope !== undefined ? scopeToResource(options.scope) : (options.resource ?? DEFAULT_RESOURCE);
  const r: DiagnoseResult = {
    resource,
    scope: options.scope ?? resourceToScope(resource),
    links: [],
    transport: transport.kind,
    transportReason: transport.reason,
    ms,
    tokenAcquired: false,
    error: {
      name: typeof e.name === "string" ? e.name : "Error",
      // Redacted before JSON.stringify, as diagnose() does: the escaping of quotes would hide a secret field's value from redact().
      message: redact(typeof e.message === "string" ? e.message : String(error)),
      ...(typeof e.code === "string" ? { code: e.code } : {}),
    },
  };
  return toJson(r);
}

/** The `--json` object: the report with its fields in a stable order. */
function toJson(r: DiagnoseResult): Record<string, unknown> {
  const out: Record<string, unknown> = {
    resource: r.resource,
    links: r.links.map((l) => ({ link: l.link, credential: l.credential, outcome: l.outcome, reason: l.reason, ms: round(l.ms) })),
    winner: r.winner ?? null,
    transport: r.transport,
    ...(r.transportReason ? { transportReason: r.transportReason } : {}),
    ms: round(r.ms),
    tokenAcquired: r.tokenAcquired,
  };
  const boot = bootInfo();
  // How this process loaded azmi: a slow start-up is explained here (no bundle, cache rejected).
  if (boot) out.startup = { bundle: boot.bundle ?? null, codeCache: boot.codeCache, ...(boot.unbundledBecause ? { unbundledBecause: boot.unbundledBecause } : {}) };
  if (r.fromMemo !== undefined) out.fromMemo = r.fromMemo;
  if (r.expiresOn !== undefined) out.expiresOn = r.expiresOn;
  if (r.clientId !== undefined) out.clientId = r.clientId;
  if (r.error !== undefined) out.error = r.error;
  return out;
}

const MARKS: Record<string, string> = { selected: "✔", unavailable: "○", failed: "✘", skipped: "·" };
const COLOURS: Record<string, string> = { selected: "32", unavailable: "33", failed: "31", skipped: "2" };

/**
 * The terminal view: one row per link with a bar placed on a shared time
 * axis (links run one after another, so each bar starts where the previous
 * ended), then the verdict.
 *
 * @example
 * ```ts
 * writeOut(renderWaterfall(await diagnose({}), false));
 * ```
 */
export function renderWaterfall(r: DiagnoseResult, colour: boolean): string {
  const paint = (outcome: string, text: string) => (colour ? `\x1b[${COLOURS[outcome] ?? "0"}m${text}\x1b[0m` : text);
  const tried = r.links.filter((l) => l.outcome !== "skipped");
  const total = Math.max(tried.reduce((sum, l) => sum + l.ms, 0), 1e-6);
  const nameWidth = Math.max(...r.links.map((l) => l.link.length), 4);
  // Why the node:net fallback answers (an install without the addon) is worth a line; "native addon loaded" is not.
  const why = r.transport === "node" && r.transportReason ? `: ${r.transportReason}` : "";
  const lines = [`azmi doctor: ${r.resource} (transport: ${r.transport}${why}${r.fromMemo ? ", remembered winner" : ""})`, ""];
  let elapsed = 0;
  for (const l of r.links) {
    let bar = " ".repeat(BAR_WIDTH);
    if (l.outcome !== "skipped") {
      const start = Math.min(BAR_WIDTH - 1, Math.floor((elapsed / total) * BAR_WIDTH));
      const length = Math.max(1, Math.min(BAR_WIDTH - start, Math.round((l.ms / total) * BAR_WIDTH)));
      bar = " ".repeat(start) + "█".repeat(length) + " ".repeat(BAR_WIDTH - start - length);
      elapsed += l.ms;
    }
    const ms = l.outcome === "skipped" ? "     -  " : `${fmt(l.ms).padStart(6)} ms`;
    const mark = paint(l.outcome, `${MARKS[l.outcome] ?? "?"} ${l.outcome.padEnd(11)}`);
    lines.push(`  ${l.link.padEnd(nameWidth)}  ${mark} |${paint(l.outcome, bar)}| ${ms}  ${l.reason}`);
  }
  lines.push("");
  if (r.winner) {
    const expiry = r.expiresOn ? `, token expires ${new Date(r.expiresOn * 1000).toISOString()}` : "";
    const client = r.clientId ? `, client id ${r.clientId}` : "";
    lines.push(`${paint("selected", "✔")} ${r.winner} answered in ${fmt(r.ms)} ms${client}${expiry}`);
  } else {
    lines.push(`${paint("failed", "✘")} no link answered (${fmt(r.ms)} ms)${r.error ? `: ${r.error.message}` : ""}`);
  }
  return lines.join("\n") + "\n";
}

function fmt(ms: number): string {
  return ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
