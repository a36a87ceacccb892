/**
 * The Cloud Shell dialect: `POST {MSI_ENDPOINT}` with `Metadata: true` and
 * a form body `resource=<urlencoded>` (what the SDKs send), or
 * `GET {MSI_ENDPOINT}?resource=<urlencoded>` with `Metadata: true` (what
 * scripts in Cloud Shell send: `Invoke-RestMethod "$env:MSI_ENDPOINT?resource=…"
 * -Headers @{Metadata='true'}`; the real endpoint answers both). Only the
 * system identity exists here (Cloud Shell has no user-assigned identities);
 * a selector is refused. Errors use Cloud Shell's `{"error":{"code","message"}}`,
 * except the missing `Metadata` header, which gets IMDS's exact 400.
 *
 * @example
 * ```ts
 * // curl "$MSI_ENDPOINT" -H Metadata:true --data "resource=https://management.azure.com/"
 * // curl "$MSI_ENDPOINT?resource=https%3A%2F%2Fmanagement.azure.com%2F" -H Metadata:true
 * handleCloudShell(ctx, req, res, search);
 * ```
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { guarded, serveToken, validResource, type ServeContext } from "./context";
import { METADATA_MISSING } from "./imds";
import { MAX_BODY_BYTES, parseQuery, readBody } from "./request";
import { writeError } from "./respond";

export const CLOUD_SHELL_PATH = "/oauth2/token";
const FORM_TYPE = "application/x-www-form-urlencoded";

/** Handle one request to the Cloud Shell token path (`search`: the query, without `?`). */
export function handleCloudShell(ctx: ServeContext, req: IncomingMessage, res: ServerResponse, search: string): void {
  if (req.method !== "POST" && req.method !== "GET") {
    writeError(res, "cloudShell", 405, "MethodNotAllowed", `The request method '${req.method}' is not supported; use GET or POST.`, { Allow: "GET, POST" });
    return;
  }
  if (req.headers["metadata"] !== "true") {
    writeError(res, "imds", 400, "bad_request_102", METADATA_MISSING);
    return;
  }
  if (req.method === "GET") {
    const query = parseQuery(search);
    if (!query.ok) {
      writeError(res, "cloudShell", 400, "BadRequest", `${query.reason === "duplicate" ? "Duplicate" : "Malformed"} query parameter '${query.key}'.`);
      return;
    }
    answer(ctx, res, query.params);
    return;
  }
  const type = req.headers["content-type"];
  if (type !== undefined && !type.toLowerCase().startsWith(FORM_TYPE)) {
    writeError(res, "cloudShell", 415, "UnsupportedMediaType", `The body must be ${FORM_TYPE}.`);
    return;
  }
  readBody(req, MAX_BODY_BYTES).then((body) => guarded(res, () => {
    if (body === undefined) {
      writeError(res, "cloudShell", 413, "RequestEntityTooLarge", `The body is larger than ${MAX_BODY_BYTES} bytes.`, { Connection: "close" });
      return;
    }
    const form = parseQuery(body.toString("utf8"), true);
    if (!form.ok) {
      writeError(res, "cloudShell", 400, "BadRequest", `${form.reason === "duplicate" ? "Duplicate" : "Malformed"} form field '${form.key}'.`);
      return;
    }
    answer(ctx, res, form.params);
  }), () => res.destroy());
}

/** The token for the parameters of either request shape (form body or query). */
function answer(ctx: ServeContext, res: ServerResponse, params: Record<string, string>): void {
  for (const name of ["client_id", "object_id", "principal_id", "msi_res_id", "mi_res_id"]) {
    if (params[name] !== undefined) {
      writeError(res, "cloudShell", 400, "BadRequest", "User-assigned managed identities are not supported in Cloud Shell; omit client_id, object_id and msi_res_id.");
      return;
    }
  }
  const resource = params["resource"];
  if (!validResource(resource)) {
    writeError(res, "cloudShell", 400, "BadRequest", "Required audience parameter not specified");
    return;
  }
  serveToken(ctx, res, "cloudShell", "cloudShell", ctx.identities.system, resource);
}
