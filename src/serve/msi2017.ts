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
import { checkAppServiceRequest, type AppServiceSecret } from "./appService";
import { serveToken, type ServeContext } from "./context";
import { writeError } from "./respond";

export const MSI2017_PATH = "/msi/2017/token";
export const MSI2017_API_VERSION = "2017-09-01";

const MSI_SECRET: AppServiceSecret = { header: "secret", label: "secret", variable: "MSI_SECRET" };

/** Handle one request to the 2017 / Machine Learning token path. */
export function handleMsi2017(ctx: ServeContext, req: IncomingMessage, res: ServerResponse, search: string): void {
  const checked = checkAppServiceRequest(req, res, search, MSI_SECRET, ctx.msiSecret, MSI2017_API_VERSION);
  if (checked === undefined) return;
  const { params, resource } = checked;
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
