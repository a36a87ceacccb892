/**
 * The Azure CLI (Debian's azure-cli 2.45.0) logs in with `az login --identity`
 * against `azmi serve` and then gets tokens with `az account get-access-token`,
 * offline, unchanged.
 *
 * What az 2.45 does (read from its msrestazure `MSIAuthentication`, then run):
 * - `MSI_ENDPOINT` set ⇒ Cloud Shell style: `POST MSI_ENDPOINT` with a form
 *   body (`resource`, and `client_id`/`object_id`/`msi_res_id` for
 *   `--username`), `Metadata: true`.
 * - `APPSETTING_WEBSITE_SITE_NAME` + `MSI_ENDPOINT` + `MSI_SECRET` ⇒ App Service
 *   2017: `GET {MSI_ENDPOINT}/?resource=…&api-version=2017-09-01[&clientid=…]`
 *   with `secret` (note the `/` az inserts before `?`).
 * - Otherwise IMDS at the hard-coded `http://169.254.169.254` (it reads neither
 *   `AZURE_POD_IDENTITY_AUTHORITY_HOST` nor `IDENTITY_ENDPOINT`), so the IMDS
 *   and App Service 2019 dialects cannot reach a loopback server; asserted
 *   below as limitations (the Python network guard refuses the connection).
 * - After the token, login lists subscriptions at ARM. The test points the
 *   AzureCloud ARM endpoint at a loopback HTTPS fake (`clouds.config` in a
 *   private AZURE_CONFIG_DIR, CA via REQUESTS_CA_BUNDLE), which checks the
 *   bearer token against the served JWKS too.
 * - Without that (AzureCloud as shipped) login gets its token from azmi serve and
 *   then needs management.azure.com: asserted as a limitation. For users this
 *   means `az login --identity` works against `azmi serve --issuer chain`
 *   (real tokens) with ARM reachable, or with a custom cloud, not offline.
 * - On its first run in a new config folder az checks connectivity to
 *   azure.microsoft.com; a seeded `versionCheck.json` prevents that, and the
 *   guard proves nothing else leaves loopback.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { strict as assert } from "node:assert";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { describeRun, GUARD_MARKER, runClient, UAMI, useServedClients, VAULT, type ClientRun } from "./support";

const AZ = "/usr/bin/az";
/** What `az login --identity` asks for: the AzureCloud `active_directory_resource_id`. */
const AZ_LOGIN_RESOURCE = "https://management.core.windows.net/";
const SUBSCRIPTION_ID = "3c0b5a9e-7f1d-4e2a-9b6c-a2a1a2a1a2a1";

interface ArmCall {
  url: string;
  authorization?: string;
  verified?: Record<string, unknown>;
  verifyError?: string;
}

describe("clients: Azure CLI (Debian azure-cli) against azmi serve", function () {
  this.timeout(200_000); // two az runs per case, each killed after 90 s
  const h = useServedClients();
  let arm: https.Server | undefined;
  let armUrl = "";
  let caFile = "";
  let azVersion = "";
  const armCalls: ArmCall[] = [];
  let configCount = 0;

  before(async function () {
    if (!fs.existsSync(AZ)) throw new Error(`${AZ} is missing: run scripts/setup-clients.sh`);
    azVersion = execFileSync("/usr/bin/python3", ["-c", "from azure.cli.core import __version__ as v; print(v)"]).toString().trim();
    // A throwaway CA-less self-signed certificate for 127.0.0.1 (az talks to ARM over HTTPS only).
    const key = path.join(h.dir, "arm.key");
    caFile = path.join(h.dir, "arm.crt");
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", key, "-out", caFile, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
    ], { stdio: "ignore" });
    const jwks = createRemoteJWKSet(new URL(h.server.jwksUri));
    arm = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(caFile) }, (req, res) => {
      const call: ArmCall = { url: req.url ?? "", authorization: req.headers.authorization };
      armCalls.push(call);
      const token = /^Bearer (.+)$/.exec(call.authorization ?? "")?.[1];
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (!call.url.startsWith("/subscriptions?") || token === undefined) {
        answer(404, { error: { code: "NotFound", message: "fake ARM serves GET /subscriptions only" } });
        return;
      }
      jwtVerify(token, jwks, { issuer: h.server.issuer, audience: AZ_LOGIN_RESOURCE, algorithms: ["RS256"] }).then(
        ({ payload }) => {
          call.verified = payload as Record<string, unknown>;
          answer(200, {
            value: [{
              id: `/subscriptions/${SUBSCRIPTION_ID}`, subscriptionId: SUBSCRIPTION_ID, tenantId: h.server.tenantId,
              displayName: "azmi-local", state: "Enabled",
              subscriptionPolicies: { locationPlacementId: "Public_2014-09-01", quotaId: "PayAsYouGo_2014-09-01", spendingLimit: "Off" },
              authorizationSource: "RoleBased",
            }],
          });
        },
        (error: Error) => {
          call.verifyError = error.message;
          answer(401, { error: { code: "InvalidAuthenticationToken", message: error.message } });
        },
      );
    });
    await new Promise<void>((resolve) => arm!.listen(0, "127.0.0.1", resolve));
    armUrl = `https://127.0.0.1:${(arm.address() as AddressInfo).port}/`;
  });
  after(async () => {
    if (arm) await new Promise((resolve) => arm!.close(resolve));
  });
  beforeEach(() => {
    armCalls.length = 0;
  });

  /** A fresh AZURE_CONFIG_DIR: ARM → the loopback fake, telemetry off, version check already done. */
  function newConfigDir(): string {
    const dir = path.join(h.dir, `az-config-${++configCount}`);
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.writeFileSync(path.join(dir, "clouds.config"), `[AzureCloud]\nendpoint_resource_manager = ${armUrl}\n`);
    fs.writeFileSync(path.join(dir, "config"), "[core]\ncollect_telemetry = no\nonly_show_errors = yes\n\n[auto-upgrade]\nenable = no\n");
    const now = new Date().toISOString().replace("T", " ").replace("Z", "000");
    const local = { local: azVersion };
    fs.writeFileSync(path.join(dir, "versionCheck.json"), JSON.stringify({ versions: { "azure-cli": local, core: local }, update_time: now }));
    return dir;
  }

  function az(configDir: string, vars: Record<string, string>, ...args: string[]): Promise<ClientRun> {
    const env = h.env({
      ...vars,
      AZURE_CONFIG_DIR: configDir,
      AZURE_CORE_COLLECT_TELEMETRY: "no",
      AZURE_CORE_NO_COLOR: "true",
      REQUESTS_CA_BUNDLE: caFile,
    });
    return runClient(AZ, [...args, "--output", "json"], env, 90_000);
  }

  function parse(run: ClientRun): any {
    assert.equal(run.status, 0, describeRun(run));
    assert.ok(!run.stderr.includes(GUARD_MARKER), `a non-loopback connection was attempted:\n${describeRun(run)}`);
    return JSON.parse(run.stdout);
  }

  async function loginAndGetToken(vars: Record<string, string>, expected: { clientId: string; objectId?: string }, username?: string) {
    const config = newConfigDir();
    const login = await az(config, vars, "login", "--identity", ...(username ? ["--username", username] : []));
    const accounts = parse(login);
    assert.equal(accounts.length, 1, describeRun(login));
    assert.equal(accounts[0].id, SUBSCRIPTION_ID);
    assert.equal(accounts[0].tenantId, h.server.tenantId);
    assert.equal(accounts[0].user.type, "servicePrincipal");
    assert.equal(accounts[0].user.name, username ? "userAssignedIdentity" : "systemAssignedIdentity");
    // ARM got a token from azmi serve that validates against the served JWKS.
    const listed = armCalls.find((c) => c.url.startsWith("/subscriptions?"));
    assert.ok(listed?.verified, `ARM saw no valid token: ${JSON.stringify(armCalls.map((c) => ({ url: c.url, err: c.verifyError })))}`);
    assert.equal(listed.verified.appid, expected.clientId);
    assert.equal(listed.verified.tid, h.server.tenantId);

    const tokenRun = await az(config, vars, "account", "get-access-token", "--resource", VAULT);
    const token = parse(tokenRun);
    assert.equal(token.tenant, h.server.tenantId);
    assert.equal(token.subscription, SUBSCRIPTION_ID);
    assert.equal(token.tokenType, "Bearer");
    await h.expectToken({ ...tokenRun, json: { token: token.accessToken } }, { resource: VAULT, ...expected });
  }

  describe("Cloud Shell dialect (MSI_ENDPOINT)", () => {
    it("az login --identity, then az account get-access-token", async () => {
      await loginAndGetToken(h.server.dialects.cloudShell, { clientId: h.server.systemClientId });
    });
    it("limitation: --username (user-assigned) is refused, Cloud Shell has no user-assigned identities", async () => {
      const run = await az(newConfigDir(), h.server.dialects.cloudShell, "login", "--identity", "--username", UAMI.clientId);
      assert.notEqual(run.status, 0, describeRun(run));
      assert.ok(!run.stderr.includes(GUARD_MARKER), describeRun(run));
      // The server's 400 (no user-assigned identities in Cloud Shell) as az reports it.
      assert.match(run.stderr, /Failed to connect to MSI\. Please make sure MSI is configured correctly\.\s+Get Token request returned: <Response \[400\]>/, describeRun(run));
    });
  });

  describe("App Service 2017 dialect (APPSETTING_WEBSITE_SITE_NAME + MSI_ENDPOINT + MSI_SECRET)", () => {
    const vars = () => {
      const { MSI_ENDPOINT, MSI_SECRET } = h.server.dialects.machineLearning;
      return { APPSETTING_WEBSITE_SITE_NAME: "azmi-local", MSI_ENDPOINT: MSI_ENDPOINT!, MSI_SECRET: MSI_SECRET! };
    };
    // az builds `${MSI_ENDPOINT}/?resource=…`: the server accepts the 2017 path with a trailing '/' (server.ts).
    it("az login --identity, then az account get-access-token", async () => {
      await loginAndGetToken(vars(), { clientId: h.server.systemClientId });
    });
    it("az login --identity --username <client id>, then az account get-access-token", async () => {
      await loginAndGetToken(vars(), UAMI, UAMI.clientId);
    });
  });

  describe("without a reachable ARM", () => {
    it("limitation: az login --identity gets its token from azmi serve, then must list subscriptions at management.azure.com", async () => {
      const config = newConfigDir();
      fs.rmSync(path.join(config, "clouds.config")); // AzureCloud as shipped: ARM is https://management.azure.com/
      const run = await az(config, h.server.dialects.cloudShell, "login", "--identity");
      assert.notEqual(run.status, 0, describeRun(run));
      assert.match(run.stderr, new RegExp(`${GUARD_MARKER} blocked socket\\.getaddrinfo to 'management\\.azure\\.com'`), describeRun(run));
      assert.match(run.stderr, /ERROR: .*Failed to establish a new connection: AZMI-NETWORK-GUARD: socket\.getaddrinfo to 'management\.azure\.com' refused/, describeRun(run));
      assert.equal(armCalls.length, 0);
    });
  });

  describe("dialects az 2.45 cannot use (it only knows MSI_ENDPOINT, else the hard-coded 169.254.169.254)", () => {
    const expectHardCodedImds = (run: ClientRun) => {
      assert.notEqual(run.status, 0, describeRun(run));
      // The guard refused the lookup/connection: az went for the hard-coded IMDS address, nothing left the machine.
      assert.match(run.stderr, new RegExp(`${GUARD_MARKER} blocked socket\\.(getaddrinfo|connect) to '169\\.254\\.169\\.254'`), describeRun(run));
      assert.match(run.stderr, /Failed to connect to MSI\. Please make sure MSI is configured correctly and check the network connection\./, describeRun(run));
    };
    it("limitation: IMDS override AZURE_POD_IDENTITY_AUTHORITY_HOST is ignored", async () => {
      expectHardCodedImds(await az(newConfigDir(), h.server.dialects.imds, "login", "--identity"));
    });
    it("limitation: App Service 2019 IDENTITY_ENDPOINT + IDENTITY_HEADER is ignored", async () => {
      expectHardCodedImds(await az(newConfigDir(), h.server.dialects.appService, "login", "--identity"));
    });
  });
});
