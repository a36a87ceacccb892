/**
 * A fake Azure Cloud Shell token endpoint for the Pester suite, run as its
 * own process: `node dist/test/powershell/support/cloudShellFake.js <log>`.
 * It prints one JSON line `{"url","port","msiEndpoint"}` on stdout when it
 * listens on 127.0.0.1, appends every request it receives to `<log>` as a
 * JSON line, and exits when its stdin closes (so a test run can never leave
 * it behind).
 *
 * Follows spec §7: `POST /oauth2/token` with form body `resource=…` and
 * `Metadata: true`; also `GET /oauth2/token?resource=…` with `Metadata: true`,
 * which is what `Invoke-RestMethod "$env:MSI_ENDPOINT?resource=…"` sends.
 * Answers with string `expires_in`/`expires_on`/`not_before`,
 * `refresh_token: ""`, `token_type: "Bearer"` and the resource as asked. As
 * Cloud Shell does, it hands out the same token per resource until it
 * expires, so two clients asking in turn see the same values. Audiences
 * starting with `https://refused.` get `AudienceNotSupported`. `/api/whoami`
 * stands in for an API: it answers with the `Authorization` header it got.
 *
 * Tokens are random and not JWT-shaped, so a "never in the output" check
 * cannot pass by the redactor's JWT pattern alone.
 *
 * @example
 * ```powershell
 * $fake = Start-CloudShellFake   # test/powershell/support/Azmi.TestSupport.psm1
 * $env:MSI_ENDPOINT = $fake.msiEndpoint
 * ```
 */
import { randomBytes } from "node:crypto";
import { appendFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

const LIFETIME_SEC = 3900;
const logFile = process.argv[2];
const issued = new Map<string, { token: string; expiresOn: number; notBefore: number }>();

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
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
  // A stand-in API for Invoke-AzManagedRestMethod: says what Authorization it got.
  if (url.pathname === "/api/whoami") return send(res, 200, { authorization: req.headers["authorization"] ?? null, method: req.method, body });
  if (url.pathname !== "/oauth2/token") return send(res, 404, { error: { code: "NotFound", message: "Not found" } });
  if (req.headers["metadata"] !== "true") {
    return send(res, 400, { error: { code: "BadRequest", message: "Required metadata header not specified" } });
  }
  let resource: string | null;
  if (req.method === "POST") resource = new URLSearchParams(body).get("resource");
  else if (req.method === "GET") resource = url.searchParams.get("resource");
  else return send(res, 405, { error: { code: "MethodNotAllowed", message: "Use POST" } });
  if (!resource) return send(res, 400, { error: { code: "BadRequest", message: "resource is required" } });
  if (resource.startsWith("https://refused.")) {
    return send(res, 400, {
      error: { code: "AudienceNotSupported", message: `Audience ${resource} is not a supported MSI token audience. Supported audiences: https://management.azure.com/.` },
    });
  }
  const now = Math.floor(Date.now() / 1000);
  let entry = issued.get(resource);
  if (!entry || entry.expiresOn - now < 300) {
    entry = { token: `cs_${randomBytes(24).toString("hex")}`, expiresOn: now + LIFETIME_SEC, notBefore: now - 5 };
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
  process.stdout.write(JSON.stringify({ url, port, msiEndpoint: `${url}/oauth2/token` }) + "\n");
});
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
