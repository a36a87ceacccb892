/**
 * A Key Vault fake over HTTPS on 127.0.0.1 for the real
 * `@azure/keyvault-secrets` SecretClient (trusted through the client's
 * `agent` option, certificate from `loopbackTls()`): `GET /secrets/{name}`.
 * A request without a bearer token gets Key Vault's 401 challenge (scope and
 * tenant); a token the test's `verdict` calls `revoked` gets a CAE claims
 * challenge (`error="insufficient_claims", claims=<base64>`), which the
 * SDK's bearer policy answers with `getToken(scopes, { claims, enableCae })`.
 *
 * @example
 * ```ts
 * const vault = await startKeyVaultFake({ tenant: entra.tenant });
 * vault.verdict = (token) => (entra.issued.includes(token) ? "ok" : "unknown");
 * const client = new SecretClient(vault.url, credential, vault.clientOptions());
 * ```
 */
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { loopbackTls } from "./entra";

/** What the vault thinks of a presented token. */
export type TokenVerdict = "ok" | "unknown" | "expired" | "revoked";

export interface KeyVaultRequest {
  path: string;
  /** The bearer token presented, "" for none. */
  token: string;
  /** "missing" when no token was presented. */
  verdict: TokenVerdict | "missing";
}

export interface KeyVaultFake {
  url: string;
  /** Decides each presented token (default: every token is unknown). */
  verdict: (token: string) => TokenVerdict;
  requests: KeyVaultRequest[];
  /** The claims (JSON) of the CAE challenge sent for a revoked token. */
  caeClaims: string;
  /** SecretClient options that trust the fake and skip the challenge's resource check. */
  clientOptions(): { agent: https.Agent; disableChallengeResourceVerification: boolean; retryOptions: { maxRetries: number } };
  close(): Promise<void>;
}

export async function startKeyVaultFake(options: { tenant: string }): Promise<KeyVaultFake> {
  const tls = loopbackTls();
  const agents: https.Agent[] = [];
  const fake: KeyVaultFake = {
    url: "",
    verdict: () => "unknown",
    requests: [],
    caeClaims: JSON.stringify({ access_token: { nbf: { essential: true, value: String(Math.floor(Date.now() / 1000)) } } }),
    clientOptions() {
      const agent = new https.Agent({ ca: tls.cert, keepAlive: false });
      agents.push(agent);
      return { agent, disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } };
    },
    close: async () => undefined,
  };
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    req.resume();
    req.on("end", () => {
      const url = new URL(req.url ?? "/", fake.url);
      const auth = req.headers.authorization ?? "";
      const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
      const verdict = token ? fake.verdict(token) : "missing";
      fake.requests.push({ path: url.pathname, token, verdict });
      if (verdict !== "ok") {
        const challenge =
          verdict === "revoked"
            ? `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="${Buffer.from(fake.caeClaims).toString("base64")}"`
            : `Bearer authorization="https://login.microsoftonline.com/${options.tenant}", resource="https://vault.azure.net"`;
        res.writeHead(401, { "www-authenticate": challenge, "content-type": "application/json" });
        return res.end(JSON.stringify({ error: { code: "Unauthorized", message: `AKV10000: token ${verdict}.` } }));
      }
      const match = /^\/secrets\/([^/]+)\/?$/.exec(url.pathname);
      if (req.method !== "GET" || !match) {
        res.writeHead(404, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: { code: "NotFound", message: "no such route" } }));
      }
      const body = JSON.stringify({
        value: `value-of-${match[1]}`,
        id: `${fake.url}/secrets/${match[1]}/0123456789abcdef0123456789abcdef`,
        attributes: { enabled: true, created: 1700000000, updated: 1700000000, recoveryLevel: "Recoverable+Purgeable" },
        tags: {},
      });
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      for (const a of agents) a.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}
