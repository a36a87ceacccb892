/**
 * What each bridge operation does. Every operation is a thin adapter over
 * the core (`src/msi.ts`, `src/serve/server.ts`): it checks the shapes of its
 * parameters (the wire is untyped) and calls one function. Core modules are
 * required lazily, inside the operation, so a bridge that only answers
 * `ping` or a cached `token` never loads the server or `@azure/identity`.
 *
 * @example
 * ```ts
 * const state = new BridgeState();
 * await runOp("token", { resource: "https://vault.azure.net" }, state, false);
 * ```
 */
import { AzmiError, ErrorCode } from "../errors";
import type { GetManagedTokenOptions } from "../msi";
import type { LinkName } from "../credentials/types";

/** The link names the cmdlets accept (same list as `LINK_NAMES` in credentials/types). */
const LINKS: readonly string[] = [
  "environment",
  "workload-identity",
  "managed-identity",
  "azure-cli",
  "azure-powershell",
  "azure-developer-cli",
];

/** The subset of `RunningServer` (src/serve/server.ts) the bridge hands back. */
interface RunningServerLike {
  url: string;
  port: number;
  host?: string;
  env: Record<string, string>;
  dialects: Record<string, Record<string, string> | undefined>;
  issuer: string;
  jwksUri: string;
  arcDisabledReason?: string;
  tenantId?: string;
  systemClientId?: string;
  close(): Promise<void>;
}

/** Per-process state: the caller's environment and the local endpoints started here. */
export class BridgeState {
  /**
   * The environment the core reads: a copy, replaced (never mutated) when the
   * caller's changes, so a server started earlier keeps the environment it
   * was started with (its self-forwarding guard depends on that).
   */
  env: NodeJS.ProcessEnv = { ...process.env };
  readonly servers = new Map<number, RunningServerLike>();
  private nextServerId = 1;

  /** Adopt the caller's environment (also into `process.env`, for modules that read it directly). */
  setEnv(env: Record<string, string>): void {
    for (const key of Object.keys(process.env)) if (!(key in env)) delete process.env[key];
    for (const key of Object.keys(env)) process.env[key] = env[key];
    this.env = { ...env };
  }

  addServer(server: RunningServerLike): number {
    const id = this.nextServerId++;
    this.servers.set(id, server);
    return id;
  }

  /** Close every local endpoint; used on shutdown. */
  async closeAll(): Promise<void> {
    const all = [...this.servers.values()];
    this.servers.clear();
    await Promise.allSettled(all.map((s) => s.close()));
  }
}

function invalid(message: string): AzmiError {
  return new AzmiError(ErrorCode.InvalidArgument, message);
}

function optString(params: Record<string, unknown>, name: string): string | undefined {
  const v = params[name];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw invalid(`'${name}' must be a string; got ${typeof v}.`);
  return v;
}

function optNumber(params: Record<string, unknown>, name: string): number | undefined {
  const v = params[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw invalid(`'${name}' must be a non-negative number.`);
  return v;
}

function optLink(params: Record<string, unknown>, name: string): LinkName | undefined {
  const v = optString(params, name);
  if (v !== undefined && !LINKS.includes(v)) throw invalid(`'${name}' must be one of ${LINKS.join(", ")}; got '${v}'.`);
  return v as LinkName | undefined;
}

function optLinks(params: Record<string, unknown>, name: string): LinkName[] | undefined {
  const v = params[name];
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) ? v : [v];
  for (const item of list) {
    if (typeof item !== "string" || !LINKS.includes(item)) {
      throw invalid(`'${name}' must list link names (${LINKS.join(", ")}); got '${String(item)}'.`);
    }
  }
  return list.length ? (list as LinkName[]) : undefined;
}

/** The token/chain options from wire params; undefined fields are left out. */
export function tokenOptions(params: Record<string, unknown>, env: NodeJS.ProcessEnv): GetManagedTokenOptions {
  const options: GetManagedTokenOptions = { env };
  const set = <K extends keyof GetManagedTokenOptions>(key: K, value: GetManagedTokenOptions[K] | undefined) => {
    if (value !== undefined) options[key] = value;
  };
  set("resource", optString(params, "resource"));
  set("scope", optString(params, "scope"));
  set("clientId", optString(params, "clientId"));
  set("objectId", optString(params, "objectId"));
  set("resourceId", optString(params, "resourceId"));
  set("tenantId", optString(params, "tenantId"));
  set("only", optLink(params, "only"));
  set("exclude", optLinks(params, "exclude"));
  set("timeoutMs", optNumber(params, "timeoutMs"));
  if (params.forceRefresh === true) options.forceRefresh = true;
  return options;
}

/** What an operation produced: the result, and the chain report when one exists. */
export interface OpOutcome {
  result: unknown;
  report?: unknown;
  /** For `token`: how long the caller may hand out this same answer again without asking (see {@link leaseFor}). */
  leaseMs?: number;
}

/** Longest lease: short, so a token the cache would refresh early is re-asked for soon. */
export const LEASE_MAX_MS = 30_000;
/** No lease within this much of expiry (the cache's own "refresh 5 min before expiry" rule). */
export const LEASE_MARGIN_MS = 5 * 60_000;

/**
 * How long the PowerShell module may answer an identical request (same
 * params, unchanged environment) from this response without a round trip:
 * at most {@link LEASE_MAX_MS}, and never closer than {@link LEASE_MARGIN_MS}
 * to expiry. The policy stays here in TypeScript; the module only honours it
 * and recomputes `expires_in` from `expires_on` as this core does.
 *
 * @example
 * ```ts
 * leaseFor({ expires_on: String(Math.floor(Date.now() / 1000) + 3600) } as MsiTokenResponse) // 30000
 * ```
 */
export function leaseFor(msi: { expires_on?: string }, now = Date.now()): number {
  const expiresMs = Number(msi.expires_on) * 1000;
  if (!Number.isFinite(expiresMs)) return 0;
  return Math.max(0, Math.min(LEASE_MAX_MS, expiresMs - LEASE_MARGIN_MS - now));
}

type Msi = typeof import("../msi");
let msi: Msi | undefined;
const loadMsi = (): Msi => (msi ??= require("../msi") as Msi);

async function token(params: Record<string, unknown>, state: BridgeState, verbose: boolean): Promise<OpOutcome> {
  const options = tokenOptions(params, state.env);
  const { msi: result, report, error, timedOut } = await loadMsi().getManagedTokenWithReport(options);
  // The module tells "the call's -TimeoutSec ran out" from a link's own
  // timeout by timedOut (server.ts puts it on the wire error), not by code.
  const shown = () => loadMsi().withTransportKnown(report);
  if (!result) throw Object.assign(error ?? invalid("no token and no error"), { bridgeReport: verbose ? shown() : undefined, bridgeTimedOut: timedOut === true });
  return verbose ? { result, report: shown(), leaseMs: leaseFor(result) } : { result, leaseMs: leaseFor(result) };
}

async function chain(params: Record<string, unknown>, state: BridgeState): Promise<OpOutcome> {
  return { result: await loadMsi().diagnose(tokenOptions(params, state.env)) };
}

async function serveStart(params: Record<string, unknown>, state: BridgeState): Promise<OpOutcome> {
  const options: Record<string, unknown> = { env: { ...state.env } };
  const host = optString(params, "host");
  if (host !== undefined) options.host = host;
  const port = optNumber(params, "port");
  if (port !== undefined) options.port = port;
  const issuer = optString(params, "issuer");
  if (issuer !== undefined) {
    if (issuer !== "local" && issuer !== "chain") throw invalid(`'issuer' must be 'local' or 'chain'; got '${issuer}'.`);
    options.issuer = issuer;
  }
  const tenantId = optString(params, "tenantId");
  if (tenantId !== undefined) options.tenantId = tenantId;
  if (params.acceptAnyIdentity === true) options.acceptAnyIdentity = true;
  if (typeof params.stateFile === "boolean") options.stateFile = params.stateFile;
  const warnings: string[] = [];
  options.onWarning = (message: string) => warnings.push(message);

  const { startServer } = require("../serve/server") as {
    startServer(o: Record<string, unknown>): Promise<RunningServerLike>;
  };
  const server = await startServer(options);
  const id = state.addServer(server);
  return {
    result: {
      id,
      url: server.url,
      port: server.port,
      host: server.host ?? host ?? "127.0.0.1",
      issuer: server.issuer,
      jwksUri: server.jwksUri,
      env: server.env,
      dialects: server.dialects,
      arcDisabledReason: server.arcDisabledReason,
      tenantId: server.tenantId,
      systemClientId: server.systemClientId,
      warnings,
    },
  };
}

async function serveStop(params: Record<string, unknown>, state: BridgeState): Promise<OpOutcome> {
  const id = optNumber(params, "id");
  const ids = id === undefined ? [...state.servers.keys()] : state.servers.has(id) ? [id] : [];
  for (const one of ids) {
    const server = state.servers.get(one)!;
    state.servers.delete(one);
    await server.close();
  }
  return { result: { stopped: ids } };
}

/**
 * Run one operation. Throws (an AzmiError or whatever the core threw) on failure.
 *
 * @example
 * ```ts
 * const { result } = await runOp("ping", {}, state, false);
 * ```
 */
export async function runOp(op: string, params: Record<string, unknown>, state: BridgeState, verbose: boolean): Promise<OpOutcome> {
  switch (op) {
    case "ping":
      return { result: { pong: true, pid: process.pid, servers: state.servers.size } };
    case "token":
      return token(params, state, verbose);
    case "chain":
      return chain(params, state);
    case "serve.start":
      return serveStart(params, state);
    case "serve.stop":
      return serveStop(params, state);
    default:
      throw invalid(`unknown operation '${op}'; expected one of token, chain, serve.start, serve.stop, ping.`);
  }
}
