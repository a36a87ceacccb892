/**
 * Fake Service Fabric managed-identity endpoint (spec §4.7, checklist 40–43):
 * HTTPS with a self-signed certificate generated per fake (openssl), `GET
 * /metadata/identity/oauth2/token?api-version=2019-07-01-preview&resource=…`
 * with header `secret`; errors in the nested `{"error":{"correlationId","code","message"}}`
 * shape (`SecretHeaderNotFound`, `ArgumentNullOrEmpty`, `InvalidApiVersion`).
 * `env.IDENTITY_SERVER_THUMBPRINT` is the certificate's SHA-1 thumbprint.
 *
 * @example
 * ```ts
 * const sf = await startFakeServiceFabric();
 * env.set(sf.env); // IDENTITY_ENDPOINT + IDENTITY_HEADER + IDENTITY_SERVER_THUMBPRINT
 * ```
 */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { json, scripted, type Fake, type FakeOptions } from "./common";
import { startRawServer, type LoggedRequest } from "./rawServer";
import { fakeSecret, fakeToken, tokenBody } from "./tokens";

export interface SelfSignedCert {
  key: string;
  cert: string;
  /** SHA-1 thumbprint, upper-case hex without separators. */
  thumbprint: string;
  certFile: string;
}

/** A throwaway self-signed certificate for 127.0.0.1/localhost. */
export function selfSignedCert(): SelfSignedCert {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-sf-cert-"));
  const keyFile = path.join(dir, "key.pem");
  const certFile = path.join(dir, "cert.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyFile, "-out", certFile,
      "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
    { stdio: "ignore" },
  );
  const key = fs.readFileSync(keyFile, "utf8");
  const cert = fs.readFileSync(certFile, "utf8");
  fs.rmSync(keyFile);
  return { key, cert, certFile, thumbprint: new X509Certificate(cert).fingerprint.replace(/:/g, "") };
}

const sfError = (status: number, code: string, message: string) =>
  json(status, { error: { correlationId: "7f3c5a55-0000-4000-8000-000000000001", code, message } });

export interface FakeServiceFabricOptions extends FakeOptions {
  secret?: string;
  cert?: SelfSignedCert;
}

export async function startFakeServiceFabric(options: FakeServiceFabricOptions = {}): Promise<Fake & { secret: string; cert: SelfSignedCert }> {
  const secret = options.secret ?? fakeSecret("sfhdr");
  const cert = options.cert ?? selfSignedCert();
  const issued: string[] = [];
  const tokenRequests: LoggedRequest[] = [];
  const server = await startRawServer(
    (req) => {
      if (req.path !== "/metadata/identity/oauth2/token") return sfError(404, "NotFound", "Not found");
      tokenRequests.push(req);
      const s = scripted(options, req);
      if (s) return s;
      if (req.header("secret") === undefined) return sfError(401, "SecretHeaderNotFound", "Secret is not found in the request headers.");
      if (req.header("secret") !== secret) return sfError(401, "SecretHeaderMismatch", "Secret does not match.");
      const api = req.param("api-version");
      if (api !== "2019-07-01-preview" && api !== "2020-05-01") {
        return sfError(400, "InvalidApiVersion", `The api-version '${api ?? ""}' is not supported. Supported version is '2019-07-01-preview'.`);
      }
      const resource = req.param("resource");
      if (!resource) return sfError(400, "ArgumentNullOrEmpty", "The parameter 'resource' should not be null or empty string.");
      const token = options.token ?? fakeToken();
      issued.push(token);
      const body = tokenBody({ token, resource, lifetimeSec: options.lifetimeSec, expiresOnFormat: "epoch-number", includeExpiresIn: false });
      delete body.refresh_token;
      delete body.not_before;
      return json(200, body);
    },
    { tls: { key: cert.key, cert: cert.cert } },
  );
  return {
    ...server,
    secret,
    cert,
    env: {
      IDENTITY_ENDPOINT: `${server.url}/metadata/identity/oauth2/token`,
      IDENTITY_HEADER: secret,
      IDENTITY_SERVER_THUMBPRINT: cert.thumbprint,
    },
    issued,
    tokenRequests: () => tokenRequests,
  };
}
