/**
 * The App Service 2017 / Azure Machine Learning dialect:
 * `GET {MSI_ENDPOINT}?api-version=2017-09-01&resource=…[&clientid=…]` with
 * `secret: {MSI_SECRET}` (constant-time compare). `Metadata` is accepted
 * but not required (Python azure-identity 1.13 does not send it). The
 * system-assigned identity is also selected by its own client id, which is
 * published as `DEFAULT_IDENTITY_CLIENT_ID` (MSAL.NET's ML source needs it).
 * `expires_on` is epoch seconds as a string, or the 2017 date string
 * (`MM/DD/YYYY HH:MM:SS +00:00`, or `M/D/YYYY h:MM:SS AM +00:00` for
 * `legacyDates: "windows"`) under `legacyDates`.
 *
 * @example
 * ```ts
 * // curl -H "secret: $MSI_SECRET" "$MSI_ENDPOINT?api-version=2017-09-01&resource=https://vault.azure.net"
 * handleMsi2017(ctx, req, res, search);
 * ```
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { serveToken, validResource, type ServeContext } from "./context";
import { parseQuery, secretMatches } from "./request";
import { writeError } from "./respond";

export const MSI2017_PATH = "/msi/2017/token";
export const MSI2017_API_VERSION = "2017-09-01";

/** Handle one request to the 2017 / Machine Learning token path. */
export function handleMsi2017(ctx: ServeContext, req: IncomingMessage, res: ServerResponse, search: string): void {
  const given = req.headers["secret"];
  if (given === undefined) {
    writeError(res, "appService", 401, "unauthorized", "The secret header is missing. Send the value of MSI_SECRET in it.");
    return;
  }
  if (!secretMatches(given, ctx.msiSecret)) {
    writeError(res, "appService", 403, "forbidden", "The secret header does not match MSI_SECRET of this endpoint.");
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
  if (apiVersion !== MSI2017_API_VERSION) {
    writeError(res, "appService", 400, "invalid_request", apiVersion === undefined
      ? `The api-version parameter is missing; use ${MSI2017_API_VERSION}.`
      : `The api-version '${apiVersion}' is not supported; use ${MSI2017_API_VERSION}.`);
    return;
  }
  const resource = params["resource"];
  if (!validResource(resource)) {
    writeError(res, "appService", 400, "invalid_request", "The resource parameter is missing or invalid.");
    return;
  }
  if (params["clientid"] !== undefined && params["client_id"] !== undefined) {
    writeError(res, "appService", 400, "invalid_request", "Only one of clientid or client_id may be specified.");
    return;
  }
  if (params["object_id"] !== undefined || params["principal_id"] !== undefined || params["mi_res_id"] !== undefined || params["msi_res_id"] !== undefined) {
    writeError(res, "appService", 400, "invalid_request", "Only client id is supported for user-assigned managed identity in this dialect; use clientid.");
    return;
  }
  const clientId = params["clientid"] ?? params["client_id"];
  const found = ctx.identities.resolve(clientId === undefined || clientId === "" ? {} : { clientId });
  if (!found.ok) {
    writeError(res, "appService", 400, "invalid_request", "Identity not found");
    return;
  }
  const shape = ctx.legacyDates === "windows" ? "msi2017-legacy-windows" : ctx.legacyDates === "linux" ? "msi2017-legacy" : "msi2017";
  serveToken(ctx, res, "appService", shape, found.identity, resource);
}
