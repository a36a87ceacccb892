import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { DefaultAzureCredential, type DefaultAzureCredentialOptions } from "../../src/credentials/defaultAzureCredential";
import { LINK_NAMES } from "../../src/credentials/types";
import { ErrorCode } from "../../src/errors";
import { REASON_CHARS, reasonOf } from "../../src/credentials/unavailable";
import { registerSecret } from "../../src/log";
import { fakeAccessToken, startEntraFake, type EntraFake } from "../fakes/entra";
import { useCleanEnv } from "../support/env";
import { closedPort, fakeTool, startImdsFake, tempDir, useTempAzmiHome, type ImdsFake, useLoopbackGuard } from "./support";

const SCOPE = "https://management.azure.com/.default";
const SECRET = "dac-test-secret-value-0123456789";

describe("DefaultAzureCredential", function () {
  it("a link's one-line reason never quotes the start of a secret that the cut (REASON_CHARS) would split", () => {
    const secret = "opaque-client-secret-cut-at-the-edge-0123456789";
    registerSecret(secret);
    assert.equal(REASON_CHARS, 500);
    for (const at of [REASON_CHARS - 20, REASON_CHARS - 10, REASON_CHARS - 4, REASON_CHARS - 1]) {
      const reason = reasonOf(new Error(`${"x".repeat(at)}${secret} and more`));
      assert.ok(!reason.includes(secret.slice(0, 8)), `secret at ${at}: ${reason.slice(REASON_CHARS - 30)}`);
      assert.ok(reason.length <= REASON_CHARS);
    }
  });

  const cleanEnv = useCleanEnv();
  useLoopbackGuard();
  useTempAzmiHome();
  let entra: EntraFake;
  let imds: ImdsFake;
  let dir: string;
  let refusedUrl: string;
  /** A fresh AZMI_HOME per test: the cross-process probe memo lives there. */
  let home: string;
  const federated = fakeAccessToken({ sub: "system:serviceaccount:ns:app" });

  before(async () => {
    dir = tempDir();
    entra = await startEntraFake({ clients: { "env-app": { secret: SECRET }, "wi-app": { federatedToken: federated } } });
    refusedUrl = `http://127.0.0.1:${await closedPort()}`;
  });
  after(async () => {
    await entra.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    entra.requests.splice(0);
    home = tempDir("azmi-home-");
    imds = await startImdsFake();
  });
  afterEach(async () => {
    await imds.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** A DAC reading only `vars` (plus an empty PATH, so no developer tool is found). */
  function dac(vars: Record<string, string>, options: DefaultAzureCredentialOptions = {}): DefaultAzureCredential {
    return new DefaultAzureCredential({
      env: { PATH: dir, AZMI_HOME: home, AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url, ...vars },
      disableInstanceDiscovery: true,
      agent: entra.agent(),
      ...options,
    } as DefaultAzureCredentialOptions);
  }

  const outcomes = (c: DefaultAzureCredential) => c.lastReport!.links.map((l) => `${l.link}:${l.outcome}`);

  it("null options are no options, as @azure/identity takes them (every credential with an options object)", () => {
    const index = require("../../src/index") as Record<string, new (options: unknown) => object>;
    for (const name of ["DefaultAzureCredential", "EnvironmentCredential", "WorkloadIdentityCredential", "AzureCliCredential", "AzurePowerShellCredential", "AzureDeveloperCliCredential", "ManagedIdentityCredential"]) {
      assert.doesNotThrow(() => new index[name]!(null), name);
    }
  });

  it("an abortSignal that is not an AbortSignal is a TypeError before any link is asked, and nothing fails unhandled", async () => {
    // A plain object used to start the shared walk and throw inside it; the
    // walk's later failure went unhandled and ended the whole process.
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const { ManagedIdentityCredential } = require("../../src/credentials/managedIdentityCredential") as typeof import("../../src/credentials/managedIdentityCredential");
      const { EnvironmentCredential } = require("../../src/credentials/environmentCredential") as typeof import("../../src/credentials/environmentCredential");
      const envVars = { AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "env-app", AZURE_CLIENT_SECRET: SECRET, AZURE_AUTHORITY_HOST: entra.authorityHost };
      const credentials = [
        dac({}),
        new ManagedIdentityCredential({ env: { AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url } } as never),
        new EnvironmentCredential({ env: envVars, disableInstanceDiscovery: true, agent: entra.agent() } as never),
      ];
      for (const credential of credentials) {
        for (const signal of [{}, "abort", 5]) {
          await assert.rejects(credential.getToken(SCOPE, { abortSignal: signal } as never), {
            name: "TypeError",
            message: /^abortSignal must be an AbortSignal \(e\.g\. new AbortController\(\)\.signal\); got /,
          });
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(unhandled, []);
      assert.equal(imds.issued.length, 0, "no token was fetched");
      assert.equal(entra.requests.length, 0, "Entra ID was not asked");
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("walks the official order and reports why each link is unavailable", async () => {
    const credential = dac({ AZURE_POD_IDENTITY_AUTHORITY_HOST: refusedUrl });
    const { token, report, error } = await credential.getTokenWithReport(SCOPE);
    assert.equal(token, undefined);
    assert.equal((error as { code: string }).code, ErrorCode.AllCredentialsUnavailable);
    assert.match((error as Error).message, /^DefaultAzureCredential authentication failed: no credential in the chain could get a token\.\n  environment: unavailable/);
    assert.deepEqual(report.links.map((l) => l.link), [...LINK_NAMES]);
    assert.deepEqual(
      report.links.map((l) => l.credential),
      ["EnvironmentCredential", "WorkloadIdentityCredential", "ManagedIdentityCredential", "AzureCliCredential", "AzurePowerShellCredential", "AzureDeveloperCliCredential"],
    );
    assert.ok(report.links.every((l) => l.outcome === "unavailable"), JSON.stringify(report.links));
    const reasons = report.links.map((l) => l.reason);
    assert.equal(reasons[0], "AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET not set");
    assert.equal(reasons[1], "AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_FEDERATED_TOKEN_FILE not set");
    assert.match(reasons[2]!, /ECONNREFUSED|refused/i);
    assert.deepEqual(reasons.slice(3), ["az not found on PATH", "pwsh not found on PATH", "azd not found on PATH"]);
    assert.equal(report.winner, undefined);
    // Links unavailable by configuration are reported without an error object; the aggregate still carries each link's error.
    const errors = (error as { errors: Array<Error & { reason?: string }> }).errors;
    assert.deepEqual(errors.map((e) => e.name), Array(6).fill("CredentialUnavailableError"));
    assert.equal(errors[0]!.message.split(". ")[0], "EnvironmentCredential is unavailable: AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET not set");
    assert.deepEqual(errors.map((e) => reasonOf(e)), reasons);
    // A second walk reports the same and rebuilds nothing: the same error objects.
    const again = await credential.getTokenWithReport(SCOPE);
    assert.equal((again.error as { errors: unknown[] }).errors[0], errors[0]);
  });

  it("managed identity answers: winner, source in the reason, later links skipped; IMDS probed first", async () => {
    const credential = dac({});
    const token = await credential.getToken(SCOPE);
    assert.equal(token.token, imds.issued[0]);
    const r = credential.lastReport!;
    assert.equal(r.winner, "managed-identity");
    assert.deepEqual(outcomes(credential), [
      "environment:unavailable", "workload-identity:unavailable", "managed-identity:selected",
      "azure-cli:skipped", "azure-powershell:skipped", "azure-developer-cli:skipped",
    ]);
    assert.match(r.links[2]!.reason, /^IMDS at /);
    assert.equal(r.links[3]!.reason, "not tried: managed-identity answered first");
    // probe (no Metadata header) then the token request
    assert.equal(imds.requests.at(-1)!.headers.metadata, "true");
    assert.ok(imds.requests.some((q) => q.headers.metadata === undefined), "the chain probed IMDS");
  });

  it("AZURE_CLIENT_ID alone names the user-assigned managed identity, as in @azure/identity's chain; an option names it first", async () => {
    const clientIdOf = () => new URL(imds.requests.at(-1)!.url, "http://x").searchParams.get("client_id");
    await dac({ AZURE_CLIENT_ID: "aaaaaaaa-0000-0000-0000-000000000001" }).getToken("https://r1.example/.default");
    assert.equal(clientIdOf(), "aaaaaaaa-0000-0000-0000-000000000001");
    await dac({ AZURE_CLIENT_ID: "aaaaaaaa-0000-0000-0000-000000000001" }, { managedIdentityClientId: "bbbbbbbb-0000-0000-0000-000000000002" }).getToken("https://r2.example/.default");
    assert.equal(clientIdOf(), "bbbbbbbb-0000-0000-0000-000000000002");
    // A resource id option selects by resource id alone (no client_id beside it).
    await dac({ AZURE_CLIENT_ID: "aaaaaaaa-0000-0000-0000-000000000001" }, { managedIdentityResourceId: "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u" }).getToken("https://r3.example/.default");
    assert.equal(clientIdOf(), null);
  });

  for (const value of [" ManagedIdentityCredential ", "managedidentitycredential"]) {
    it(`AZURE_TOKEN_CREDENTIALS='${value}': only managed identity, without the IMDS probe (checklist 23, 64)`, async () => {
      const credential = dac({ AZURE_TOKEN_CREDENTIALS: value });
      await credential.getToken(SCOPE);
      assert.deepEqual(outcomes(credential), [
        "environment:skipped", "workload-identity:skipped", "managed-identity:selected",
        "azure-cli:skipped", "azure-powershell:skipped", "azure-developer-cli:skipped",
      ]);
      assert.equal(credential.lastReport!.links[0]!.reason, `excluded by AZURE_TOKEN_CREDENTIALS=${value.trim()}`);
      assert.ok(imds.requests.every((q) => q.headers.metadata === "true"), "no probe");
    });
  }

  it("AZURE_TOKEN_CREDENTIALS=prod limits the chain to environment, workload identity, managed identity (checklist 63)", async () => {
    const credential = dac({ AZURE_TOKEN_CREDENTIALS: "PROD", AZURE_POD_IDENTITY_AUTHORITY_HOST: refusedUrl });
    await credential.getTokenWithReport(SCOPE);
    const r = credential.lastReport!;
    assert.deepEqual(outcomes(credential).slice(3), ["azure-cli:skipped", "azure-powershell:skipped", "azure-developer-cli:skipped"]);
    assert.equal(r.links[3]!.reason, "excluded by AZURE_TOKEN_CREDENTIALS=PROD");
    assert.deepEqual(outcomes(credential).slice(0, 3), ["environment:unavailable", "workload-identity:unavailable", "managed-identity:unavailable"]);
  });

  it("AZURE_TOKEN_CREDENTIALS=dev limits the chain to the developer tools; IMDS never contacted", async () => {
    const credential = dac({ AZURE_TOKEN_CREDENTIALS: "dev" });
    await credential.getTokenWithReport(SCOPE);
    assert.deepEqual(outcomes(credential), [
      "environment:skipped", "workload-identity:skipped", "managed-identity:skipped",
      "azure-cli:unavailable", "azure-powershell:unavailable", "azure-developer-cli:unavailable",
    ]);
    assert.equal(imds.requests.length, 0);
  });

  for (const value of ["", "   "]) {
    it(`AZURE_TOKEN_CREDENTIALS=${JSON.stringify(value)} (set but blank) is the whole chain, as unset (checklist 64)`, async () => {
      const credential = dac({ AZURE_TOKEN_CREDENTIALS: value });
      await credential.getToken(SCOPE);
      assert.deepEqual(outcomes(credential), [
        "environment:unavailable", "workload-identity:unavailable", "managed-identity:selected",
        "azure-cli:skipped", "azure-powershell:skipped", "azure-developer-cli:skipped",
      ]);
      assert.equal(credential.lastReport!.links[3]!.reason, "not tried: managed-identity answered first");
    });
  }

  it("invalid AZURE_TOKEN_CREDENTIALS throws at construction with @azure/identity's wording (checklist 64)", () => {
    assert.throws(() => dac({ AZURE_TOKEN_CREDENTIALS: "bogus" }), (e: Error & { code: string }) => {
      assert.equal(e.code, ErrorCode.InvalidEnvironment);
      assert.equal(
        e.message,
        "Invalid value for AZURE_TOKEN_CREDENTIALS = bogus. Valid values are 'prod' or 'dev' or any of these credentials - EnvironmentCredential, WorkloadIdentityCredential, ManagedIdentityCredential, VisualStudioCodeCredential, AzureCliCredential, AzurePowerShellCredential, AzureDeveloperCliCredential. (@azure/identity's wording; azmi's chain has no VisualStudioCodeCredential.)",
      );
      return true;
    });
  });

  it("AZURE_TOKEN_CREDENTIALS=VisualStudioCodeCredential: clear error, azmi has no such link (the variable's fault, as an invalid value is: same code, same CLI exit)", () => {
    assert.throws(() => dac({ AZURE_TOKEN_CREDENTIALS: "VisualStudioCodeCredential" }), {
      code: ErrorCode.InvalidEnvironment,
      message:
        "DefaultAzureCredential has no credential to try: AZURE_TOKEN_CREDENTIALS=VisualStudioCodeCredential selects a credential azmi does not include. At least one credential type must be included in the authentication flow.",
    });
  });

  it("exclude and only", async () => {
    const excluded = dac({}, { exclude: ["managed-identity"] });
    await excluded.getTokenWithReport(SCOPE);
    assert.equal(excluded.lastReport!.links[2]!.outcome, "skipped");
    assert.equal(excluded.lastReport!.links[2]!.reason, "excluded by the exclude option");
    assert.equal(imds.requests.length, 0);

    const only = dac({ AZURE_TOKEN_CREDENTIALS: "dev" }, { only: "managed-identity" });
    await only.getToken(SCOPE);
    assert.equal(only.lastReport!.winner, "managed-identity");
    assert.equal(only.lastReport!.links[0]!.reason, "not selected (only managed-identity)");
    assert.ok(imds.requests.every((q) => q.headers.metadata === "true"), "only managed-identity ⇒ no probe");

    assert.throws(() => dac({}, { exclude: [...LINK_NAMES] }), (e: Error & { code: string }) => {
      assert.equal(e.code, ErrorCode.InvalidArgument);
      assert.match(e.message, /^DefaultAzureCredential has no credential to try: every link is excluded \(environment: excluded by the exclude option; /);
      return true;
    });
    assert.throws(() => dac({}, { only: "vscode" as never }), {
      name: "TypeError",
      message: `DefaultAzureCredential: only must be one of ${LINK_NAMES.join(", ")}; got 'vscode'.`,
    });
    assert.throws(() => dac({}, { exclude: ["azure-cli", "broker" as never] }), { name: "TypeError" });
  });

  it("stops at a configured environment credential that Entra refuses; IMDS never contacted (checklist 60)", async () => {
    const credential = dac({
      AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "env-app", AZURE_CLIENT_SECRET: "wrong-secret-value-123456", AZURE_AUTHORITY_HOST: entra.authorityHost,
    });
    const { error, report } = await credential.getTokenWithReport(SCOPE);
    assert.equal((error as Error).name, "AuthenticationError");
    assert.equal((error as { statusCode: number }).statusCode, 400);
    assert.deepEqual(report.links.map((l) => l.outcome), ["failed", "skipped", "skipped", "skipped", "skipped", "skipped"]);
    assert.equal(report.links[1]!.reason, "not tried: chain stopped at environment");
    assert.equal(imds.requests.length, 0);
    assert.ok(!JSON.stringify(report).includes("wrong-secret-value-123456"));
  });

  it("environment credential answers first when configured", async () => {
    const credential = dac({ AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "env-app", AZURE_CLIENT_SECRET: SECRET, AZURE_AUTHORITY_HOST: entra.authorityHost });
    const token = await credential.getToken(SCOPE);
    assert.equal(token.token, entra.issued.at(-1));
    assert.equal(credential.lastReport!.winner, "environment");
    assert.match(credential.lastReport!.links[0]!.reason, /^client secret for app env-app in tenant /);
    assert.equal(imds.requests.length, 0);
  });

  it("reads the environment link's variables at construction, as @azure/identity: a secret cleared afterwards still counts, and is redacted at once", () => {
    const secret = `dac-ctor-secret-${process.hrtime.bigint()}`;
    const env: NodeJS.ProcessEnv = {
      PATH: dir, AZMI_HOME: home, AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url,
      AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "env-app", AZURE_CLIENT_SECRET: secret, AZURE_AUTHORITY_HOST: entra.authorityHost,
    };
    const credential = new DefaultAzureCredential({ env, disableInstanceDiscovery: true, agent: entra.agent() } as DefaultAzureCredentialOptions);
    const { redact } = require("../../src/log") as typeof import("../../src/log");
    assert.equal(redact(`proxy said: ${secret}`), "proxy said: [REDACTED]", "registered at construction, before any walk");
    delete env.AZURE_CLIENT_SECRET; // e.g. cleared so that child processes do not inherit it
    assert.match(credential.describe().split("\n")[0]!, /^environment: client secret for app env-app in tenant /);
  });

  it("takes the developer tools' options at construction, though it builds those links only when a walk reaches them", () => {
    const options = { env: { PATH: dir, AZMI_HOME: home }, tenantId: "contoso", only: "azure-cli" } as DefaultAzureCredentialOptions;
    const credential = new DefaultAzureCredential(options); // not dac(): that copies the options
    options.tenantId = "not a tenant!"; // a later edit of the caller's object is not this credential's business
    const line = credential.describe().split("\n")[3]!;
    assert.match(line, /^azure-cli: /);
    assert.doesNotMatch(line, /tenant/i, line);
  });

  it("workload identity refused ⇒ moves on to managed identity (checklist 61); the winner memo then skips it", async () => {
    const file = path.join(dir, "bad-federated-token");
    fs.writeFileSync(file, fakeAccessToken({ sub: "not-the-federated-subject" }));
    const credential = dac(
      { AZURE_TENANT_ID: entra.tenant, AZURE_FEDERATED_TOKEN_FILE: file, AZURE_AUTHORITY_HOST: entra.authorityHost },
      { workloadIdentityClientId: "wi-app" },
    );
    const token = await credential.getToken(SCOPE);
    assert.equal(token.token, imds.issued.at(-1));
    assert.deepEqual(outcomes(credential).slice(0, 3), ["environment:unavailable", "workload-identity:unavailable", "managed-identity:selected"]);
    assert.match(credential.lastReport!.links[1]!.reason, /^Entra ID did not issue a token \(invalid_client: /);
    const entraCalls = entra.tokenRequests().length;
    const imdsCalls = imds.requests.length;
    assert.equal(entraCalls, 1);

    // second call, cache bypassed: only the remembered winner is asked
    const again = await credential.getToken(SCOPE, { forceRefresh: true } as never);
    assert.ok(again.token);
    assert.equal(entra.tokenRequests().length, entraCalls, "workload identity not asked again");
    assert.equal(credential.lastReport!.fromMemo, true);
    assert.equal(credential.lastReport!.links[1]!.reason, "not tried: remembered winner managed-identity answered");
    assert.ok(imds.requests.length >= imdsCalls);

    // third call: cached, nothing asked at all
    const before = [entra.requests.length, imds.requests.length];
    await credential.getToken(SCOPE);
    assert.deepEqual([entra.requests.length, imds.requests.length], before);
    assert.equal(credential.lastReport!.fromCache, true);
  });

  it(".NET-style exclude flags act like exclude", async () => {
    const credential = dac({}, { excludeManagedIdentityCredential: true, excludeAzureCliCredential: true });
    await credential.getTokenWithReport(SCOPE);
    assert.deepEqual(outcomes(credential), [
      "environment:unavailable", "workload-identity:unavailable", "managed-identity:skipped",
      "azure-cli:skipped", "azure-powershell:unavailable", "azure-developer-cli:unavailable",
    ]);
    assert.equal(imds.requests.length, 0);
  });

  it("an egress filter answering 403 JSON at the IMDS address is not IMDS: managed identity is unavailable and the chain moves on to az (before, the 403 stopped the chain)", async () => {
    // Such filters (a sandbox's, a corporate proxy's) answer every request
    // to 169.254.169.254 alike, the probe included; IMDS itself answers the
    // probe (no Metadata header) with 400.
    const body = JSON.stringify({ error: "resolve_deny", error_description: "destination denied by policy" });
    const filter = net.createServer((socket) => {
      socket.once("data", () => socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`));
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => filter.listen(0, "127.0.0.1", resolve));
    const bin = tempDir();
    try {
      const now = Math.floor(Date.now() / 1000);
      const access = fakeAccessToken({ aud: "https://management.azure.com", exp: now + 3600 });
      fakeTool(bin, "az", JSON.stringify({ accessToken: access, expires_on: now + 3600, tokenType: "Bearer", tenant: "contoso" }));
      cleanEnv.set({ PATH: bin }); // @azure/identity runs `az` with process.env
      const credential = dac({ PATH: bin, AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://127.0.0.1:${(filter.address() as net.AddressInfo).port}` });
      const token = await credential.getToken(SCOPE);
      assert.equal(token.token, access);
      assert.deepEqual(outcomes(credential), [
        "environment:unavailable", "workload-identity:unavailable", "managed-identity:unavailable",
        "azure-cli:selected", "azure-powershell:skipped", "azure-developer-cli:skipped",
      ]);
      assert.match(credential.lastReport!.links[2]!.reason, /answered 403 with .*resolve_deny.*, which is not IMDS/);
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
      await new Promise((resolve) => filter.close(resolve));
    }
  });

  it("AZURE_TOKEN_CREDENTIALS=AzureCliCredential: the Azure CLI alone answers; tenantId reaches it as --tenant", async () => {
    const bin = tempDir();
    try {
      const now = Math.floor(Date.now() / 1000);
      const log = path.join(bin, "az.log");
      const access = fakeAccessToken({ aud: "https://management.azure.com", exp: now + 3600 });
      fakeTool(bin, "az", JSON.stringify({ accessToken: access, expires_on: now + 3600, tokenType: "Bearer", tenant: "contoso" }), { log });
      cleanEnv.set({ PATH: bin }); // @azure/identity runs `az` with process.env
      const credential = dac({ PATH: bin, AZURE_TOKEN_CREDENTIALS: "AzureCliCredential" }, { tenantId: "contoso" });
      const token = await credential.getToken(SCOPE);
      assert.equal(token.token, access);
      assert.deepEqual(outcomes(credential), [
        "environment:skipped", "workload-identity:skipped", "managed-identity:skipped",
        "azure-cli:selected", "azure-powershell:skipped", "azure-developer-cli:skipped",
      ]);
      assert.equal(credential.lastReport!.links[3]!.reason, path.join(bin, "az"));
      assert.match(fs.readFileSync(log, "utf8"), /get-access-token --output json --resource https:\/\/management\.azure\.com --tenant contoso/);
      assert.equal(imds.requests.length, 0);
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });

  it("requiredEnvVars: @azure/identity's messages", () => {
    assert.throws(() => dac({}, { requiredEnvVars: "AZURE_CLIENT_ID" }), {
      code: ErrorCode.InvalidEnvironment,
      message: "Required environment variable 'AZURE_CLIENT_ID' for DefaultAzureCredential is not set or empty.",
    });
    assert.throws(() => dac({ AZURE_CLIENT_ID: "x" }, { requiredEnvVars: ["AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"] }), {
      message: "Required environment variables 'AZURE_TENANT_ID, AZURE_CLIENT_SECRET' for DefaultAzureCredential are not set or empty.",
    });
    assert.doesNotThrow(() => dac({ AZURE_CLIENT_ID: "x" }, { requiredEnvVars: ["AZURE_CLIENT_ID"] }));
  });

  it("managed identity selectors are mutually exclusive; budgets must be positive", () => {
    assert.throws(() => dac({}, { managedIdentityClientId: "a", managedIdentityResourceId: "/subscriptions/x" }), {
      code: ErrorCode.InvalidArgument,
      message:
        "DefaultAzureCredential: only one of managedIdentityClientId, managedIdentityResourceId or managedIdentityObjectId can be given (got managedIdentityClientId and managedIdentityResourceId); pass the one that identifies your user-assigned identity.",
    });
    assert.throws(() => dac({}, { probeBudgetMs: 0 }), {
      name: "RangeError",
      message: "DefaultAzureCredential: probeBudgetMs must be a positive number of milliseconds; got 0.",
    });
    // A string is named as one: "got 5" read as if 5 had been refused.
    assert.throws(() => dac({}, { probeBudgetMs: "5" as never }), {
      name: "RangeError",
      message: 'DefaultAzureCredential: probeBudgetMs must be a positive number of milliseconds; got the string "5".',
    });
  });

  it("a user-assigned identity selected by client id reaches IMDS as client_id", async () => {
    const credential = dac({}, { managedIdentityClientId: "22222222-0000-0000-0000-000000000000", exclude: ["workload-identity"] });
    const token = await credential.getToken(SCOPE);
    assert.equal(token.clientId, "22222222-0000-0000-0000-000000000000");
    assert.match(imds.requests.at(-1)!.url, /client_id=22222222-0000-0000-0000-000000000000/);
  });

  it("a malformed environment makes its link unavailable, not the chain (as @azure/identity's DAC)", async () => {
    const credential = dac({ AZURE_TENANT_ID: "bad tenant!", AZURE_CLIENT_ID: "a", AZURE_CLIENT_SECRET: SECRET });
    await credential.getToken(SCOPE);
    assert.equal(credential.lastReport!.links[0]!.outcome, "unavailable");
    assert.match(credential.lastReport!.links[0]!.reason, /^Invalid tenant id provided in AZURE_TENANT_ID\./);
    assert.equal(credential.lastReport!.winner, "managed-identity");
  });
});
