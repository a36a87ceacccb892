/**
 * Fake Cloud Shell endpoint (spec §7, checklist 31/33): `POST /oauth2/token`
 * with form body `resource=…`, `Metadata: true` (or `GET` with `?resource=…`,
 * as scripts in Cloud Shell call it); answers with string
 * `expires_in`/`expires_on`/`not_before` and `refresh_token: ""`. Unsupported
 * audiences get the nested `{"error":{"code","message"}}` shape.
 *
 * @example
 * ```ts
 * const shell = await startFakeCloudShell();
 * env.set(shell.env); // MSI_ENDPOINT only
 * ```
 */
import { json, scripted, type Fake, type FakeOptions } from "./common";
import { startRawServer, type LoggedRequest } from "./rawServer";
import { fakeToken, tokenBody } from "./tokens";

export interface FakeCloudShellOptions extends FakeOptions {
  /** Audiences refused with AudienceNotSupported. */
  refuse?: string[];
}

export async function startFakeCloudShell(options: FakeCloudShellOptions = {}): Promise<Fake> {
  const issued: string[] = [];
  const tokenRequests: LoggedRequest[] = [];
  const server = await startRawServer((req) => {
    if (req.path !== "/oauth2/token") return json(404, { error: { code: "NotFound", message: "Not found" } });
    tokenRequests.push(req);
    const s = scripted(options, req);
    if (s) return s;
    if (req.method !== "POST" && req.method !== "GET") return json(405, { error: { code: "MethodNotAllowed", message: "Use GET or POST" } });
    if (req.header("metadata") !== "true") return json(400, { error: { code: "BadRequest", message: "Metadata header required" } });
    // The SDKs POST a form; a script in Cloud Shell GETs with the resource in the query (issue 5's Invoke-RestMethod line).
    const form = req.method === "POST" ? new URLSearchParams(req.body) : new URL(req.target, "http://localhost").searchParams;
    const resource = form.get("resource");
    if (!resource) return json(400, { error: { code: "BadRequest", message: "resource required" } });
    if (options.refuse?.includes(resource)) {
      return json(400, { error: { code: "AudienceNotSupported", message: `Audience ${resource} is not a supported MSI token audience.` } });
    }
    const token = options.token ?? fakeToken();
    issued.push(token);
    return json(200, tokenBody({ token, resource, lifetimeSec: options.lifetimeSec ?? 3900 }));
  });
  return { ...server, env: { MSI_ENDPOINT: `${server.url}/oauth2/token` }, issued, tokenRequests: () => tokenRequests };
}
