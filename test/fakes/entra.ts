/**
 * A Microsoft Entra ID fake over HTTPS on 127.0.0.1 (spec §2.2): serves
 * `/{tenant}/v2.0/.well-known/openid-configuration` and
 * `POST /{tenant}/oauth2/v2.0/token` (client secret, client assertion —
 * certificate or federated token). It logs every request so tests can
 * assert what the client sent, and issues JWT-shaped access tokens with
 * `nbf`, `exp` and `appid` claims.
 *
 * Clients trust its self-signed certificate through `agent: fake.agent()`
 * (an `https.Agent` with the CA), passed in the credential's pipeline
 * options. The client must set `disableInstanceDiscovery: true` and
 * `authorityHost: fake.authorityHost`.
 *
 * @example
 * ```ts
 * const entra = await startEntraFake({ clients: { app: { secret: "s3cret-value" } } });
 * const cred = new ClientSecretCredential(entra.tenant, "app", "s3cret-value",
 *   { authorityHost: entra.authorityHost, disableInstanceDiscovery: true, agent: entra.agent() });
 * await entra.close();
 * ```
 */
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export interface TlsMaterial {
  /** PEM certificate (self-signed, SAN IP:127.0.0.1, DNS:localhost); also the CA to trust. */
  cert: string;
  key: string;
  /** Files holding the same, for `NODE_EXTRA_CA_CERTS` in child processes. */
  certFile: string;
  keyFile: string;
}

let tls: TlsMaterial | undefined;

/** A self-signed server certificate for 127.0.0.1, made once per process with the openssl CLI. */
export function loopbackTls(): TlsMaterial {
  if (tls) return tls;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-tls-"));
  const keyFile = path.join(dir, "key.pem");
  const certFile = path.join(dir, "cert.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=127.0.0.1",
      "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-addext", "basicConstraints=critical,CA:TRUE"],
    { stdio: "ignore" },
  );
  tls = { cert: fs.readFileSync(certFile, "utf8"), key: fs.readFileSync(keyFile, "utf8"), certFile, keyFile };
  return tls;
}

/** A client certificate + key in one PEM file (what `AZURE_CLIENT_CERTIFICATE_PATH` points at). */
export function clientCertificatePem(dir: string): { file: string; pem: string; thumbprintSha256: string } {
  const keyFile = path.join(dir, "client-key.pem");
  const certFile = path.join(dir, "client-cert.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=azmi-test-client"],
    { stdio: "ignore" },
  );
  const cert = fs.readFileSync(certFile, "utf8");
  const pem = cert + fs.readFileSync(keyFile, "utf8");
  const file = path.join(dir, "client.pem");
  fs.writeFileSync(file, pem, { mode: 0o600 });
  const der = new crypto.X509Certificate(cert).raw;
  return { file, pem, thumbprintSha256: crypto.createHash("sha256").update(der).digest("base64url") };
}

export interface FakeClient {
  /** Accept `client_secret` equal to this. */
  secret?: string;
  /** Accept `client_assertion` equal to this (a federated token). */
  federatedToken?: string;
  /** Accept any JWT `client_assertion` whose header `x5t#S256` equals this (certificate flow). */
  certificateThumbprintSha256?: string;
}

export interface EntraRequest {
  method: string;
  path: string;
  tenant: string;
  headers: Record<string, string | string[] | undefined>;
  form: Record<string, string>;
}

export interface EntraFakeOptions {
  tenant?: string;
  clients?: Record<string, FakeClient>;
  /** Lifetime of issued tokens in seconds (default 3599). */
  expiresIn?: number;
  /** `refresh_in` (seconds) in token responses, as Entra sends for long-lived tokens; none by default. */
  refreshIn?: number;
}

export interface EntraFake {
  tenant: string;
  authorityHost: string;
  ca: string;
  caFile: string;
  requests: EntraRequest[];
  /** Token requests only. */
  tokenRequests(): EntraRequest[];
  /** Access tokens issued so far. */
  issued: string[];
  /** An `https.Agent` trusting the fake's certificate. */
  agent(): https.Agent;
  close(): Promise<void>;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** A JWT-shaped access token (unsigned-looking signature; never verified by clients). */
export function fakeAccessToken(claims: Record<string, unknown>): string {
  return `${b64url({ typ: "JWT", alg: "RS256", kid: "fake" })}.${b64url(claims)}.${crypto.randomBytes(32).toString("base64url")}`;
}

export async function startEntraFake(options: EntraFakeOptions = {}): Promise<EntraFake> {
  const material = loopbackTls();
  const tenant = options.tenant ?? "72f988bf-86f1-41af-91ab-2d7cd011db47";
  const requests: EntraRequest[] = [];
  const issued: string[] = [];
  const clients = options.clients ?? {};
  let base = "";

  const server = https.createServer({ cert: material.cert, key: material.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", base);
      const segments = url.pathname.split("/").filter(Boolean);
      const reqTenant = segments[0] ?? "";
      const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString("utf8")));
      const entry: EntraRequest = { method: req.method ?? "", path: url.pathname, tenant: reqTenant, headers: req.headers, form };
      requests.push(entry);
      const send = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
        res.end(text);
      };
      if (req.method === "GET" && url.pathname === `/${reqTenant}/v2.0/.well-known/openid-configuration`) {
        return send(200, {
          token_endpoint: `${base}/${reqTenant}/oauth2/v2.0/token`,
          issuer: `${base}/${reqTenant}/v2.0`,
          authorization_endpoint: `${base}/${reqTenant}/oauth2/v2.0/authorize`,
          end_session_endpoint: `${base}/${reqTenant}/oauth2/v2.0/logout`,
          device_authorization_endpoint: `${base}/${reqTenant}/oauth2/v2.0/devicecode`,
          jwks_uri: `${base}/${reqTenant}/discovery/v2.0/keys`,
          token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
          response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
          scopes_supported: ["openid", "profile", "email", "offline_access"],
          subject_types_supported: ["pairwise"],
          id_token_signing_alg_values_supported: ["RS256"],
          claims_supported: ["sub", "iss", "aud", "exp", "iat", "nbf"],
          tenant_region_scope: "WW",
          cloud_instance_name: "microsoftonline.com",
          msgraph_host: "graph.microsoft.com",
        });
      }
      if (req.method === "POST" && url.pathname === `/${reqTenant}/oauth2/v2.0/token`) {
        const reject = (code: number, description: string) =>
          send(400, {
            error: "invalid_client",
            error_description: `AADSTS${code}: ${description} Trace ID: 00000000-0000-0000-0000-000000000000`,
            error_codes: [code],
            timestamp: new Date().toISOString(),
            trace_id: "00000000-0000-0000-0000-000000000000",
            correlation_id: form["client-request-id"] ?? "00000000-0000-0000-0000-000000000000",
          });
        if (reqTenant !== tenant) return reject(90002, `Tenant '${reqTenant}' not found.`);
        const client = clients[form.client_id ?? ""];
        if (!client) return reject(700016, `Application with identifier '${form.client_id}' was not found.`);
        let ok = false;
        if (form.client_secret !== undefined) ok = client.secret !== undefined && form.client_secret === client.secret;
        else if (form.client_assertion !== undefined) {
          if (client.federatedToken !== undefined) ok = form.client_assertion === client.federatedToken;
          else if (client.certificateThumbprintSha256 !== undefined) {
            try {
              const header = JSON.parse(Buffer.from(form.client_assertion.split(".")[0]!, "base64url").toString("utf8"));
              ok = header["x5t#S256"] === client.certificateThumbprintSha256;
            } catch {
              ok = false;
            }
          }
        }
        if (!ok) return reject(7000215, "Invalid client secret provided.");
        const now = Math.floor(Date.now() / 1000);
        const expiresIn = options.expiresIn ?? 3599;
        const scope = form.scope ?? "";
        const token = fakeAccessToken({
          aud: scope.replace(/\/\.default$/, ""),
          iss: `https://sts.windows.net/${tenant}/`,
          iat: now - 60,
          nbf: now - 60,
          exp: now + expiresIn,
          appid: form.client_id,
          tid: tenant,
          oid: crypto.randomUUID(),
        });
        issued.push(token);
        return send(200, {
          token_type: "Bearer",
          expires_in: expiresIn,
          ext_expires_in: expiresIn,
          ...(options.refreshIn !== undefined ? { refresh_in: options.refreshIn } : {}),
          access_token: token,
        });
      }
      send(404, { error: "not_found", error_description: `No route for ${req.method} ${url.pathname}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const agents: https.Agent[] = [];
  return {
    tenant,
    authorityHost: base,
    ca: material.cert,
    caFile: material.certFile,
    requests,
    issued,
    tokenRequests: () => requests.filter((r) => r.method === "POST"),
    agent() {
      const a = new https.Agent({ ca: material.cert, keepAlive: false });
      agents.push(a);
      return a;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const a of agents) a.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
