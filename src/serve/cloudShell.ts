/**
 * The Cloud Shell dialect: `POST {MSI_ENDPOINT}` with `Metadata: true` and
 * a form body `resource=<urlencoded>`. Only the system identity exists here
 * (Cloud Shell has no user-assigned identities); a selector in the body is
 * refused. Errors use Cloud Shell's `{"error":{"code","message"}}`, except
 * the missing `Metadata` header, which gets IMDS's exact 400.
 *
 * @example
 * ```ts
 * // curl "$MSI_ENDPOINT" -H Metadata:true --data "resource=https://management.azure.com/"
 * handleCloudShell(ctx, req, res);
 * ```
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { guarded, serveToken, validResource, type ServeContext } from "./context";
import { METADATA_MISSING } from "./imds";
import { MAX_BODY_BYTES, parseQuery, readBody } from "./request";
import { writeError } from "./respond";

export const CLOUD_SHELL_PATH = "/oauth2/token";
const FORM_TYPE = "application/x-www-form-urlencoded";

/** Handle one request to the Cloud Shell token path. */
export function handleCloudShell(ctx: ServeContext, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== "POST") {
    writeError(res, "cloudShell", 405, "MethodNotAllowed", `The request method '${req.method}' is not supported; use POST.`, { Allow: "POST" });
    return;
  }
  if (req.headers["metadata"] !== "true") {
    writeError(res, "imds", 400, "bad_request_102", METADATA_MISSING);
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
    const params = form.params;
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
  }), () => res.destroy());
}
