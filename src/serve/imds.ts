/**
 * The IMDS dialect: `GET /metadata/identity/oauth2/token[/]?api-version=…&resource=…`
 * with `Metadata: true` (lower-case, exactly), answered with IMDS's exact
 * bodies and statuses (spec §4.3, §6.1, §9; checklist 5–15).
 *
 * Clients reach it through `AZURE_POD_IDENTITY_AUTHORITY_HOST=<server url>`.
 *
 * @example
 * ```ts
 * // curl -H Metadata:true "$URL/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net"
 * handleImds(ctx, req, res, search);
 * ```
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { MAX_REMEMBERED_QUERIES, serveToken, validResource, type ServeContext } from "./context";
import type { RequestSelector, ServedIdentity } from "./identities";
import { parseQuery } from "./request";
import { writeError } from "./respond";

export const IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token";
export const METADATA_MISSING = "Required metadata header not specified";
export const IDENTITY_NOT_FOUND = "Identity not found";
/** IMDS's refusal of more than one user-assigned selector (Arc answers the same). */
export const MULTIPLE_SELECTORS = "Only one of client_id, object_id or msi_res_id may be specified";
/** Oldest api-version IMDS serves identity tokens for. */
const OLDEST_API_VERSION = "2018-02-01";
const API_VERSION_PATTERN = /^\d{4}-\d{2}-\d{2}$/;
/** api-versions found good (clients repeat one), so the check is one lookup. */
const goodApiVersions = new Set<string>();

/** An api-version IMDS could serve: a real calendar date (not 2099-13-45), from OLDEST_API_VERSION on. */
function isKnownShapeApiVersion(value: string): boolean {
  if (goodApiVersions.has(value)) return true;
  if (!API_VERSION_PATTERN.test(value) || value < OLDEST_API_VERSION) return false;
  const date = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value) return false;
  if (goodApiVersions.size < 64) goodApiVersions.add(value);
  return true;
}

/** Every spelling of a user-assigned selector; at most one may be present. */
const SELECTOR_PARAMS = ["client_id", "object_id", "principal_id", "msi_res_id", "mi_res_id", "msi-res-id"];

/**
 * The user-assigned selector of an IMDS-family query, or `"multiple"` when
 * more than one was given. IMDS spells the resource id `msi_res_id`; App
 * Service's `mi_res_id` and .NET's probe's `msi-res-id` are accepted too.
 *
 * @example
 * ```ts
 * imdsSelector({ client_id: "abc" }); // { clientId: "abc" }
 * ```
 */
export function imdsSelector(params: Record<string, string>): RequestSelector | "multiple" {
  let given = 0;
  for (const name of SELECTOR_PARAMS) if (params[name] !== undefined) given++;
  if (given > 1) return "multiple";
  const clientId = params["client_id"];
  if (clientId !== undefined) return { clientId };
  const objectId = params["object_id"] ?? params["principal_id"];
  if (objectId !== undefined) return { objectId };
  const resourceId = params["msi_res_id"] ?? params["mi_res_id"] ?? params["msi-res-id"];
  if (resourceId !== undefined) return { resourceId };
  return {};
}

/** Handle one request to the IMDS token path. */
export function handleImds(ctx: ServeContext, req: IncomingMessage, res: ServerResponse, search: string): void {
  if (req.method !== "GET") {
    writeError(res, "imds", 405, "method_not_allowed", `The request method '${req.method}' is not supported; use GET.`, { Allow: "GET" });
    return;
  }
  if (req.headers["metadata"] !== "true") {
    writeError(res, "imds", 400, "bad_request_102", METADATA_MISSING);
    return;
  }
  const known = ctx.imdsQueries.get(search);
  if (known !== undefined) {
    admitAndServe(ctx, res, known.identity, known.resource);
    return;
  }
  const query = parseQuery(search);
  if (!query.ok) {
    const what = query.reason === "duplicate" ? `Duplicate query parameter '${query.key}'` : `Malformed query parameter '${query.key}'`;
    writeError(res, "imds", 400, "invalid_request", what);
    return;
  }
  const params = query.params;
  const apiVersion = params["api-version"];
  if (apiVersion === undefined || apiVersion === "") {
    writeError(res, "imds", 400, "invalid_request", "Required query parameter 'api-version' not specified");
    return;
  }
  if (!isKnownShapeApiVersion(apiVersion)) {
    writeError(res, "imds", 400, "invalid_request", `Unsupported api-version; use ${OLDEST_API_VERSION} or later`);
    return;
  }
  const resource = params["resource"];
  if (resource === undefined || resource === "") {
    writeError(res, "imds", 400, "invalid_request", "Required audience parameter not specified");
    return;
  }
  if (!validResource(resource)) {
    writeError(res, "imds", 400, "invalid_resource", "The resource parameter is not a valid audience");
    return;
  }
  const selector = imdsSelector(params);
  if (selector === "multiple") {
    writeError(res, "imds", 400, "invalid_request", MULTIPLE_SELECTORS);
    return;
  }
  const found = ctx.identities.resolve(selector);
  if (!found.ok) {
    writeError(res, "imds", 400, "invalid_request", IDENTITY_NOT_FOUND);
    return;
  }
  if (ctx.imdsQueries.size >= MAX_REMEMBERED_QUERIES) ctx.imdsQueries.clear();
  ctx.imdsQueries.set(search, { identity: found.identity, resource });
  admitAndServe(ctx, res, found.identity, resource);
}

function admitAndServe(ctx: ServeContext, res: ServerResponse, identity: ServedIdentity, resource: string): void {
  if (ctx.limiter !== undefined && !ctx.limiter.admit(res)) {
    writeError(res, "imds", 429, "too_many_requests", "Too many requests: the managed identity category allows 20 requests per second and 5 concurrent requests");
    return;
  }
  serveToken(ctx, res, "imds", "imds", identity, resource);
}
