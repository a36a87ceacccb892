/**
 * What every dialect handler of `azmi serve` shares: the identities, the
 * token source, the body cache, fault mode, the header secrets, and the one
 * function that turns a validated request into a token answer.
 *
 * @example
 * ```ts
 * // inside a dialect handler, after validation:
 * serveToken(ctx, res, "imds", "imds", identity, resource);
 * ```
 */
import type { ServerResponse } from "node:http";
// Longest `resource` accepted: the clients' limit too; real audiences are short URIs.
import { MAX_RESOURCE_LENGTH } from "../credentials/scopes";
import { ErrorCode, isAzmiError, isUnavailable, type TriedLink } from "../errors";
import { credentialLogger, redact } from "../log";
import type { ArcChallenges } from "./azureArc";
import type { FaultInjector } from "./faults";
import type { IdentityRegistry, ServedIdentity } from "./identities";
import type { TokenSource } from "./issuer/types";
import type { RateLimiter } from "./rateLimit";
import { writeError, type BodyCache, type ErrorStyle, type TokenShape } from "./respond";

export interface ServeContext {
  identities: IdentityRegistry;
  tokens: TokenSource;
  bodies: BodyCache;
  faults?: FaultInjector;
  /** App Service `X-IDENTITY-HEADER` secret. */
  identityHeader: Buffer;
  /** 2017 / Machine Learning `secret` header. */
  msiSecret: Buffer;
  /** 2017 dialect writes `expires_on` as a date string (Linux or Windows form) instead of epoch seconds. */
  legacyDates: false | "linux" | "windows";
  arc?: ArcChallenges;
  arcDisabledReason?: string;
  /** IMDS's documented limits, when switched on. */
  limiter?: RateLimiter;
  /**
   * Query strings of IMDS requests that validated, with what they resolved
   * to: repeat callers (the normal case) skip parsing and lookup. Only
   * successes are kept; identities are never removed, so entries stay true.
   */
  imdsQueries: Map<string, { identity: ServedIdentity; resource: string }>;
}

/** Distinct validated query strings remembered per dialect (then the memo starts over). */
export const MAX_REMEMBERED_QUERIES = 1024;

export { MAX_RESOURCE_LENGTH };

/** Whether a `resource` value is acceptable (non-empty, bounded, printable). */
export function validResource(resource: string | undefined): resource is string {
  if (resource === undefined || resource.length === 0 || resource.length > MAX_RESOURCE_LENGTH) return false;
  for (let i = 0; i < resource.length; i++) {
    const c = resource.charCodeAt(i);
    if (c < 0x21 || c === 0x7f) return false;
  }
  return true;
}

const log = credentialLogger("AzmiServe");

/**
 * Run a handler step that executes outside the request's own call stack
 * (after a body read, a delay or a fetch): an exception answers this one
 * request with a 500 and never reaches the process (no crash, no other
 * client affected).
 *
 * @example
 * ```ts
 * readBody(req, limit).then((body) => guarded(res, () => handle(body)));
 * ```
 */
export function guarded(res: ServerResponse, step: () => void): void {
  try {
    step();
  } catch (error) {
    log.error("request", `unexpected failure: ${redact(String((error as Error)?.message ?? error))}`);
    if (!res.headersSent) writeError(res, "imds", 500, "unknown", "Internal error in azmi serve.");
    else res.destroy();
  }
}

/**
 * Answer a validated token request: fault mode first, then the cached
 * token (no I/O, no crypto), else one shared fetch from the token source.
 */
export function serveToken(
  ctx: ServeContext,
  res: ServerResponse,
  style: ErrorStyle,
  shape: TokenShape,
  identity: ServedIdentity,
  resource: string,
): void {
  const faults = ctx.faults;
  if (faults !== undefined && faults.active && faults.apply(res, style, () => guarded(res, () => deliver(ctx, res, style, shape, identity, resource)))) {
    return;
  }
  deliver(ctx, res, style, shape, identity, resource);
}

function deliver(
  ctx: ServeContext,
  res: ServerResponse,
  style: ErrorStyle,
  shape: TokenShape,
  identity: ServedIdentity,
  resource: string,
): void {
  const token = ctx.tokens.peek(identity, resource);
  if (token !== undefined) {
    ctx.bodies.write(res, shape, identity, token);
    return;
  }
  ctx.tokens.fetch(identity, resource).then(
    (fresh) => guarded(res, () => ctx.bodies.write(res, shape, identity, fresh)),
    (error: unknown) => guarded(res, () => upstreamFailed(res, style, resource, error)),
  );
}

/** Developer tools, in the order a developer's machine most likely has one signed in. */
const DEVELOPER_TOOLS = ["azure-cli", "azure-developer-cli", "azure-powershell"];

/**
 * The entry of an aggregate error's `tried` (when it has the shape azmi's
 * chain gives it) that tells the user most: a link that failed (it answered,
 * and refused), else a developer tool (on a developer's machine `az login` is
 * the usual fix), else the first link tried.
 */
function mostTellingTried(error: unknown): TriedLink | undefined {
  const t = (error as { tried?: unknown } | null)?.tried;
  const tried = (Array.isArray(t) ? t : []).filter(
    (f: Partial<TriedLink> | undefined): f is TriedLink => !!f && typeof f.link === "string" && typeof f.outcome === "string" && typeof f.reason === "string",
  );
  return tried.find((f) => f.outcome === "failed") ?? DEVELOPER_TOOLS.map((name) => tried.find((f) => f.link === name)).find((f) => f) ?? tried[0];
}

/**
 * The client's answer when the host's chain gave no token. A lasting
 * outcome (no link could be used, e.g. nobody ran `az login`; or a link was
 * refused) is a 400, which no SDK retries: a 500 would have the client retry
 * for ~25 s (JS, .NET: five times with backoff) before showing the reason.
 * Anything else (a timeout, a crash of a developer tool) may pass, so it is
 * a 500 and the client's retries are welcome. Errors are never cached.
 */
function upstreamFailed(res: ServerResponse, style: ErrorStyle, resource: string, error: unknown): void {
  const code = isAzmiError(error) ? error.code : ((error as { code?: string })?.code ?? "unknown");
  // The first line, and for a chain's "no credential could get a token" the
  // first link it lists as tried (it holds the cause; skipped links do not).
  // By shape, as errors are matched elsewhere: another copy of azmi's class counts too.
  const firstLine = redact(String((error as Error)?.message ?? error)).split("\n", 1)[0] ?? "";
  const tried = mostTellingTried(error);
  const first = tried ? `${firstLine} ${tried.link}: ${tried.outcome} (${redact(tried.reason).split("\n", 1)[0]})` : firstLine;
  log.warning("getToken", `token for '${resource}' failed: ${code}: ${first}`);
  const lasting = code === ErrorCode.AllCredentialsUnavailable || isUnavailable(error) || (error as { name?: string } | null)?.name === "AuthenticationError";
  // What to do first: clients quote only the start of an error (~120 characters), so the action leads, then the upstream's own words.
  const message = lasting
    ? `azmi serve got no token from this host's credentials: run 'azmi doctor' on the host (e.g. az login, or a service principal in the environment). (${code}) ${first}`
    : `azmi serve's credential chain gave no token (${code}): ${first}`;
  writeError(res, style, lasting ? 400 : 500, lasting ? "invalid_request" : "unknown", message);
}
