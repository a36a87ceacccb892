/**
 * A fake Azure Cloud Shell token endpoint for the Pester suite, run as its
 * own process: `node dist/test/powershell/support/cloudShellFake.js <log>`.
 * It prints one JSON line `{"url","port","msiEndpoint","appId"}` on stdout
 * when it listens on 127.0.0.1, appends every request it receives to `<log>`
 * as a JSON line, and exits when its stdin closes (so a test run can never
 * leave it behind).
 *
 * Follows spec §7: `POST /oauth2/token` with form body `resource=…` and
 * `Metadata: true`; also `GET /oauth2/token?resource=…` with `Metadata: true`,
 * which is what `Invoke-RestMethod "$env:MSI_ENDPOINT?resource=…"` sends.
 * Answers as Cloud Shell does: `access_token`, `refresh_token: ""`, string
 * `expires_in`/`expires_on`/`not_before`, the resource as asked and
 * `token_type: "Bearer"`, and no `client_id`. As Cloud Shell does, it hands out
 * the same token per resource until it expires, so two clients asking in turn
 * see the same values. Audiences starting with `https://refused.` get
 * `AudienceNotSupported`.
 *
 * Tokens are JWT-shaped (unsigned: a random signature) and carry the claims a
 * Cloud Shell token has, `appid` among them (printed as `appId` at start), so
 * a client that takes `client_id` from the token's claims while the endpoint
 * sent none shows up as an extra property. A resource containing `opaque`
 * gets an opaque random token (`cs_<hex>`) instead, for checks that a token
 * never reaches an output whatever its shape (JWTs are also redacted by
 * pattern, which could hide a leak). A resource containing `comma` gets
 * `cs_<hex>,<hex>`, a value .NET refuses as an Authorization header.
 *
 * A stand-in API for Invoke-AzManagedRestMethod:
 * - `/api/whoami` answers with what it got: authorization, method, body,
 *   content type, user agent, HTTP version, query; response header `X-Fake: whoami`.
 * - `/api/status/<code>` answers with that status, `{"status":<code>}` and the
 *   headers `Retry-After: 7` and `X-Fake: status`; with `?echo=1` the body
 *   also carries the Authorization header it got (a server that echoes the
 *   request into its error, for checks that the token never reaches an error).
 * - `/api/delay/<ms>` answers `{"delayedMs":<ms>}` after that many milliseconds
 *   (at most 60000), for timeouts.
 * - `/api/pages/<n>` answers `[n]` with `Link: </api/pages/n+1>; rel="next"` up to page 3.
 * - `/api/redirect?to=<path>` answers 302 to `<path>`.
 *
 * @example
 * ```powershell
 * $fake = Start-CloudShellFake   # test/powershell/support/Azmi.TestSupport.psm1
 * $env:MSI_ENDPOINT = $fake.msiEndpoint
 * ```
 */
import { randomBytes, randomUUID } from "node:crypto";
import { appendFileSync } from "node:fs";
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";

const LIFETIME_SEC = 3900;
/** The Cloud Shell user's tenant, and the application id Cloud Shell's tokens name (as a real one's appid does). */
const TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const APP_ID = "b677c290-cf4b-4a8e-a60e-91ba650a4abe";
const OBJECT_ID = randomUUID();
const logFile = process.argv[2];
const issued = new Map<string, { token: string; expiresOn: number; notBefore: number }>();

function send(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A JWT-shaped Cloud Shell token for `resource` (not signed: nothing here validates it). */
function jwt(resource: string, notBefore: number, expiresOn: number): string {
  const header = { typ: "JWT", alg: "RS256", kid: "cloudshell-fake" };
  const claims = {
    aud: resource,
    iss: `https://sts.windows.net/${TENANT_ID}/`,
    iat: notBefore,
    nbf: notBefore,
    exp: expiresOn,
    appid: APP_ID,
    appidacr: "0",
    idtyp: "user",
    oid: OBJECT_ID,
    tid: TENANT_ID,
    upn: "cloudshell-user@example.com",
    ver: "1.0",
  };
  return `${b64url(header)}.${b64url(claims)}.${randomBytes(32).toString("base64url")}`;
}

function api(req: IncomingMessage, res: ServerResponse, url: URL, body: string): void {
  if (url.pathname === "/api/whoami") {
    return send(
      res,
      200,
      {
        authorization: req.headers["authorization"] ?? null,
        method: req.method,
        body,
        contentType: req.headers["content-type"] ?? null,
        userAgent: req.headers["user-agent"] ?? null,
        httpVersion: req.httpVersion,
        query: url.search,
      },
      { "X-Fake": "whoami" },
    );
  }
  const status = /^\/api\/status\/(\d{3})$/.exec(url.pathname);
  if (status) {
    const answerBody: Record<string, unknown> = { status: Number(status[1]) };
    if (url.searchParams.get("echo") === "1") answerBody.authorization = req.headers["authorization"] ?? null;
    return send(res, Number(status[1]), answerBody, { "Retry-After": "7", "X-Fake": "status" });
  }
  const delay = /^\/api\/delay\/(\d+)$/.exec(url.pathname);
  if (delay) {
    const ms = Math.min(Number(delay[1]), 60_000);
    const timer = setTimeout(() => send(res, 200, { delayedMs: ms }), ms);
    // A client that gave up (its timeout) ends the wait, so the fake exits promptly.
    res.on("close", () => clearTimeout(timer));
    return;
  }
  const page = /^\/api\/pages\/(\d+)$/.exec(url.pathname);
  if (page) {
    const n = Number(page[1]);
    return send(res, 200, [n], n < 3 ? { Link: `</api/pages/${n + 1}>; rel="next"` } : {});
  }
  if (url.pathname === "/api/redirect") {
    res.writeHead(302, { Location: url.searchParams.get("to") ?? "/api/whoami", "Content-Length": 0 });
    return void res.end();
  }
  send(res, 404, { error: { code: "NotFound", message: "Not found" } });
}

function answer(req: IncomingMessage, res: ServerResponse, body: string): void {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  if (logFile) {
    appendFileSync(
      logFile,
      JSON.stringify({
        method: req.method,
        path: url.pathname,
        query: url.search,
        metadata: req.headers["metadata"] ?? null,
        contentType: req.headers["content-type"] ?? null,
        body,
      }) + "\n",
    );
  }
  if (url.pathname.startsWith("/api/")) return api(req, res, url, body);
  if (url.pathname !== "/oauth2/token") return send(res, 404, { error: { code: "NotFound", message: "Not found" } });
  if (req.headers["metadata"] !== "true") {
    return send(res, 400, { error: { code: "BadRequest", message: "Required metadata header not specified" } });
  }
  let resource: string | null;
  if (req.method === "POST") resource = new URLSearchParams(body).get("resource");
  else if (req.method === "GET") resource = url.searchParams.get("resource");
  else return send(res, 405, { error: { code: "MethodNotAllowed", message: "Use GET or POST" } });
  if (!resource) return send(res, 400, { error: { code: "BadRequest", message: "resource is required" } });
  if (resource.startsWith("https://refused.")) {
    return send(res, 400, {
      error: { code: "AudienceNotSupported", message: `Audience ${resource} is not a supported MSI token audience. Supported audiences: https://management.azure.com/.` },
    });
  }
  const now = Math.floor(Date.now() / 1000);
  let entry = issued.get(resource);
  if (!entry || entry.expiresOn - now < 300) {
    const expiresOn = now + LIFETIME_SEC;
    const notBefore = now - 5;
    const token = resource.includes("comma")
      ? `cs_${randomBytes(12).toString("hex")},${randomBytes(12).toString("hex")}`
      : resource.includes("opaque")
        ? `cs_${randomBytes(24).toString("hex")}`
        : jwt(resource, notBefore, expiresOn);
    entry = { token, expiresOn, notBefore };
    issued.set(resource, entry);
  }
  send(res, 200, {
    access_token: entry.token,
    refresh_token: "",
    expires_in: String(entry.expiresOn - now),
    expires_on: String(entry.expiresOn),
    not_before: String(entry.notBefore),
    resource,
    token_type: "Bearer",
  });
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => answer(req, res, Buffer.concat(chunks).toString("utf8")));
});
server.keepAliveTimeout = 1000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}`;
  process.stdout.write(JSON.stringify({ url, port, msiEndpoint: `${url}/oauth2/token`, appId: APP_ID }) + "\n");
});
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
