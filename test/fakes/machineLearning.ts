/**
 * Fake `MSI_ENDPOINT` + `MSI_SECRET` endpoint: Azure Machine Learning and
 * the legacy App Service 2017-09-01 protocol (spec §4.4.2, §4.8, checklist
 * 30): `GET …?api-version=2017-09-01&resource=…[&clientid=…]`, header
 * `secret`; `Metadata: true` accepted but not required (Python 1.13 omits
 * it). `expiresOnFormat: "linux" | "windows"` gives the 2017 date strings.
 *
 * @example
 * ```ts
 * const ml = await startFakeMsi2017({ expiresOnFormat: "windows" });
 * env.set(ml.env); // MSI_ENDPOINT + MSI_SECRET
 * ```
 */
import { json, scripted, type Fake, type FakeOptions } from "./common";
import { startRawServer, type LoggedRequest } from "./rawServer";
import { fakeSecret, fakeToken, tokenBody, type ExpiresOnFormat } from "./tokens";

export interface FakeMsi2017Options extends FakeOptions {
  secret?: string;
  expiresOnFormat?: ExpiresOnFormat;
}

export async function startFakeMsi2017(options: FakeMsi2017Options = {}): Promise<Fake & { secret: string }> {
  const secret = options.secret ?? fakeSecret("msi");
  const issued: string[] = [];
  const tokenRequests: LoggedRequest[] = [];
  const server = await startRawServer((req) => {
    if (req.path !== "/MSI/token/" && req.path !== "/MSI/token") return json(404, { error: "not_found" });
    tokenRequests.push(req);
    const s = scripted(options, req);
    if (s) return s;
    if (req.method !== "GET") return json(405, { error: "method_not_allowed" });
    if (req.header("secret") !== secret) return json(401, { error: "unauthorized", error_description: "secret header missing or invalid" });
    if (req.param("api-version") !== "2017-09-01") return json(400, { error: "invalid_request", error_description: "api-version 2017-09-01 required" });
    const resource = req.param("resource");
    if (!resource) return json(400, { error: "invalid_request", error_description: "resource required" });
    const token = options.token ?? fakeToken();
    issued.push(token);
    return json(
      200,
      tokenBody({ token, resource, lifetimeSec: options.lifetimeSec, expiresOnFormat: options.expiresOnFormat ?? "windows", includeExpiresIn: false, clientId: req.param("clientid") }),
    );
  });
  return {
    ...server,
    secret,
    env: { MSI_ENDPOINT: `${server.url}/MSI/token/`, MSI_SECRET: secret },
    issued,
    tokenRequests: () => tokenRequests,
  };
}
