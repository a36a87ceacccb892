/**
 * Fake Azure Arc agent (spec §4.6, checklist 34–39): the first `GET` (with
 * `Metadata: true`, no `Authorization`) gets 401 with
 * `WWW-Authenticate: Basic realm=<key file>`; a repeat with
 * `Authorization: Basic <file contents>` gets the token. The key file is
 * written to a temp tokens folder (the client is pointed there with
 * `AZMI_ARC_TOKENS_DIR`) or to `tokensDir` when given. Accepts api-version
 * 2019-11-01 and 2020-06-01; echoes `client_id`/`object_id`/`msi_res_id`
 * unless `echo: false`.
 *
 * @example
 * ```ts
 * const arc = await startFakeArc();
 * env.set(arc.env); // IDENTITY_ENDPOINT + IMDS_ENDPOINT + AZMI_ARC_TOKENS_DIR
 * await arc.close(); // also removes the key file
 * ```
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { json, scripted, type Fake, type FakeOptions } from "./common";
import { startRawServer, type LoggedRequest } from "./rawServer";
import { fakeSecret, fakeToken, tokenBody } from "./tokens";

export interface FakeArcOptions extends FakeOptions {
  /** Folder for the key file (default: a new temp folder). */
  tokensDir?: string;
  /** Realm to announce instead of the key file's path (tests of the file rules). */
  realm?: string;
  /** Echo the requested user-assigned id back (default true); a string echoes that instead. */
  echo?: boolean | string;
  /** Field an echo is written under, per request parameter (default: the parameter's own name), e.g. `{ msi_res_id: "mi_res_id" }`. */
  echoAs?: Partial<Record<"client_id" | "object_id" | "msi_res_id", string>>;
  /** Key file contents (default a random secret). */
  key?: string;
}

export async function startFakeArc(options: FakeArcOptions = {}): Promise<Fake & { key: string; keyFile: string; tokensDir: string }> {
  const ownDir = options.tokensDir === undefined;
  const tokensDir = options.tokensDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "azmi-arc-tokens-"));
  fs.mkdirSync(tokensDir, { recursive: true });
  const key = options.key ?? fakeSecret("arckey");
  const keyFile = path.join(tokensDir, `${fakeSecret("k").slice(0, 14)}.key`);
  fs.writeFileSync(keyFile, key, { mode: 0o600 });
  const issued: string[] = [];
  const tokenRequests: LoggedRequest[] = [];
  const server = await startRawServer((req) => {
    if (req.path !== "/metadata/identity/oauth2/token") return json(404, { error: "not_found" });
    tokenRequests.push(req);
    const s = scripted(options, req);
    if (s) return s;
    if (req.method !== "GET") return json(405, { error: "method_not_allowed" });
    if (req.header("metadata") !== "true") return json(400, { error: "invalid_request", error_description: "Metadata header required" });
    const api = req.param("api-version");
    if (api !== "2020-06-01" && api !== "2019-11-01") return json(400, { error: "invalid_request", error_description: "unsupported api-version" });
    const resource = req.param("resource");
    if (!resource) return json(400, { error: "invalid_request", error_description: "resource required" });
    const auth = req.header("authorization");
    if (auth === undefined) {
      return { status: 401, headers: { "WWW-Authenticate": `Basic realm=${options.realm ?? keyFile}`, "Content-Type": "application/json" }, body: '{"error":"unauthorized"}' };
    }
    if (auth !== `Basic ${key}`) return json(401, { error: "unauthorized", error_description: "bad key" });
    const token = options.token ?? fakeToken();
    issued.push(token);
    const extra: Record<string, unknown> = {};
    for (const p of ["client_id", "object_id", "msi_res_id"]) {
      const v = req.param(p);
      if (v && options.echo !== false) extra[options.echoAs?.[p as "client_id"] ?? p] = typeof options.echo === "string" ? options.echo : v;
    }
    return json(200, tokenBody({ token, resource, lifetimeSec: options.lifetimeSec, extra }));
  });
  return {
    ...server,
    key,
    keyFile,
    tokensDir,
    env: {
      IDENTITY_ENDPOINT: `${server.url}/metadata/identity/oauth2/token`,
      IMDS_ENDPOINT: server.url,
      AZMI_ARC_TOKENS_DIR: tokensDir,
    },
    issued,
    tokenRequests: () => tokenRequests,
    close: async () => {
      await server.close();
      fs.rmSync(keyFile, { force: true });
      if (ownDir) fs.rmSync(tokensDir, { recursive: true, force: true });
    },
  };
}
