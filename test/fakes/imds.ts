/**
 * Fake IMDS token endpoint, per spec §4.3 / §9 / checklist 5–15:
 * `GET /metadata/identity/oauth2/token[/]`; without `Metadata: true` (exact,
 * lower-case) ⇒ 400 `bad_request_102`; `X-Forwarded-For` ⇒ 400; duplicate
 * query keys ⇒ 400; non-GET ⇒ 405; `api-version` and `resource` required;
 * unknown identity ⇒ 400 `Identity not found`; success with every number as
 * a string. Unknown paths ⇒ 404.
 *
 * @example
 * ```ts
 * const imds = await startFakeImds({ identities: [{ clientId: "c1" }] });
 * env.set(imds.env); // AZURE_POD_IDENTITY_AUTHORITY_HOST
 * ```
 */
import { json, scripted, type Fake, type FakeOptions } from "./common";
import { startRawServer, type FakeResponse, type LoggedRequest, type RawServerOptions } from "./rawServer";
import { fakeToken, tokenBody, type ExpiresOnFormat } from "./tokens";

export interface FakeIdentity {
  clientId?: string;
  objectId?: string;
  resourceId?: string;
}

export interface FakeImdsOptions extends FakeOptions {
  /** User-assigned identities on this "VM" (the system-assigned one always exists unless `noSystemIdentity`). */
  identities?: FakeIdentity[];
  noSystemIdentity?: boolean;
  /** Answer to requests without `Metadata` (default: the real 400 bad_request_102). */
  probeAnswer?: FakeResponse;
  expiresOnFormat?: ExpiresOnFormat;
  includeExpiresIn?: boolean;
  /** Host to bind (default 127.0.0.1; 169.254.169.254 inside a namespace). */
  host?: string;
  port?: number;
  /** Called synchronously for every request, before it is answered (see RawServerOptions.onRequest). */
  onRequest?: RawServerOptions["onRequest"];
}

export const IMDS_PATH = "/metadata/identity/oauth2/token";

export async function startFakeImds(options: FakeImdsOptions = {}): Promise<Fake> {
  const issued: string[] = [];
  const tokenRequests: LoggedRequest[] = [];
  const server = await startRawServer(
    (req) => {
      if (req.path !== IMDS_PATH && req.path !== `${IMDS_PATH}/`) return json(404, { error: "not_found", error_description: "Not found" });
      if (req.method !== "GET") return json(405, { error: "method_not_allowed", error_description: "The request method is not supported." });
      if (req.header("metadata") !== "true") {
        return options.probeAnswer ?? json(400, { error: "bad_request_102", error_description: "Required metadata header not specified" });
      }
      tokenRequests.push(req);
      const s = scripted(options, req);
      if (s) return s;
      if (req.header("x-forwarded-for") !== undefined) return json(400, { error: "invalid_request", error_description: "Request contains X-Forwarded-For header" });
      const keys = req.query.map(([k]) => k);
      if (new Set(keys).size !== keys.length) return json(400, { error: "invalid_request", error_description: "Duplicate query parameter" });
      if (!req.param("api-version")) return json(400, { error: "invalid_request", error_description: "Required query variable 'api-version' is missing" });
      const resource = req.param("resource");
      if (!resource) return json(400, { error: "invalid_request", error_description: "Required query variable 'resource' is missing" });
      const clientId = req.param("client_id");
      const objectId = req.param("object_id");
      const resourceId = req.param("msi_res_id") ?? req.param("mi_res_id") ?? req.param("msi-res-id");
      let identity: FakeIdentity | undefined;
      if (clientId || objectId || resourceId) {
        identity = (options.identities ?? []).find(
          (i) =>
            (clientId && i.clientId?.toLowerCase() === clientId.toLowerCase()) ||
            (objectId && i.objectId?.toLowerCase() === objectId.toLowerCase()) ||
            (resourceId && i.resourceId?.toLowerCase() === resourceId.toLowerCase()),
        );
        if (!identity) return json(400, { error: "invalid_request", error_description: "Identity not found" });
      } else if (options.noSystemIdentity) {
        return json(400, { error: "invalid_request", error_description: "Identity not found" });
      }
      const token = options.token ?? fakeToken();
      issued.push(token);
      return json(
        200,
        tokenBody({
          token,
          resource,
          lifetimeSec: options.lifetimeSec,
          expiresOnFormat: options.expiresOnFormat,
          includeExpiresIn: options.includeExpiresIn,
          clientId: identity?.clientId,
        }),
        { Server: "IMDS/150.870.65.1854" },
      );
    },
    { host: options.host, port: options.port, onRequest: options.onRequest },
  );
  return {
    ...server,
    env: { AZURE_POD_IDENTITY_AUTHORITY_HOST: server.url },
    issued,
    tokenRequests: () => tokenRequests,
  };
}
