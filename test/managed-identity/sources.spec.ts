/**
 * Wire shape of every source against its fake (checklist 16–19, 26, 30–32,
 * 34, 36–40, 44, 45) and source precedence.
 */
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ManagedIdentityCredential } from "../../src/credentials/managedIdentityCredential";
import { detectSource } from "../../src/managed-identity/detect";
import { IMDS_DEFAULT_BASE, IMDS_DEFAULT_BASE_URL, IMDS_DEFAULT_TOKEN_URL, IMDS_TOKEN_PATH } from "../../src/managed-identity/imds";
import { parseHttpUrl, type HttpUrl } from "../../src/transport/http";
import { startFakeAppService } from "../fakes/appService";
import { startFakeArc } from "../fakes/azureArc";
import { startFakeCloudShell } from "../fakes/cloudShell";
import { startFakeImds } from "../fakes/imds";
import { startFakeMsi2017 } from "../fakes/machineLearning";
import { closedPort, startRawServer, type FakeResponse } from "../fakes/rawServer";
import { startFakeServiceFabric } from "../fakes/serviceFabric";
import { assertNoSecrets, cleanupHomes, credential, rejection, safeEnv } from "./helpers";

/** The parts of a URL the sources use, to compare a written-out or built URL with a parse. */
const urlParts = (u: HttpUrl) => ({ href: u.href, protocol: u.protocol, hostname: u.hostname, host: u.host, port: u.port, pathname: u.pathname, search: u.search });

const VAULT = "https://vault.azure.net/.default";
const CLIENT = "7a4c5b3e-1111-4222-8333-944455556666";
const OBJECT = "0b1c2d3e-aaaa-4bbb-8ccc-ddddeeeeffff";
const RESID = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1";

describe("managed-identity/sources", () => {
  after(cleanupHomes);

  describe("IMDS", () => {
    it("checklist 16/19: GET <override>/metadata/identity/oauth2/token with Metadata: true", async () => {
      const imds = await startFakeImds();
      try {
        const c = credential(safeEnv(imds.env));
        const token = await c.getToken(VAULT);
        const [req] = imds.tokenRequests();
        assert.equal(req!.method, "GET");
        assert.equal(req!.path, "/metadata/identity/oauth2/token");
        assert.equal(req!.rawQuery, "api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net");
        assert.equal(req!.header("metadata"), "true");
        assert.equal(req!.header("x-forwarded-for"), undefined);
        assert.equal(token.token, imds.issued[0]);
        assert.equal(token.resource, "https://vault.azure.net");
        assert.equal(c.describe(), `IMDS at 127.0.0.1:${imds.port}`);
      } finally {
        await imds.close();
      }
    });

    it("checklist 17: client_id / object_id / msi_res_id", async () => {
      const imds = await startFakeImds({ identities: [{ clientId: CLIENT, objectId: OBJECT, resourceId: RESID }] });
      try {
        await credential(safeEnv(imds.env), { clientId: CLIENT }).getToken(VAULT);
        await credential(safeEnv(imds.env), { objectId: OBJECT }).getToken(VAULT);
        await credential(safeEnv(imds.env), { resourceId: RESID }).getToken(VAULT);
        const q = imds.tokenRequests().map((r) => r.rawQuery.split("&").slice(2).join("&"));
        assert.deepEqual(q, [`client_id=${CLIENT}`, `object_id=${OBJECT}`, `msi_res_id=${encodeURIComponent(RESID)}`]);
      } finally {
        await imds.close();
      }
    });

    it("constructor form (clientId, options) like @azure/identity", async () => {
      const imds = await startFakeImds({ identities: [{ clientId: CLIENT }] });
      try {
        await new ManagedIdentityCredential(CLIENT, { env: safeEnv(imds.env) }).getToken(VAULT);
        assert.equal(imds.tokenRequests()[0]!.param("client_id"), CLIENT);
      } finally {
        await imds.close();
      }
    });

    /** The token URL an IMDS override gives (false when another source was chosen). */
    const imdsHrefFor = (override: string): string | false => {
      const s = detectSource(safeEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: override }));
      return s.kind === "imds" && s.url.href;
    };

    it("IMDS's own base and token URLs, written out ahead (no variable set), are exactly what parsing them gives", () => {
      assert.deepEqual(urlParts(IMDS_DEFAULT_BASE_URL), urlParts(new URL(IMDS_DEFAULT_BASE)));
      assert.deepEqual(urlParts(IMDS_DEFAULT_TOKEN_URL), urlParts(new URL(IMDS_DEFAULT_BASE + IMDS_TOKEN_PATH)));
      assert.deepEqual(urlParts(IMDS_DEFAULT_TOKEN_URL), urlParts(parseHttpUrl(IMDS_DEFAULT_BASE + IMDS_TOKEN_PATH)));
      const d = detectSource({});
      assert.ok(d.kind === "imds" && d.url === IMDS_DEFAULT_TOKEN_URL && d.endpoint === "169.254.169.254:80");
      assert.ok(Object.isFrozen(IMDS_DEFAULT_BASE_URL) && Object.isFrozen(IMDS_DEFAULT_TOKEN_URL), "shared by every credential: nobody may edit them");
    });

    it("the token URL's parts are those a parse of its href gives, however the override is written", () => {
      for (const override of [
        "http://127.0.0.1:4000", "http://127.0.0.1:4000/", "http://127.0.0.1:4000/p//", "http://localhost:4000/a/b",
        "HTTP://LOCALHOST:4000/", "http://[::1]:4000", "http://127.0.0.1:80/x", "https://127.0.0.1:4443/", "http://127.0.0.1:4000/%7Ex",
      ]) {
        const s = detectSource(safeEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: override }));
        assert.ok(s.kind === "imds", override);
        assert.deepEqual(urlParts(s.url), urlParts(parseHttpUrl(s.url.href)), override);
        assert.ok(s.url.pathname.endsWith("/metadata/identity/oauth2/token") && !s.url.pathname.includes("//"), override);
      }
    });

    it("an override with a trailing slash or path prefix keeps one slash", () => {
      assert.equal(imdsHrefFor("http://127.0.0.1:4000/"), "http://127.0.0.1:4000/metadata/identity/oauth2/token");
      const d = detectSource({});
      assert.equal(d.kind === "imds" && d.url.href, "http://169.254.169.254/metadata/identity/oauth2/token");
    });

    it("a prefix that only resembles the token path is kept (only one ending with the whole path is refused)", () => {
      for (const [value, href] of [
        ["http://127.0.0.1:4000/metadata/identity/oauth2/tokens", "http://127.0.0.1:4000/metadata/identity/oauth2/tokens/metadata/identity/oauth2/token"],
        ["http://127.0.0.1:4000/xmetadata/identity/oauth2/token", "http://127.0.0.1:4000/xmetadata/identity/oauth2/token/metadata/identity/oauth2/token"],
        ["http://127.0.0.1:4000/metadata/identity/oauth2/token/x", "http://127.0.0.1:4000/metadata/identity/oauth2/token/x/metadata/identity/oauth2/token"],
      ]) {
        assert.equal(imdsHrefFor(value!), href, value);
      }
    });

    it("an override with a query or a fragment still gets the token path after its own path (it went into the query or the fragment)", () => {
      for (const [value, href] of [
        ["http://127.0.0.1:4000?x=1", "http://127.0.0.1:4000/metadata/identity/oauth2/token?x=1"],
        ["http://127.0.0.1:4000/p/?x=1#f", "http://127.0.0.1:4000/p/metadata/identity/oauth2/token?x=1"],
        ["http://127.0.0.1:4000#f", "http://127.0.0.1:4000/metadata/identity/oauth2/token"],
      ]) {
        assert.equal(imdsHrefFor(value!), href, value);
      }
    });
  });

  describe("App Service 2019", () => {
    it("checklist 26: GET IDENTITY_ENDPOINT?api-version=2019-08-01&resource=… with X-IDENTITY-HEADER, no Metadata", async () => {
      const app = await startFakeAppService();
      try {
        const c = credential(safeEnv(app.env));
        const token = await c.getToken(VAULT);
        const [req] = app.tokenRequests();
        assert.equal(req!.method, "GET");
        assert.equal(req!.path, "/MSI/token");
        assert.equal(req!.rawQuery, "api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net");
        assert.equal(req!.header("x-identity-header"), app.secret);
        assert.equal(req!.header("metadata"), undefined);
        assert.equal(token.token, app.issued[0]);
        assert.equal(token.clientId, "5e29463d-0000-4000-8000-00000000a000");
        assert.equal(c.describe(), `App Service at 127.0.0.1:${app.port}`);
        assert.ok(!c.describe().includes(app.secret));
      } finally {
        await app.close();
      }
    });

    it("user-assigned: client_id / principal_id / mi_res_id", async () => {
      const app = await startFakeAppService();
      try {
        await credential(safeEnv(app.env), { clientId: CLIENT }).getToken(VAULT);
        await credential(safeEnv(app.env), { objectId: OBJECT }).getToken(VAULT);
        await credential(safeEnv(app.env), { resourceId: RESID }).getToken(VAULT);
        const q = app.tokenRequests().map((r) => r.rawQuery.split("&").slice(2).join("&"));
        assert.deepEqual(q, [`client_id=${CLIENT}`, `principal_id=${OBJECT}`, `mi_res_id=${encodeURIComponent(RESID)}`]);
      } finally {
        await app.close();
      }
    });

    it("keeps a query already in IDENTITY_ENDPOINT", async () => {
      const app = await startFakeAppService();
      try {
        await credential(safeEnv({ ...app.env, IDENTITY_ENDPOINT: `${app.url}/MSI/token?x=1` })).getToken(VAULT);
        assert.equal(app.tokenRequests()[0]!.rawQuery, "x=1&api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net");
      } finally {
        await app.close();
      }
    });

    it("a #fragment in IDENTITY_ENDPOINT is dropped, not the resource and api-version appended after it", async () => {
      const app = await startFakeAppService();
      try {
        await credential(safeEnv({ ...app.env, IDENTITY_ENDPOINT: `${app.url}/MSI/token?x=1#frag` })).getToken(VAULT);
        await credential(safeEnv({ ...app.env, IDENTITY_ENDPOINT: `${app.url}/MSI/token#frag` })).getToken(VAULT);
        assert.deepEqual(app.tokenRequests().map((r) => r.rawQuery), [
          "x=1&api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net",
          "api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net",
        ]);
      } finally {
        await app.close();
      }
    });
  });

  describe("Machine Learning / App Service 2017", () => {
    it("checklist 30: GET …?api-version=2017-09-01&resource=…&clientid=… with secret and Metadata", async () => {
      const ml = await startFakeMsi2017();
      try {
        const token = await credential(safeEnv(ml.env), { clientId: CLIENT }).getToken(VAULT);
        const [req] = ml.tokenRequests();
        assert.equal(req!.path, "/MSI/token/");
        assert.equal(req!.rawQuery, `api-version=2017-09-01&resource=https%3A%2F%2Fvault.azure.net&clientid=${CLIENT}`);
        assert.equal(req!.header("secret"), ml.secret);
        assert.equal(req!.header("metadata"), "true");
        assert.equal(token.token, ml.issued[0]);
        // The fake answers with the Windows date format; the token is valid for ~1 h, not "expired now".
        assert.ok(token.expiresOnTimestamp > Date.now() + 50 * 60_000);
      } finally {
        await ml.close();
      }
    });

    it("system-assigned sends clientid=DEFAULT_IDENTITY_CLIENT_ID when set, nothing otherwise", async () => {
      const ml = await startFakeMsi2017({ expiresOnFormat: "linux" });
      try {
        await credential(safeEnv({ ...ml.env, DEFAULT_IDENTITY_CLIENT_ID: OBJECT })).getToken(VAULT);
        await credential(safeEnv(ml.env)).getToken(VAULT);
        assert.equal(ml.tokenRequests()[0]!.param("clientid"), OBJECT);
        assert.equal(ml.tokenRequests()[1]!.param("clientid"), undefined);
      } finally {
        await ml.close();
      }
    });

    it("objectId/resourceId are refused before any request", async () => {
      const ml = await startFakeMsi2017();
      try {
        const err = await rejection(credential(safeEnv(ml.env), { objectId: OBJECT }).getToken(VAULT));
        assert.equal(err.name, "CredentialUnavailableError");
        assert.equal(err.code, "ERR_MI_UNSUPPORTED_SELECTOR");
        assert.match(err.message, /Only client id is supported/);
        assert.equal(ml.requests.length, 0);
      } finally {
        await ml.close();
      }
    });
  });

  describe("Cloud Shell", () => {
    it("checklist 31: POST, form body resource=…, Metadata, no query", async () => {
      const shell = await startFakeCloudShell();
      try {
        const c = credential(safeEnv(shell.env));
        const token = await c.getToken("https://management.azure.com/.default");
        const [req] = shell.tokenRequests();
        assert.equal(req!.method, "POST");
        assert.equal(req!.target, "/oauth2/token");
        assert.equal(req!.body, "resource=https%3A%2F%2Fmanagement.azure.com");
        assert.equal(req!.header("metadata"), "true");
        assert.equal(req!.header("content-type"), "application/x-www-form-urlencoded");
        assert.equal(token.token, shell.issued[0]);
        assert.equal(c.describe(), `Cloud Shell at 127.0.0.1:${shell.port}`);
      } finally {
        await shell.close();
      }
    });

    it("checklist 32: a user-assigned id fails before any request", async () => {
      const shell = await startFakeCloudShell();
      try {
        for (const sel of [{ clientId: CLIENT }, { objectId: OBJECT }, { resourceId: RESID }]) {
          const err = await rejection(credential(safeEnv(shell.env), sel).getToken(VAULT));
          assert.equal(err.name, "CredentialUnavailableError");
          assert.equal(err.code, "ERR_MI_UNSUPPORTED_SELECTOR");
          assert.match(err.message, /not supported for CloudShell/);
        }
        assert.equal(shell.requests.length, 0);
      } finally {
        await shell.close();
      }
    });

    it("AudienceNotSupported (nested error) stops with AuthenticationError naming the code", async () => {
      const shell = await startFakeCloudShell({ refuse: ["https://nope.example"] });
      try {
        const err = await rejection(credential(safeEnv(shell.env)).getToken("https://nope.example/.default"));
        assert.equal(err.name, "AuthenticationError");
        assert.equal(err.statusCode, 400);
        assert.match(err.message, /Cloud Shell at 127\.0\.0\.1:\d+ refused the token request with 400: AudienceNotSupported "Audience https:\/\/nope\.example/);
      } finally {
        await shell.close();
      }
    });
  });

  describe("Azure Arc", () => {
    it("checklist 34/36: first GET without Authorization, then Basic <key file contents>", async () => {
      const arc = await startFakeArc();
      try {
        const c = credential(safeEnv(arc.env));
        const token = await c.getToken(VAULT);
        const [first, second] = arc.tokenRequests();
        assert.equal(first!.rawQuery, "api-version=2020-06-01&resource=https%3A%2F%2Fvault.azure.net");
        assert.equal(first!.header("metadata"), "true");
        assert.equal(first!.header("authorization"), undefined);
        assert.equal(second!.rawQuery, first!.rawQuery);
        assert.equal(second!.header("authorization"), `Basic ${arc.key}`);
        assert.equal(second!.header("metadata"), "true");
        assert.equal(token.token, arc.issued[0]);
        assert.equal(c.describe(), `Azure Arc at 127.0.0.1:${arc.port}`);
      } finally {
        await arc.close();
      }
    });

    it("checklist 37: a realm outside the tokens folder is refused (no second request, key not read)", async () => {
      const outside = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-arc-outside-"));
      const evil = path.join(outside, "evil.key");
      fs.writeFileSync(evil, "sec_outside_should_never_be_sent");
      const arc = await startFakeArc({ realm: evil });
      try {
        const err = await rejection(credential(safeEnv(arc.env)).getToken(VAULT));
        assert.equal(err.name, "AuthenticationError");
        assert.equal(err.code, "ERR_MI_ARC_CHALLENGE");
        assert.equal(err.message, `ManagedIdentityCredential: Azure Arc at 127.0.0.1:${arc.port} named a key file outside ${arc.tokensDir} (${JSON.stringify(evil)}); refusing to read it. If it is azmi serve with AZMI_ARC_TOKENS_DIR set, set the same folder here (azmi env --dialect arc prints it).`);
        assert.equal(arc.tokenRequests().length, 1);
      } finally {
        await arc.close();
        fs.rmSync(outside, { recursive: true, force: true });
      }
    });

    it("checklist 36: wrong extension, too large, symlink escape, missing header are refused", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-arc-rules-"));
      const outside = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-arc-outside-"));
      fs.writeFileSync(path.join(dir, "k.txt"), "x");
      fs.writeFileSync(path.join(dir, "big.key"), "x".repeat(4097));
      fs.writeFileSync(path.join(outside, "target.key"), "sec_symlink_target_never_sent");
      fs.symlinkSync(path.join(outside, "target.key"), path.join(dir, "link.key"));
      const cases: Array<[string | undefined, RegExp]> = [
        [path.join(dir, "k.txt"), /without the \.key extension/],
        [path.join(dir, "big.key"), /4097 bytes, more than the 4096/],
        [path.join(dir, "link.key"), /links outside/],
        [path.join(dir, "missing.key"), /cannot be read .*ENOENT/],
      ];
      try {
        for (const [realm, pattern] of cases) {
          const arc = await startFakeArc({ tokensDir: dir, realm });
          try {
            const err = await rejection(credential(safeEnv(arc.env)).getToken(VAULT));
            assert.equal(err.code, "ERR_MI_ARC_CHALLENGE", err.message);
            assert.match(err.message, pattern);
            assert.equal(arc.tokenRequests().length, 1);
          } finally {
            await arc.close();
          }
        }
        const noHeader = await startFakeArc({ faults: [{ status: 401, body: "" }] });
        try {
          const err = await rejection(credential(safeEnv(noHeader.env)).getToken(VAULT));
          assert.equal(err.code, "ERR_MI_ARC_CHALLENGE");
          assert.match(err.message, /without a WWW-Authenticate header/);
        } finally {
          await noHeader.close();
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
        fs.rmSync(outside, { recursive: true, force: true });
      }
    });

    it("a tokens folder any user can write to (no sticky bit) is refused; with the sticky bit (as /tmp) it is used; a hard link or a FIFO named as the key is refused", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-arc-open-"));
      try {
        fs.chmodSync(dir, 0o777);
        const open = await startFakeArc({ tokensDir: dir });
        try {
          const err = await rejection(credential(safeEnv(open.env)).getToken(VAULT));
          assert.equal(err.code, "ERR_MI_ARC_CHALLENGE", err.message);
          assert.equal(
            err.message,
            `ManagedIdentityCredential: Azure Arc at 127.0.0.1:${open.port} asked for a key file in ${dir}, a folder any user can write to (mode 777); refusing to read keys from it. Remove others' write access (chmod o-w), or point AZMI_ARC_TOKENS_DIR at the agent's own folder.`,
          );
          assert.equal(open.tokenRequests().length, 1, "the key was not sent");
        } finally {
          await open.close();
        }
        fs.chmodSync(dir, 0o1777);
        const sticky = await startFakeArc({ tokensDir: dir });
        try {
          const token = await credential(safeEnv(sticky.env)).getToken(VAULT);
          assert.ok(token.token);
        } finally {
          await sticky.close();
        }
        fs.chmodSync(dir, 0o700);
        // A hard link planted in the folder to another file of ours passes every path check: refused by its link count.
        const outside = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-arc-secret-"));
        try {
          const secretFile = path.join(outside, "app.secret");
          fs.writeFileSync(secretFile, "sec_hardlinked_file_never_sent");
          fs.linkSync(secretFile, path.join(dir, "linked.key"));
          const linked = await startFakeArc({ tokensDir: dir, realm: path.join(dir, "linked.key") });
          try {
            const err = await rejection(credential(safeEnv(linked.env)).getToken(VAULT));
            assert.match(err.message, /named a key file with 2 names \(a hard link: .*\); an Arc key file has one, refusing to read it\.$/);
            assert.equal(linked.tokenRequests().length, 1, "nothing was sent");
            assertNoSecrets(err, ["sec_hardlinked_file_never_sent"]);
          } finally {
            await linked.close();
          }
        } finally {
          fs.rmSync(outside, { recursive: true, force: true });
        }
        const fifo = path.join(dir, "pipe.key");
        execFileSync("mkfifo", [fifo]);
        const piped = await startFakeArc({ tokensDir: dir, realm: fifo });
        try {
          const err = await rejection(credential(safeEnv(piped.env)).getToken(VAULT));
          assert.match(err.message, /named a key path that is not a regular file/);
        } finally {
          await piped.close();
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("checklist 39: user-assigned must be echoed (case-insensitive)", async () => {
      const ok = await startFakeArc({ echo: CLIENT.toUpperCase() });
      const bad = await startFakeArc({ echo: false });
      try {
        await credential(safeEnv(ok.env), { clientId: CLIENT }).getToken(VAULT);
        assert.equal(ok.tokenRequests()[0]!.param("client_id"), CLIENT);
        const err = await rejection(credential(safeEnv(bad.env), { resourceId: RESID }).getToken(VAULT));
        assert.equal(err.name, "AuthenticationError");
        assert.equal(err.code, "ERR_MI_IDENTITY_NOT_CONFIRMED");
        assert.match(err.message, /msi_res_id not echoed/);
        assertNoSecrets(err, [...bad.issued, bad.key]);
      } finally {
        await ok.close();
        await bad.close();
      }
    });

    it("checklist 39: a resourceId echoed as mi_res_id (App Service's spelling) confirms the identity, as MSAL JS accepts", async () => {
      const arc = await startFakeArc({ echoAs: { msi_res_id: "mi_res_id" } });
      try {
        const token = await credential(safeEnv(arc.env), { resourceId: RESID }).getToken(VAULT);
        assert.equal(token.token, arc.issued[0]);
        assert.equal(arc.tokenRequests()[1]!.param("msi_res_id"), RESID);
      } finally {
        await arc.close();
      }
    });

    it("checklist 36: a key file of exactly 4096 bytes (the limit) is read and sent", async () => {
      const key = "k".repeat(4096);
      const arc = await startFakeArc({ key });
      try {
        const token = await credential(safeEnv(arc.env)).getToken(VAULT);
        assert.equal(token.token, arc.issued[0]);
        assert.equal(arc.tokenRequests()[1]!.header("authorization"), `Basic ${key}`);
      } finally {
        await arc.close();
      }
    });

    it("checklist 37: the key file must be directly in the tokens folder: a subfolder, or a sibling whose name starts with the folder's, is outside", async () => {
      const parent = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-arc-prefix-"));
      const dir = path.join(parent, "tokens");
      const sub = path.join(dir, "sub");
      const sibling = path.join(parent, "tokens2");
      fs.mkdirSync(sub, { recursive: true });
      fs.mkdirSync(sibling);
      const realms = [path.join(sub, "nested.key"), path.join(sibling, "evil.key")];
      for (const r of realms) fs.writeFileSync(r, "sec_prefix_should_never_be_sent");
      try {
        for (const realm of realms) {
          const arc = await startFakeArc({ tokensDir: dir, realm });
          try {
            const err = await rejection(credential(safeEnv(arc.env)).getToken(VAULT));
            assert.equal(err.code, "ERR_MI_ARC_CHALLENGE", err.message);
            assert.equal(err.message, `ManagedIdentityCredential: Azure Arc at 127.0.0.1:${arc.port} named a key file outside ${dir} (${JSON.stringify(realm)}); refusing to read it. If it is azmi serve with AZMI_ARC_TOKENS_DIR set, set the same folder here (azmi env --dialect arc prints it).`);
            assert.equal(arc.tokenRequests().length, 1);
          } finally {
            await arc.close();
          }
        }
      } finally {
        fs.rmSync(parent, { recursive: true, force: true });
      }
    });

    it("checklist 36: a WWW-Authenticate that is not 'Basic realm=<file>' is refused, and the key file it names is not sent", async () => {
      const faults: FakeResponse[] = [];
      const arc = await startFakeArc({ faults });
      try {
        for (const scheme of ["Bearer", "Digest"]) {
          faults.push({ status: 401, headers: { "WWW-Authenticate": `${scheme} realm=${arc.keyFile}`, "Content-Type": "application/json" }, body: '{"error":"unauthorized"}' });
          const before = arc.tokenRequests().length;
          const err = await rejection(credential(safeEnv(arc.env)).getToken(VAULT));
          assert.equal(err.code, "ERR_MI_ARC_CHALLENGE", err.message);
          assert.match(err.message, /answered 401 with a WWW-Authenticate header that is not 'Basic realm=<key file>'/);
          assert.equal(arc.tokenRequests().length, before + 1, `${scheme}: no second request`);
          assertNoSecrets(err, [arc.key]);
        }
      } finally {
        await arc.close();
      }
    });

    it("checklist 36: the challenge is answered once; a second 401 stops with AuthenticationError", async () => {
      const arc = await startFakeArc();
      try {
        fs.writeFileSync(arc.keyFile, "arckey_not_the_one_the_agent_expects");
        const err = await rejection(credential(safeEnv(arc.env)).getToken(VAULT));
        assert.equal(err.name, "AuthenticationError");
        assert.equal(err.statusCode, 401);
        assert.equal(arc.tokenRequests().length, 2);
        assertNoSecrets(err, ["arckey_not_the_one_the_agent_expects", arc.key]);
      } finally {
        await arc.close();
      }
    });

    it("a key file ending in a line break is sent without it; other control characters are refused", async () => {
      const arc = await startFakeArc();
      try {
        fs.writeFileSync(arc.keyFile, `${arc.key}\n`);
        await credential(safeEnv(arc.env)).getToken(VAULT);
        assert.equal(arc.tokenRequests()[1]!.header("authorization"), `Basic ${arc.key}`);
        fs.writeFileSync(arc.keyFile, `${arc.key}\u0007`);
        const err = await rejection(credential(safeEnv(arc.env)).getToken(VAULT));
        assert.equal(err.code, "ERR_MI_ARC_CHALLENGE");
        assert.match(err.message, /whose contents an HTTP header cannot carry/);
        assertNoSecrets(err, [arc.key]);
      } finally {
        await arc.close();
      }
    });

    it("checklist 38: an IDENTITY_ENDPOINT at localhost is contacted at 127.0.0.1", async () => {
      const arc = await startFakeArc();
      try {
        const env = safeEnv({ ...arc.env, IDENTITY_ENDPOINT: `http://localhost:${arc.port}/metadata/identity/oauth2/token` });
        const t = await credential(env).getToken(VAULT);
        assert.equal(t.token, arc.issued[0]);
        assert.equal(arc.tokenRequests()[0]!.header("host"), `localhost:${arc.port}`);
      } finally {
        await arc.close();
      }
    });

    it("is detected from the agent file when the env pair is absent", () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-himds-"));
      try {
        fs.writeFileSync(path.join(dir, "himds"), "");
        const s = detectSource(safeEnv({ AZMI_ARC_HIMDS_PATH: path.join(dir, "himds") }));
        assert.equal(s.kind, "azure-arc");
        assert.equal(s.kind === "azure-arc" && s.url.href, "http://127.0.0.1:40342/metadata/identity/oauth2/token");
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("an agent path that cannot be looked at (under a file, with a NUL byte) is no agent: IMDS, never an exception", () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-himds-"));
      try {
        fs.writeFileSync(path.join(dir, "file"), "");
        for (const himds of [path.join(dir, "file", "himds"), `${dir}/hi\u0000mds`, path.join(dir, "missing")]) {
          assert.equal(detectSource(safeEnv({ AZMI_ARC_HIMDS_PATH: himds })).kind, "imds", JSON.stringify(himds));
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("Service Fabric", () => {
    it("checklist 40/41: GET ?api-version=2019-07-01-preview with secret over TLS pinned to the thumbprint", async () => {
      const sf = await startFakeServiceFabric();
      try {
        const c = credential(safeEnv(sf.env));
        const token = await c.getToken(VAULT);
        const [req] = sf.tokenRequests();
        assert.equal(req!.rawQuery, "api-version=2019-07-01-preview&resource=https%3A%2F%2Fvault.azure.net");
        assert.equal(req!.header("secret"), sf.secret);
        assert.equal(token.token, sf.issued[0]);
        assert.equal(c.describe(), `Service Fabric at 127.0.0.1:${sf.port}`);
      } finally {
        await sf.close();
      }
    });

    it("checklist 41: a certificate with another thumbprint gets no request (AuthenticationError)", async () => {
      const sf = await startFakeServiceFabric();
      try {
        const err = await rejection(credential(safeEnv({ ...sf.env, IDENTITY_SERVER_THUMBPRINT: "00".repeat(20) })).getToken(VAULT));
        assert.equal(err.name, "AuthenticationError");
        assert.equal(err.code, "ERR_TLS_THUMBPRINT_MISMATCH");
        assert.equal(sf.tokenRequests().length, 0);
        assertNoSecrets(err, [sf.secret]);
      } finally {
        await sf.close();
      }
    });

    it("SecretHeaderNotFound stops with AuthenticationError; UAMI refused before any request", async () => {
      const sf = await startFakeServiceFabric({ faults: [{ status: 401, headers: { "Content-Type": "application/json" }, body: '{"error":{"correlationId":"c","code":"SecretHeaderNotFound","message":"Secret is not found in the request headers."}}' }] });
      try {
        const err = await rejection(credential(safeEnv(sf.env)).getToken(VAULT));
        assert.equal(err.name, "AuthenticationError");
        assert.equal(err.statusCode, 401);
        assert.match(err.message, /refused the token request with 401: SecretHeaderNotFound "Secret is not found in the request headers\."/);
        const uami = await rejection(credential(safeEnv(sf.env), { clientId: CLIENT }).getToken(VAULT));
        assert.equal(uami.code, "ERR_MI_UNSUPPORTED_SELECTOR");
        assert.equal(sf.tokenRequests().length, 1);
      } finally {
        await sf.close();
      }
    });
  });

  describe("precedence (checklist 44/45)", () => {
    const all = {
      IDENTITY_ENDPOINT: "http://127.0.0.1:1/a",
      IDENTITY_HEADER: "h_0123456789",
      IDENTITY_SERVER_THUMBPRINT: "AB".repeat(20),
      MSI_ENDPOINT: "http://127.0.0.1:1/b",
      MSI_SECRET: "s_0123456789",
      IMDS_ENDPOINT: "http://127.0.0.1:1",
    };
    it("SF > App Service > ML > Cloud Shell > Arc > IMDS", () => {
      const order: Array<[Record<string, string | undefined>, string]> = [
        [all, "service-fabric"],
        [{ ...all, IDENTITY_SERVER_THUMBPRINT: undefined }, "app-service"],
        [{ ...all, IDENTITY_SERVER_THUMBPRINT: undefined, IDENTITY_HEADER: undefined }, "machine-learning"],
        [{ MSI_ENDPOINT: all.MSI_ENDPOINT, IDENTITY_ENDPOINT: all.IDENTITY_ENDPOINT, IMDS_ENDPOINT: all.IMDS_ENDPOINT }, "cloud-shell"],
        [{ IDENTITY_ENDPOINT: all.IDENTITY_ENDPOINT, IMDS_ENDPOINT: all.IMDS_ENDPOINT }, "azure-arc"],
        [{ IDENTITY_ENDPOINT: all.IDENTITY_ENDPOINT }, "imds"],
        [{ IDENTITY_ENDPOINT: "", IDENTITY_HEADER: "", MSI_ENDPOINT: "" }, "imds"],
      ];
      for (const [vars, kind] of order) assert.equal(detectSource(safeEnv(vars)).kind, kind, JSON.stringify(vars));
    });

    it("token exchange preempts every endpoint; allowTokenExchange: false disables it", async () => {
      const app = await startFakeAppService();
      const imds = await startFakeImds();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-wi-"));
      const file = path.join(dir, "token");
      fs.writeFileSync(file, "federated-assertion-value");
      const port = await closedPort();
      const env = safeEnv({
        ...app.env,
        ...imds.env,
        AZURE_CLIENT_ID: CLIENT,
        AZURE_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
        AZURE_FEDERATED_TOKEN_FILE: file,
        AZURE_AUTHORITY_HOST: `https://127.0.0.1:${port}`,
      });
      try {
        const c = credential(env, { timeBudgetMs: 1000 });
        assert.equal(c.describe(), `token exchange (workload identity) for client ${CLIENT} via 127.0.0.1:${port}`);
        const err = await rejection(c.getToken(VAULT));
        assert.match(err.message, /^ManagedIdentityCredential: token exchange \(workload identity\) for client/);
        assert.equal(app.requests.length + imds.requests.length, 0);
        await credential(env, { allowTokenExchange: false }).getToken(VAULT);
        assert.equal(app.tokenRequests().length, 1);
      } finally {
        await app.close();
        await imds.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it("an unanswered token request ends at the budget, not later (no hang)", async () => {
    const server = await startRawServer(() => ({ hang: true }));
    try {
      const started = performance.now();
      const err = await rejection(credential(safeEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: server.url }), { timeBudgetMs: 300 }).getToken(VAULT));
      assert.equal(err.name, "CredentialUnavailableError");
      assert.equal(err.code, "ETIMEDOUT");
      assert.ok(performance.now() - started < 3 * 300 + 500);
    } finally {
      await server.close();
    }
  });
});
