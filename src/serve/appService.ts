/**
 * The App Service 2019 dialect: `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=…`
 * with `X-IDENTITY-HEADER: {IDENTITY_HEADER}` (compared in constant time).
 * `Metadata` is neither required nor rejected (JS omits it, MSAL.PY sends
 * it). Errors use App Service's `{"statusCode","message","correlationId"}`.
 *
 * @example
 * ```ts
 * // curl -H "X-IDENTITY-HEADER: $IDENTITY_HEADER" "$IDENTITY_ENDPOINT?api-version=2019-08-01&resource=https://vault.azure.net"
 * handleAppService(ctx, req, res, search);
 * ```
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { serveToken, validResource, type ServeContext } from "./context";
import type { RequestSelector } from "./identities";
import { parseQuery, secretMatches } from "./request";
import { writeError } from "./respond";

export const APP_SERVICE_PATH = "/msi/token";
export const APP_SERVICE_API_VERSION = "2019-08-01";
const SELECTOR_PARAMS = ["client_id", "principal_id", "object_id", "mi_res_id", "msi_res_id"];

/** Where an App Service dialect's client puts its secret, as its messages name it. */
export interface AppServiceSecret {
  /** Request header, lower-case (as Node keys `req.headers`). */
  header: string;
  /** The header as the messages spell it. */
  label: string;
  /** The environment variable the client read the secret from. */
  variable: string;
}

const IDENTITY_HEADER_SECRET: AppServiceSecret = { header: "x-identity-header", label: "X-IDENTITY-HEADER", variable: "IDENTITY_HEADER" };

/**
 * The checks both App Service dialects (2019, and 2017 / Machine Learning)
 * make, in this order: secret header present (401) and equal to `expected`
 * (403, constant time), `GET` (405), a well-formed query (400), exactly
 * `apiVersion` (400), a valid `resource` (400). On the first failure the
 * App Service error is written and `undefined` returned.
 *
 * @example
 * ```ts
 * const checked = checkAppServiceRequest(req, res, search, { header: "secret", label: "secret", variable: "MSI_SECRET" }, ctx.msiSecret, "2017-09-01");
 * if (checked === undefined) return;
 * ```
 */
export function checkAppServiceRequest(
  req: IncomingMessage,
  res: ServerResponse,
  search: string,
  secret: AppServiceSecret,
  expected: Buffer,
  apiVersion: string,
): { params: Record<string, string>; resource: string } | undefined {
  const given = req.headers[secret.header];
  if (given === undefined) {
    writeError(res, "appService", 401, "unauthorized", `The ${secret.label} header is missing. Send the value of ${secret.variable} in it.`);
    return undefined;
  }
  if (!secretMatches(given, expected)) {
    writeError(res, "appService", 403, "forbidden", `The ${secret.label} header does not match ${secret.variable} of this endpoint.`);
    return undefined;
  }
  if (req.method !== "GET") {
    writeError(res, "appService", 405, "method_not_allowed", `The request method '${req.method}' is not supported; use GET.`, { Allow: "GET" });
    return undefined;
  }
  const query = parseQuery(search);
  if (!query.ok) {
    writeError(res, "appService", 400, "invalid_request", `${query.reason === "duplicate" ? "Duplicate" : "Malformed"} query parameter '${query.key}'.`);
    return undefined;
  }
  const params = query.params;
  const requested = params["api-version"];
  if (requested !== apiVersion) {
    writeError(res, "appService", 400, "invalid_request", requested === undefined
      ? `The api-version parameter is missing; use ${apiVersion}.`
      : `The api-version '${requested}' is not supported; use ${apiVersion}.`);
    return undefined;
  }
  const resource = params["resource"];
  if (!validResource(resource)) {
    writeError(res, "appService", 400, "invalid_request", "The resource parameter is missing or invalid.");
    return undefined;
  }
  return { params, resource };
}

/** Handle one request to the App Service token path. */
export function handleAppService(ctx: ServeContext, req: IncomingMessage, res: ServerResponse, search: string): void {
  const checked = checkAppServiceRequest(req, res, search, IDENTITY_HEADER_SECRET, ctx.identityHeader, APP_SERVICE_API_VERSION);
  if (checked === undefined) return;
  const { params, resource } = checked;
  let count = 0;
  for (const name of SELECTOR_PARAMS) if (params[name] !== undefined) count++;
  if (count > 1) {
    writeError(res, "appService", 400, "invalid_request", "Only one of client_id, principal_id (object_id) or mi_res_id may be specified.");
    return;
  }
  const selector: RequestSelector =
    params["client_id"] !== undefined
      ? { clientId: params["client_id"] }
      : (params["principal_id"] ?? params["object_id"]) !== undefined
        ? { objectId: (params["principal_id"] ?? params["object_id"])! }
        : (params["mi_res_id"] ?? params["msi_res_id"]) !== undefined
          ? { resourceId: (params["mi_res_id"] ?? params["msi_res_id"])! }
          : {};
  const found = ctx.identities.resolve(selector);
  if (!found.ok) {
    writeError(res, "appService", 400, "invalid_request", "Identity not found");
    return;
  }
  serveToken(ctx, res, "appService", "appService", found.identity, resource);
}
