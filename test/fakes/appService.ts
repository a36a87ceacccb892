/**
 * Fake App Service / Functions identity endpoint, 2019-08-01 (spec §4.4.1,
 * checklist 26–29): `GET /MSI/token?api-version=2019-08-01&resource=…`,
 * header `X-IDENTITY-HEADER` must equal the secret; `Metadata` neither
 * required nor rejected; `client_id` / `principal_id` (alias `object_id`) /
 * `mi_res_id` mutually exclusive; errors as `{"statusCode","message","correlationId"}`.
 *
 * @example
 * ```ts
 * const app = await startFakeAppService();
 * env.set(app.env); // IDENTITY_ENDPOINT + IDENTITY_HEADER
 * ```
 */
import { json, scripted, type Fake, type FakeOptions } from "./common";
import { startRawServer, type LoggedRequest } from "./rawServer";
import { fakeSecret, fakeToken, tokenBody, type ExpiresOnFormat } from "./tokens";

export interface FakeAppServiceOptions extends FakeOptions {
  secret?: string;
  /** Client id reported for the system-assigned identity. */
  systemClientId?: string;
  expiresOnFormat?: ExpiresOnFormat;
}

const err = (status: number, message: string) => json(status, { statusCode: status, message, correlationId: "00000000-0000-0000-0000-0000000000aa" });

export async function startFakeAppService(options: FakeAppServiceOptions = {}): Promise<Fake & { secret: string }> {
  const secret = options.secret ?? fakeSecret("hdr");
  const issued: string[] = [];
  const tokenRequests: LoggedRequest[] = [];
  const server = await startRawServer((req) => {
    if (req.path !== "/MSI/token") return err(404, "Not found");
    tokenRequests.push(req);
    const s = scripted(options, req);
    if (s) return s;
    if (req.method !== "GET") return err(405, "Method not allowed");
    if (req.header("x-identity-header") !== secret) return err(401, "The X-IDENTITY-HEADER header is missing or invalid.");
    if (req.param("api-version") !== "2019-08-01") return err(400, "Unsupported api-version.");
    const resource = req.param("resource");
    if (!resource) return err(400, "The resource parameter is required.");
    const ids = ["client_id", "principal_id", "object_id", "mi_res_id"].filter((k) => req.param(k));
    if (ids.length > 1) return err(400, "Only one of client_id, principal_id, mi_res_id may be specified.");
    const clientId = req.param("client_id") ?? options.systemClientId ?? "5e29463d-0000-4000-8000-00000000a000";
    const token = options.token ?? fakeToken();
    issued.push(token);
    const body = tokenBody({ token, resource, lifetimeSec: options.lifetimeSec, expiresOnFormat: options.expiresOnFormat, includeExpiresIn: false, clientId });
    delete body.refresh_token;
    return json(200, body);
  });
  return {
    ...server,
    secret,
    env: { IDENTITY_ENDPOINT: `${server.url}/MSI/token`, IDENTITY_HEADER: secret },
    issued,
    tokenRequests: () => tokenRequests,
  };
}
