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

/** Handle one request to the App Service token path. */
export function handleAppService(ctx: ServeContext, req: IncomingMessage, res: ServerResponse, search: string): void {
  const given = req.headers["x-identity-header"];
  if (given === undefined) {
    writeError(res, "appService", 401, "unauthorized", "The X-IDENTITY-HEADER header is missing. Send the value of IDENTITY_HEADER in it.");
    return;
  }
  if (!secretMatches(given, ctx.identityHeader)) {
    writeError(res, "appService", 403, "forbidden", "The X-IDENTITY-HEADER header does not match IDENTITY_HEADER of this endpoint.");
    return;
  }
  if (req.method !== "GET") {
    writeError(res, "appService", 405, "method_not_allowed", `The request method '${req.method}' is not supported; use GET.`, { Allow: "GET" });
    return;
  }
  const query = parseQuery(search);
  if (!query.ok) {
    writeError(res, "appService", 400, "invalid_request", `${query.reason === "duplicate" ? "Duplicate" : "Malformed"} query parameter '${query.key}'.`);
    return;
  }
  const params = query.params;
  const apiVersion = params["api-version"];
  if (apiVersion !== APP_SERVICE_API_VERSION) {
    writeError(res, "appService", 400, "invalid_request", apiVersion === undefined
      ? `The api-version parameter is missing; use ${APP_SERVICE_API_VERSION}.`
      : `The api-version '${apiVersion}' is not supported; use ${APP_SERVICE_API_VERSION}.`);
    return;
  }
  const resource = params["resource"];
  if (!validResource(resource)) {
    writeError(res, "appService", 400, "invalid_request", "The resource parameter is missing or invalid.");
    return;
  }
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
