/**
 * A Service Fabric-shaped path for raw clients and error-shape tests:
 * `GET /servicefabric/token?api-version=2019-07-01-preview|2020-05-01&resource=…`
 * with `secret: {IDENTITY_HEADER}`, errors as `{"error":{"correlationId","code","message"}}`
 * (`SecretHeaderNotFound`, `ArgumentNullOrEmpty`, `InvalidApiVersion`, `ManagedIdentityNotFound`).
 * Real SF clients also require HTTPS with a pinned certificate, which this
 * plain-HTTP server does not offer, so no environment variables point here.
 *
 * @example
 * ```ts
 * // curl -H "secret: $IDENTITY_HEADER" "$URL/servicefabric/token?api-version=2019-07-01-preview&resource=https://vault.azure.net"
 * handleServiceFabric(ctx, req, res, search);
 * ```
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { serveToken, validResource, type ServeContext } from "./context";
import { parseQuery, secretMatches } from "./request";
import { writeError } from "./respond";

export const SERVICE_FABRIC_PATH = "/servicefabric/token";
export const SERVICE_FABRIC_API_VERSIONS = ["2019-07-01-preview", "2020-05-01"];

/** Handle one request to the Service Fabric-shaped path. */
export function handleServiceFabric(ctx: ServeContext, req: IncomingMessage, res: ServerResponse, search: string): void {
  const given = req.headers["secret"];
  if (given === undefined) {
    writeError(res, "serviceFabric", 401, "SecretHeaderNotFound", "Secret is not found in the request headers.");
    return;
  }
  if (!secretMatches(given, ctx.identityHeader)) {
    writeError(res, "serviceFabric", 403, "SecretHeaderMismatch", "The secret header does not match IDENTITY_HEADER of this endpoint.");
    return;
  }
  if (req.method !== "GET") {
    writeError(res, "serviceFabric", 405, "MethodNotAllowed", `The request method '${req.method}' is not supported; use GET.`, { Allow: "GET" });
    return;
  }
  const query = parseQuery(search);
  if (!query.ok) {
    writeError(res, "serviceFabric", 400, "InvalidParameter", `${query.reason === "duplicate" ? "Duplicate" : "Malformed"} query parameter '${query.key}'.`);
    return;
  }
  const params = query.params;
  const apiVersion = params["api-version"] ?? "";
  if (!SERVICE_FABRIC_API_VERSIONS.includes(apiVersion)) {
    writeError(res, "serviceFabric", 400, "InvalidApiVersion", `The api-version '${apiVersion}' is not supported. Supported version is '2019-07-01-preview'.`);
    return;
  }
  const resource = params["resource"];
  if (!validResource(resource)) {
    writeError(res, "serviceFabric", 400, "ArgumentNullOrEmpty", "The parameter 'resource' should not be null or empty string.");
    return;
  }
  const principalId = params["principalId"] ?? params["principal_id"];
  const found = ctx.identities.resolve(principalId === undefined ? {} : { objectId: principalId });
  if (!found.ok) {
    writeError(res, "serviceFabric", 404, "ManagedIdentityNotFound", "The managed identity was not found.");
    return;
  }
  serveToken(ctx, res, "serviceFabric", "appService", found.identity, resource);
}
