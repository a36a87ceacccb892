/**
 * One token request to an HTTP managed-identity source, with retries inside
 * a time budget, and the mapping from what the endpoint said to the two
 * outcomes a chain understands.
 *
 * | What happened                                             | Error                      | code                          |
 * |-----------------------------------------------------------|----------------------------|-------------------------------|
 * | connect refused / unreachable / timeout / reset           | CredentialUnavailableError | transport code (`ECONNREFUSED`, `ETIMEDOUT`, …) |
 * | IMDS 400 (e.g. `Identity not found`)                      | CredentialUnavailableError | `ERR_MI_IDENTITY_NOT_FOUND` / `ERR_MI_ENDPOINT_ERROR` |
 * | 403 whose body says `unreachable` (Docker Desktop)        | CredentialUnavailableError | `ERR_MI_UNREACHABLE`          |
 * | 502 / 504 (a gateway answered)                            | CredentialUnavailableError | `ERR_MI_UNREACHABLE`          |
 * | error status with a non-JSON body (HTML, text, empty)     | CredentialUnavailableError | `ERR_MI_ENDPOINT_ERROR`       |
 * | 5xx / 404 / 410 / 429 still failing after retries         | CredentialUnavailableError | `ERR_MI_ENDPOINT_ERROR`       |
 * | next retry would not fit in the budget                    | CredentialUnavailableError | `ERR_BUDGET_EXCEEDED`         |
 * | 2xx that is not a token (bad JSON, no token, bad expiry)  | CredentialUnavailableError | `ERR_INVALID_RESPONSE`        |
 * | 4xx with a JSON error from a non-IMDS source (App Service 401/403/400, SF `SecretHeaderNotFound`), IMDS 401/403 JSON | AuthenticationError | `ERR_AUTHENTICATION_FAILED` |
 * | Service Fabric certificate thumbprint mismatch            | AuthenticationError        | `ERR_TLS_THUMBPRINT_MISMATCH` |
 * | Arc key-file rule broken / identity not echoed            | AuthenticationError        | `ERR_MI_ARC_CHALLENGE` / `ERR_MI_IDENTITY_NOT_CONFIRMED` |
 *
 * @azure/identity JS maps every one of these to "unavailable". We stop the
 * chain where an endpoint that is really there answered "no" for this
 * identity, as .NET does: moving on would silently authenticate as someone
 * else (a developer's `az` login) on a machine that has a managed identity.
 *
 * @example
 * ```ts
 * const token = await requestToken(source, resource, {}, { budget: new Budget(30_000), timing: realTiming, log });
 * ```
 */
import type { IdentitySelector, AzmiAccessToken } from "../credentials/types";
import { AuthenticationError, AzmiError, CredentialUnavailableError, ErrorCode, TransportError } from "../errors";
import { redact, type CredentialLogger } from "../log";
import { isLoopbackHost, knownNoRoute, noRouteFailure, send } from "../transport/http";
import type { RawResponse } from "../transport/types";
import { describeErrorBody, parseTokenResponse, readErrorBody } from "./response";
import {
  backoffMs,
  Budget,
  IMDS_UPDATE_WINDOW_MS,
  isRetryableStatus,
  LAST_ATTEMPT_MS,
  MAX_RESPONSE_BYTES,
  MAX_RETRIES,
  REQUEST_TIMEOUT_CAP_MS,
  RETRY_BASE_410_MS,
  RETRY_BASE_MS,
  serverRetryAfterMs,
  type RetryTiming,
} from "./retry";
import { ignoredNote, type HttpSource, type MiRequest } from "./types";

export interface ExchangeOptions {
  budget: Budget;
  timing: RetryTiming;
  log: CredentialLogger;
  signal?: AbortSignal;
  /** The budget is the caller's default: a 410 stretches it to IMDS's update window (retry.ts). */
  rideOutImdsUpdate?: boolean;
}

/** Transport failures worth another attempt (the endpoint may be restarting). */
const TRANSIENT = new Set<string>([ErrorCode.ConnectionReset, ErrorCode.Timeout]);

function prefix(source: HttpSource): string {
  return `ManagedIdentityCredential: ${source.name} at ${source.endpoint}`;
}


/** The variable holding the secret a header dialect sends (a 401/403 there is most often a stale one). */
const SECRET_VARIABLE: Partial<Record<HttpSource["kind"], string>> = {
  "app-service": "IDENTITY_HEADER",
  "service-fabric": "IDENTITY_HEADER",
  "machine-learning": "MSI_SECRET",
};

/**
 * A hint for an endpoint on this machine, most likely `azmi serve`: its
 * secret is new at every start (variables loaded before a restart are
 * stale), and it knows only the user-assigned identities it was told about.
 */
function localServerHint(source: HttpSource, about: "secret" | "identity", clientId?: string): string {
  if (!isLoopbackHost(source.url.hostname)) return "";
  // (Worded so no secret variable's name is followed by ":" or "=": redact() would take the next word for its value.)
  if (about === "secret") return ' If it is azmi serve, each start makes a new secret, so load its variables again (eval "$(azmi env)").';
  return clientId ? ` If it is azmi serve, start it with --identity ${clientId} (or --accept-any-identity).` : " If it is azmi serve, start it with --accept-any-identity (its --identity takes client ids).";
}

/** How endpoints say the identity asked for is not there: IMDS and azmi serve, Service Fabric's code, App Service's text. */
const IDENTITY_NOT_FOUND = /identity not found|ManagedIdentityNotFound|Unable to load the proper Managed Identity/i;

/** The advice for an identity the endpoint does not have, naming the one asked for. */
function identityNotAssigned(source: HttpSource, selector: IdentitySelector): string {
  const which = selector.clientId ? `clientId ${selector.clientId}` : selector.objectId ? `objectId ${selector.objectId}` : selector.resourceId ? `resourceId ${selector.resourceId}` : "the system-assigned identity";
  const chosen = selector.clientId ?? selector.objectId ?? selector.resourceId;
  return `${which} is not assigned to this resource. Assign it, or pass the clientId/objectId/resourceId of an identity that is.${chosen ? localServerHint(source, "identity", selector.clientId) : ""}`;
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const e = new Error("The operation was aborted.");
    e.name = "AbortError";
    throw e;
  }
}

/** Whether a transport failure came after the request was sent: the endpoint took it, and was slow or went silent. */
function tookTheRequest(error: unknown): boolean {
  return error instanceof TransportError && (error.phase === "headers" || error.phase === "body");
}

/**
 * Map a transport failure to an error a chain understands.
 *
 * @example
 * ```ts
 * throw transportFailure(source, transportError); // CredentialUnavailableError code ECONNREFUSED
 * ```
 */
export function transportFailure(source: HttpSource, error: unknown): AzmiError {
  if (error instanceof TransportError) {
    if (error.code === ErrorCode.TlsThumbprintMismatch) {
      return new AuthenticationError(
        `${prefix(source)} presented a certificate whose thumbprint does not match IDENTITY_SERVER_THUMBPRINT; refusing to send the identity header.`,
        { code: error.code, cause: error },
      );
    }
    if (error.code === ErrorCode.Timeout && tookTheRequest(error)) {
      return new CredentialUnavailableError(
        `${prefix(source)} took the request but did not answer in time (${error.phase} ${error.code} after ${Math.round(error.elapsedMs)} ms, timeout ${error.timeoutMs} ms). The endpoint is overloaded or hung; a larger time budget (timeBudgetMs) waits longer.${ignoredNote(source)}`,
        { code: error.code, cause: error },
      );
    }
    return new CredentialUnavailableError(
      `${prefix(source)} could not be reached (${error.phase} ${error.code} after ${Math.round(error.elapsedMs)} ms, timeout ${error.timeoutMs} ms). No managed identity is available here, or the endpoint is down.${ignoredNote(source)}`,
      { code: error.code, cause: error },
    );
  }
  if (error instanceof TypeError || error instanceof RangeError) {
    // The transport refused the request itself (validated before any I/O).
    return new CredentialUnavailableError(`${prefix(source)}: the request could not be sent (${redact(error.message).slice(0, 200)}).`, {
      code: ErrorCode.InvalidArgument,
    });
  }
  const code = (error as { code?: unknown } | null)?.code;
  return new CredentialUnavailableError(
    `${prefix(source)} could not be reached (${typeof code === "string" ? code : "unknown error"}).`,
    { code: typeof code === "string" ? code : ErrorCode.CredentialUnavailable, cause: error },
  );
}

/**
 * Map a final (not retried) error answer to an error a chain understands.
 *
 * @example
 * ```ts
 * throw errorForStatus(source, res, selector, attempts);
 * ```
 */
export function errorForStatus(source: HttpSource, res: RawResponse, selector: IdentitySelector, attempts: number): AzmiError {
  const body = readErrorBody(res);
  const status = res.status;
  // App Service's error body repeats the status as `statusCode`: the message names it once.
  const said = describeErrorBody(body.code === String(status) ? { ...body, code: undefined } : body);
  const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
  if (status === 403 && /unreachable/i.test(body.text)) {
    return new CredentialUnavailableError(
      `${prefix(source)} answered 403 ${said}: the network in front of it (e.g. Docker Desktop) says it is unreachable. No managed identity is available here.`,
      { code: ErrorCode.MiUnreachable },
    );
  }
  if (status === 502 || status === 504) {
    return new CredentialUnavailableError(
      `${prefix(source)} answered ${status} (gateway error)${tries}: ${said}. Something between us and the endpoint answered instead of it.`,
      { code: ErrorCode.MiUnreachable },
    );
  }
  if (source.kind === "imds" && status === 400) {
    if (IDENTITY_NOT_FOUND.test(body.text)) {
      return new CredentialUnavailableError(
        `${prefix(source)} answered 400 ${said}: ${identityNotAssigned(source, selector)}`,
        { code: ErrorCode.MiIdentityNotFound },
      );
    }
    return new CredentialUnavailableError(`${prefix(source)} answered 400 ${said}.`, { code: ErrorCode.MiEndpointError });
  }
  if (body.kind !== "json") {
    return new CredentialUnavailableError(
      `${prefix(source)} answered ${status}${tries} with ${body.kind === "empty" ? "an empty body" : `a body that is not an identity endpoint's JSON error (${said})`}. It does not look like a managed-identity endpoint.`,
      { code: ErrorCode.MiEndpointError },
    );
  }
  if (status >= 500 || isRetryableStatus(status)) {
    // An endpoint that is there and failing for now: a chain must not settle on a later link because of it.
    return Object.assign(new CredentialUnavailableError(`${prefix(source)} answered ${status}${tries}: ${said}.`, { code: ErrorCode.MiEndpointError }), { transient: true });
  }
  // (Not for a refusal that says why, e.g. azmi serve --issuer chain answering another user's process.)
  const secretVar = (status === 401 || status === 403) && body.code !== "forbidden" ? SECRET_VARIABLE[source.kind] : undefined;
  const advice = secretVar
    ? `Check that ${secretVar} holds the secret of the endpoint running now.${localServerHint(source, "secret")}`
    : (status === 400 || status === 404) && IDENTITY_NOT_FOUND.test(body.text)
      ? `Check the identity selection: ${identityNotAssigned(source, selector)}`
      : "Check the identity selection and the endpoint's configuration.";
  return new AuthenticationError(
    `${prefix(source)} refused the token request with ${status}: ${said}. ${advice}`,
    { statusCode: status, errorResponse: { error: body.code ?? "unknown_error", errorDescription: body.message ?? said } },
  );
}

/**
 * Request a token from `source`, retrying as `retry.ts` says, inside `options.budget`.
 *
 * @example
 * ```ts
 * const token = await requestToken(source, "https://vault.azure.net", {}, { budget, timing: realTiming, log });
 * ```
 */
export async function requestToken(
  source: HttpSource,
  resource: string,
  selector: IdentitySelector,
  options: ExchangeOptions,
): Promise<AzmiAccessToken> {
  const { budget, timing, log, signal } = options;
  // An endpoint no route leads to (IMDS in a container without a network)
  // fails before its request is built: send() would give the very same
  // failure (see knownNoRoute), after building and checking a request it
  // can never send (~0.12 ms of that sub-millisecond answer).
  if (source.url.protocol === "http:" && knownNoRoute(source.url.hostname)) {
    checkAbort(signal);
    await undefined; // (rejected once the caller holds this promise: see send())
    throw transportFailure(source, noRouteFailure(source.url.hostname, Number(source.url.port || 80), budget.requestTimeoutMs(), 0));
  }
  let request: MiRequest = source.buildRequest(resource, selector);
  let retry = 0;
  let attempts = 0;
  let challenged = false;
  let updating = false;
  // Each request waits at most REQUEST_TIMEOUT_CAP_MS, leaving room for a
  // retry when the endpoint hangs; but one that took the request and was
  // only slow restarts its work on a retry, and a second cut at the same
  // point would never see an answer that takes longer: it gets the rest.
  let requestCap = REQUEST_TIMEOUT_CAP_MS;
  for (;;) {
    checkAbort(signal);
    attempts++;
    let res: RawResponse;
    try {
      res = await send({
        url: request.url,
        method: request.method,
        headers: request.headers,
        body: request.body,
        timeoutMs: budget.requestTimeoutMs(requestCap),
        maxBodyBytes: MAX_RESPONSE_BYTES,
        pinnedThumbprint: source.pinnedThumbprint,
      });
    } catch (error) {
      const code = (error as { code?: string }).code ?? "";
      if (TRANSIENT.has(code) && retry < MAX_RETRIES) {
        if (code === ErrorCode.Timeout && tookTheRequest(error)) requestCap = Number.POSITIVE_INFINITY;
        const delay = Math.round(backoffMs(RETRY_BASE_MS, retry, timing.random) * timing.scale);
        if (budget.canWait(delay)) {
          log.info("getToken", `${source.name} at ${source.endpoint}: ${code}; retry ${retry + 1} in ${delay} ms`);
          await timing.sleep(delay);
          retry++;
          continue;
        }
      }
      throw transportFailure(source, error);
    }
    // (Messages as functions: with logging off, nothing is formatted.)
    const answered = res;
    log.verbose("getToken", () => `${source.name} at ${source.endpoint} answered ${answered.status} in ${answered.elapsedMs.toFixed(1)} ms`);
    if (res.status >= 200 && res.status < 300) {
      const token = parseTokenResponse(res, { source: source.name, endpoint: source.endpoint });
      source.verifyResponse?.(res, selector);
      return token;
    }
    if (res.status === 401 && source.answerChallenge && !challenged) {
      request = source.answerChallenge(res, request);
      challenged = true;
      log.info("getToken", `${source.name} at ${source.endpoint}: answering its 401 challenge`);
      continue;
    }
    if (res.status === 410 && options.rideOutImdsUpdate && !updating) {
      // "Updating, available within 70 s": the default budget makes room for it (retry.ts).
      updating = true;
      budget.stretchFor(IMDS_UPDATE_WINDOW_MS);
      log.info("getToken", `${source.name} at ${source.endpoint} answered 410 (updating); waiting up to ${IMDS_UPDATE_WINDOW_MS / 1000} s for it`);
    }
    if (retry < MAX_RETRIES && isRetryableStatus(res.status)) {
      const asked = serverRetryAfterMs(res.headers);
      let delay = asked ?? Math.round(backoffMs(res.status === 410 ? RETRY_BASE_410_MS : RETRY_BASE_MS, retry, timing.random) * timing.scale);
      if (updating && asked === undefined && !budget.canWait(delay) && budget.remainingMs() > 2 * LAST_ATTEMPT_MS) {
        delay = Math.floor(budget.remainingMs() - LAST_ATTEMPT_MS); // one last try near the end of the update window
      }
      if (budget.canWait(delay)) {
        log.info("getToken", `${source.name} at ${source.endpoint} answered ${res.status}; retry ${retry + 1} in ${delay} ms`);
        await timing.sleep(delay);
        retry++;
        continue;
      }
      const last = errorForStatus(source, res, selector, attempts);
      throw new CredentialUnavailableError(
        `${prefix(source)} answered ${res.status} and a retry in ${delay} ms would not fit in the ${Math.round(budget.remainingMs())} ms left of this call's time budget (${budget.describe()}). Last answer: ${last.message.replace(/^ManagedIdentityCredential: /, "")}`,
        { code: ErrorCode.BudgetExceeded, cause: last },
      );
    }
    throw errorForStatus(source, res, selector, attempts);
  }
}
